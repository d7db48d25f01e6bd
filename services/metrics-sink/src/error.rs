use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("metrics file {path}: {source} (check that its directory is writable and the disk has room)")]
    MetricsFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not set up the Prometheus metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("the /metrics server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Nats(#[from] ct_events::Error),
}
