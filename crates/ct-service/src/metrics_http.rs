//! `GET /metrics` in the Prometheus text format and `GET /healthz`, for every service that
//! exports metrics.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

/// The Prometheus text exposition format, version 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4";

/// What `/metrics` serves: the service's metrics, rendered at each scrape.
pub trait MetricsRender: Send + Sync + 'static {
    fn render(&self) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` is cancelled.
pub async fn serve_metrics<M: MetricsRender>(
    listener: tokio::net::TcpListener,
    metrics: Arc<M>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_text::<M>))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(metrics);
    axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

async fn metrics_text<M: MetricsRender>(State(metrics): State<Arc<M>>) -> Response {
    match metrics.render() {
        Ok(body) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response(),
        Err(err) => {
            tracing::error!(%err, "could not render the metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
        }
    }
}
