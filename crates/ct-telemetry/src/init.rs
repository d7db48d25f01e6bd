//! The process-wide subscriber: logs to stderr, spans to the collector when one is configured.
//!
//! Logs go to stderr so that stdout stays free for what a command prints for scripts (`--json`).
//! Their level comes from `RUST_LOG`, else the configuration's `log_level` (`LOG_LEVEL`, default
//! `info`); `LOG_FORMAT=json` switches to one JSON object per line. Spans are filtered on their
//! own: the log level never hides a span from the trace, and only claude-temporal's own spans (and
//! warnings inside them) are exported, not those of the libraries underneath.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Metadata;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::{Layer as _, fmt, prelude::*};

use crate::export::ExportTarget;

/// How long shutting down may wait for the last spans to reach the collector.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps the exporter alive; dropping it sends the spans still batched (on every way out of
/// `main`, a signal's included) and stops the exporter.
#[must_use = "dropping the guard at once stops exporting spans"]
pub struct Telemetry {
    pub(crate) provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans go anywhere.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let Some(provider) = self.provider.take() else { return };
        // The gRPC exporter runs on this process's runtime: block this thread only in a way
        // that leaves the runtime free to carry the last batch out.
        let shutdown = move || provider.shutdown_with_timeout(FLUSH_TIMEOUT);
        let result = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(shutdown)
            }
            Ok(_) => std::thread::spawn(shutdown).join().unwrap_or(Ok(())),
            Err(_) => shutdown(),
        };
        if let Err(err) = result {
            eprintln!("some spans were not exported: {err}");
        }
    }
}

/// Installs the global subscriber for `service` at the level `LOG_LEVEL` gives (default `info`).
pub fn init(service: &'static str) -> Telemetry {
    init_at(service, &std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".to_owned()))
}

/// Installs the global subscriber for `service` at `level` (the configuration's `log_level`);
/// `RUST_LOG` wins when set. Spans are exported when an OTLP endpoint is configured; a setting
/// this build cannot honour is said once, as an error, and the process runs without exporting.
pub fn init_at(service: &'static str, level: &str) -> Telemetry {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|err| {
        eprintln!("{service}: ignoring invalid log filter {filter:?} ({err}); using info");
        EnvFilter::new("info")
    });
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = if json {
        fmt::layer().json().with_writer(std::io::stderr).with_filter(filter).boxed()
    } else {
        fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(filter).boxed()
    };
    let exporting = ExportTarget::from_env().and_then(|target| match target {
        Some(target) => Ok(Some((target.provider(service)?, target))),
        None => Ok(None),
    });
    let provider = exporting.as_ref().ok().and_then(|found| found.as_ref().map(|(provider, _)| provider.clone()));
    let telemetry = install(service, logs, provider);
    match &exporting {
        Err(err) => tracing::error!("spans are not exported: {err}"),
        Ok(Some((_, target))) => tracing::info!(endpoint = %target.endpoint, "exporting spans over OTLP/gRPC"),
        Ok(None) => tracing::debug!("no OTLP endpoint set (OTEL_EXPORTER_OTLP_ENDPOINT): spans are not exported"),
    }
    telemetry
}

/// Installs the global subscriber: `logs`, and spans to `provider` when there is one (then also
/// the global tracer provider and W3C propagator the Temporal plugin uses). Once per process:
/// a later call installs nothing and exports nothing.
pub(crate) fn install(
    service: &'static str,
    logs: Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>,
    provider: Option<SdkTracerProvider>,
) -> Telemetry {
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service))
            .with_threads(false)
            .with_filter(FilterFn::new(exported))
    });
    if tracing_subscriber::registry().with(logs).with(spans).try_init().is_err() {
        return Telemetry { provider: None };
    }
    if let Some(provider) = &provider {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    Telemetry { provider }
}

/// claude-temporal's own spans, and the warnings and errors logged inside them.
fn exported(metadata: &Metadata<'_>) -> bool {
    let ours = ["ct_", "claude_temporal"].iter().any(|prefix| metadata.target().starts_with(prefix));
    ours && (metadata.is_span() || *metadata.level() <= tracing::Level::WARN)
}
