//! Delivery counters per backend, served as Prometheus `/metrics`, so a
//! failing Slack or webhook receiver shows up on a dashboard, not only in logs.

use std::sync::Arc;

use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};
use tokio_util::sync::CancellationToken;

pub(crate) struct DeliveryMetrics {
    registry: Registry,
    deliveries: IntCounterVec,
    failures: IntCounterVec,
}

impl DeliveryMetrics {
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let counter =
                IntCounterVec::new(Opts::new(name, help), &["backend"]).expect("static metric definitions are valid");
            registry.register(Box::new(counter.clone())).expect("each metric is registered once");
            counter
        };
        let deliveries = counter("ct_notifier_deliveries_total", "Events a backend accepted");
        let failures = counter("ct_notifier_failures_total", "Events given up on after the last retry (dead-lettered)");
        Self { registry, deliveries, failures }
    }

    pub(crate) fn delivered(&self, backend: &str) {
        self.deliveries.with_label_values(&[backend]).inc();
    }

    pub(crate) fn failed(&self, backend: &str) {
        self.failures.with_label_values(&[backend]).inc();
    }

    fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut body = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut body)?;
        Ok(body)
    }
}

impl ct_service::MetricsRender for DeliveryMetrics {
    fn render(&self) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(DeliveryMetrics::render(self)?)
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    metrics: Arc<DeliveryMetrics>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
    ct_service::serve_metrics(listener, metrics, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_backend_appear_in_the_text_format() {
        let metrics = DeliveryMetrics::new();
        metrics.delivered("slack");
        metrics.delivered("slack");
        metrics.failed("webhook");
        let text = String::from_utf8(metrics.render().unwrap()).unwrap();
        assert!(text.contains("ct_notifier_deliveries_total{backend=\"slack\"} 2"), "{text}");
        assert!(text.contains("ct_notifier_failures_total{backend=\"webhook\"} 1"), "{text}");
    }
}
