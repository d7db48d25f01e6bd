//! The metrics sink: a durable consumer of claude-temporal events that
//! appends one JSONL line per finished stage (`stage.completed` and
//! `stage.failed`) to the metrics file and serves Prometheus `/metrics`.
//!
//! A line is on disk (synced) before its event is acked, and each line
//! carries its event id, so a crash or a redelivery neither loses nor
//! doubles a line. Messages that are not events are logged, counted and
//! terminated, never fatal.
//! The line format and its summary live in `ct-metrics`, which the CLI reads too.

mod error;
mod journal;
mod prom;
mod sink;

use std::path::PathBuf;
use std::sync::Arc;

use ct_events::{ConsumerSettings, EventConsumer, StreamSettings};
use tokio_util::sync::CancellationToken;

pub use ct_metrics::MetricsLine;
pub use error::Error;

/// Durable consumer name unless configured otherwise.
pub const DEFAULT_CONSUMER: &str = "ct-metrics-sink";

#[derive(Debug, Clone)]
pub struct Config {
    pub nats_url: String,
    /// Who to log in to NATS as (compose: a user that may only read the events).
    pub nats_login: Option<ct_events::NatsLogin>,
    pub metrics_file: PathBuf,
    pub consumer: ConsumerSettings,
    /// Messages written with one sync at most.
    pub batch_size: usize,
}

impl Config {
    pub fn new(nats_url: impl Into<String>, metrics_file: impl Into<PathBuf>) -> Self {
        Self {
            nats_url: nats_url.into(),
            nats_login: None,
            metrics_file: metrics_file.into(),
            consumer: ConsumerSettings::new(StreamSettings::default(), DEFAULT_CONSUMER),
            batch_size: 512,
        }
    }
}

/// Serves `/metrics` on `listener` and consumes events until `shutdown`.
/// NATS may be down at start or go away meanwhile: consuming waits for it.
pub async fn run(listener: tokio::net::TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let metrics = Arc::new(prom::Metrics::new()?);
    let journal = journal::Journal::open(&config.metrics_file).await?;
    let client = ct_events::connect(&config.nats_url, config.nats_login.as_ref(), "ct-metrics-sink").await?;
    let mut consumer = EventConsumer::new(client, config.consumer);

    let consuming = async {
        let result = sink::consume(&mut consumer, journal, &metrics, config.batch_size.max(1), &shutdown).await;
        // A sink that cannot write must not keep answering as if healthy.
        shutdown.cancel();
        result
    };
    let (consumed, served) = tokio::join!(consuming, async {
        ct_service::serve_metrics(listener, metrics.clone(), shutdown.clone()).await.map_err(Error::Serve)
    });
    consumer.close().await;
    consumed.and(served)
}
