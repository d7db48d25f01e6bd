/// Failures talking to NATS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Outbox(#[from] crate::outbox::OutboxError),
    #[error("cannot log in to NATS: {problem}")]
    Login { problem: String },
    #[error("invalid NATS address {url:?}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("could not create or update the JetStream stream {stream}: {source}")]
    Stream {
        stream: String,
        #[source]
        source: async_nats::jetstream::context::CreateStreamError,
    },
    #[error("could not create the durable consumer {consumer} on stream {stream}: {source}")]
    Consumer {
        stream: String,
        consumer: String,
        #[source]
        source: async_nats::jetstream::stream::ConsumerError,
    },
    #[error("could not start pulling from the consumer {consumer}: {source}")]
    Pull {
        consumer: String,
        #[source]
        source: async_nats::jetstream::consumer::StreamError,
    },
    #[error("cannot watch the events of stream {stream}: {source}")]
    Watch {
        stream: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the publishing task stopped; events queued since are lost")]
    PublisherStopped,
    #[error("{pending} event(s) still unpublished after waiting {waited:?} (is NATS reachable?)")]
    FlushTimeout { pending: u64, waited: std::time::Duration },
}

/// A setting read from the environment that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{var}={value:?} is not a valid non-negative number")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
}
