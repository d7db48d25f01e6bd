//! For tests: an OTLP/gRPC collector that keeps every span it is sent, so a test can check what
//! a process (or a whole stack) really exported, and an in-memory recorder of this process's spans.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::Layer as _;

/// One exported span, flattened for assertions.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The `service.name` of the process that sent it.
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// Attribute values rendered as text (numbers in decimal).
    pub attributes: BTreeMap<String, String>,
    /// The attributes of the process that sent it (`service.name` among them).
    pub resource: BTreeMap<String, String>,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// A collector listening on a free loopback port until dropped.
pub struct OtlpReceiver {
    endpoint: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    stop: CancellationToken,
}

impl OtlpReceiver {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let spans = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let service = TraceServiceServer::new(Collector { spans: spans.clone() });
        let serving = tonic::transport::Server::builder().add_service(service).serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            stop.clone().cancelled_owned(),
        );
        tokio::spawn(async move {
            if let Err(err) = serving.await {
                eprintln!("the test OTLP receiver stopped: {err}");
            }
        });
        Ok(Self { endpoint, spans, stop })
    }

    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` should say.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Waits until `done` holds for the spans received so far, or `timeout` passes; returns the
    /// spans either way, for the caller's assertion to show.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) || Instant::now() >= deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans.resource.map(|resource| attributes(&resource.attributes)).unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                received.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                    resource: resource.clone(),
                });
            }
        }
        self.spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn attributes(pairs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> BTreeMap<String, String> {
    pairs.iter().map(|pair| (pair.key.clone(), pair.value.as_ref().map(render).unwrap_or_default())).collect()
}

fn render(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Spans this process records, through the same provider the services build (replay-safe ids,
/// replayed workflow spans dropped), kept in memory instead of exported.
pub struct SpanRecorder {
    telemetry: crate::Telemetry,
    spans: Arc<Mutex<Vec<String>>>,
}

impl SpanRecorder {
    /// Installs the process's subscriber with the recorder (once per process, like `init`).
    pub fn install(service: &'static str) -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let provider = crate::export::provider(Recorded { spans: spans.clone() }, service);
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::new("warn"));
        let telemetry = crate::init::install(service, Box::new(logs), Some(provider));
        assert!(telemetry.exporting(), "a subscriber was installed before the recorder");
        Self { telemetry, spans }
    }

    /// The names of the spans ended so far, once every batched one is through.
    pub fn names(&self) -> Vec<String> {
        if let Some(provider) = &self.telemetry.provider
            && let Err(err) = provider.force_flush()
        {
            eprintln!("cannot flush recorded spans: {err}");
        }
        self.spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[derive(Debug)]
struct Recorded {
    spans: Arc<Mutex<Vec<String>>>,
}

impl opentelemetry_sdk::trace::SpanExporter for Recorded {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        let names = batch.into_iter().map(|span| span.name.into_owned());
        self.spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(names);
        Ok(())
    }
}
