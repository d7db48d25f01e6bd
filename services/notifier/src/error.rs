#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not set up the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    #[error(transparent)]
    Nats(#[from] ct_events::Error),
}
