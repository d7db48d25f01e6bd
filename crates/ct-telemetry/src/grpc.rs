//! Trace context over gRPC: the caller's span travels in the request metadata, and the server's
//! span for the call is its child. Spans carry the `rpc.*` attributes of the conventions.

use opentelemetry::propagation::{Extractor, Injector};
use tonic::codegen::http;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::propagate;

/// A client span for calling `method` of `service` (e.g. `ct.control.Control`, `Describe`).
/// Enter it (or instrument the call with it) and then [`inject_current`] into the request.
pub fn client_span(service: &str, method: &str) -> tracing::Span {
    tracing::info_span!(
        "rpc.call",
        otel.name = %format!("{service}/{method}"),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
    )
}

/// Records how the call ended on its client span.
pub fn record_status(span: &tracing::Span, code: tonic::Code) {
    span.record("rpc.grpc.status_code", code as i32);
    if code != tonic::Code::Ok {
        span.record("otel.status_code", "ERROR");
    }
}

/// Puts the current span's context into a request's metadata.
pub fn inject_current(metadata: &mut MetadataMap) {
    propagate::inject(&opentelemetry::Context::current(), &mut MetadataInjector(metadata));
}

/// The server's span for one call, a child of the caller's span when the request names one:
/// what `tonic::transport::Server::builder().trace_fn(..)` wants.
pub fn server_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path().trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "rpc.serve",
        otel.name = %path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    );
    let _ = span.set_parent(propagate::extract(&HeaderExtractor(request.headers())));
    span
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(value)) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}
