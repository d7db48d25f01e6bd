//! Where spans go: the OTLP exporter, configured only by the standard `OTEL_*` variables.
//!
//! Exporting is on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set, and off when neither is, or when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
//! The exporter itself reads the endpoint, headers, timeout and compression; the SDK reads the
//! sampler (`OTEL_TRACES_SAMPLER[_ARG]`), the batch settings (`OTEL_BSP_*`) and the resource
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).

use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};

/// The variables that name the collector, most specific first.
pub const ENDPOINT_VARS: [&str; 2] = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"];
const SAMPLERS: &str =
    "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio";
const PROTOCOL_VARS: [&str; 2] = ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"];

/// Why spans cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{var}={value:?} is not supported: this build exports OTLP over gRPC only; unset it or set \
         it to `grpc`, and point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's gRPC port (4317)"
    )]
    Protocol { var: &'static str, value: String },
    #[error("OTEL_TRACES_EXPORTER={0:?} is not supported: use `otlp`, or `none` to export nothing")]
    Exporter(String),
    #[error(
        "{var}={value:?} is not an http:// URL of an OTLP/gRPC collector (e.g. http://127.0.0.1:4317); \
         this build has no TLS for OTLP"
    )]
    Endpoint { var: &'static str, value: String },
    #[error("OTEL_TRACES_SAMPLER={0:?} is not a sampler: use one of {SAMPLERS}")]
    Sampler(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Build(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The collector spans go to, from the environment; `None` when exporting is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportTarget {
    pub endpoint: String,
}

impl ExportTarget {
    pub fn from_env() -> Result<Option<Self>, ExportError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|value| !value.trim().is_empty()))
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ExportError> {
        if lookup("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        match lookup("OTEL_TRACES_EXPORTER").map(|value| value.trim().to_ascii_lowercase()) {
            Some(exporter) if exporter == "none" => return Ok(None),
            Some(exporter) if exporter != "otlp" => return Err(ExportError::Exporter(exporter)),
            _ => {}
        }
        let Some((var, endpoint)) = ENDPOINT_VARS.iter().find_map(|var| lookup(var).map(|value| (*var, value))) else {
            return Ok(None);
        };
        if let Some((var, protocol)) = PROTOCOL_VARS.iter().find_map(|var| lookup(var).map(|value| (*var, value)))
            && !protocol.trim().eq_ignore_ascii_case("grpc")
        {
            return Err(ExportError::Protocol { var, value: protocol });
        }
        // The SDK falls back to its default on a sampler it does not know, silently.
        if let Some(sampler) = lookup("OTEL_TRACES_SAMPLER")
            && !SAMPLERS.split(", ").any(|known| known == sampler.trim())
        {
            return Err(ExportError::Sampler(sampler));
        }
        let endpoint = endpoint.trim().to_owned();
        let rest = endpoint.strip_prefix("http://").filter(|rest| !rest.is_empty());
        if rest.is_none() {
            return Err(ExportError::Endpoint { var, value: endpoint });
        }
        Ok(Some(Self { endpoint }))
    }

    /// A tracer provider that batches spans to the collector.
    pub(crate) fn provider(&self, service: &str) -> Result<SdkTracerProvider, ExportError> {
        let exporter = SpanExporter::builder().with_tonic().with_endpoint(self.endpoint.clone()).build()?;
        Ok(provider(exporter, service))
    }
}

/// A tracer provider that batches spans to `exporter`. With the `workflows` feature, workflow
/// spans get replay-safe ids and a replayed workflow's spans are dropped (what the Temporal SDK's
/// plugin asks for); outside a workflow both behave like the SDK defaults.
pub(crate) fn provider(
    exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
    service: &str,
) -> SdkTracerProvider {
    let processor = BatchSpanProcessor::builder(exporter).build();
    let mut resource = Resource::builder();
    // The standard variable wins; without it each process says which service it is.
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.to_owned());
    }
    let builder = SdkTracerProvider::builder().with_resource(resource.build());
    #[cfg(feature = "workflows")]
    let builder = builder
        .with_id_generator(temporalio_sdk::opentelemetry::WorkflowIdGenerator::default())
        .with_span_processor(temporalio_sdk::opentelemetry::WorkflowSpanProcessor::new(processor));
    #[cfg(not(feature = "workflows"))]
    let builder = builder.with_span_processor(processor);
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(vars: &[(&str, &str)]) -> Result<Option<ExportTarget>, ExportError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        ExportTarget::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert_eq!(target(&[]).unwrap(), None);
        assert_eq!(target(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap(), None);
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        assert_eq!(target(&[endpoint, ("OTEL_SDK_DISABLED", "true")]).unwrap(), None);
        assert_eq!(target(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]).unwrap(), None);
    }

    #[test]
    fn the_traces_endpoint_wins_over_the_generic_one() {
        let found = target(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
        ]);
        assert_eq!(found.unwrap().unwrap().endpoint, "http://traces:4317");
    }

    #[test]
    fn what_this_build_cannot_do_is_refused_with_the_way_out() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        let err = target(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap_err();
        assert!(err.to_string().contains("gRPC only"), "{err}");
        let err = target(&[endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert!(err.to_string().contains("otlp"), "{err}");
        let err = target(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317")]).unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
        let err = target(&[endpoint, ("OTEL_TRACES_SAMPLER", "always-on")]).unwrap_err();
        assert!(err.to_string().contains("parentbased_traceidratio"), "{err}");
        let err = target(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:4317")]).unwrap_err();
        assert!(matches!(err, ExportError::Endpoint { .. }), "{err}");
    }
}
