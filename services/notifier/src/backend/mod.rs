//! Where notifications go. Each backend delivers one event once; retries,
//! dead letters and dedup are the dispatcher's.

mod console;
mod http;
mod slack;
mod webhook;

use std::time::Duration;

use ct_events::CloudEvent;

pub(crate) use console::Console;
pub(crate) use http::HttpClient;
pub(crate) use slack::Slack;
pub(crate) use webhook::Webhook;

pub(crate) enum Backend {
    Console(Console),
    Slack(Slack),
    Webhook(Webhook),
}

/// Why one attempt failed. The text never holds a webhook URL or secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum DeliveryError {
    /// Worth trying again: a timeout, a refused connection, a 5xx, a 429.
    #[error("{reason}")]
    Retryable {
        reason: String,
        /// What the receiver asked for (Retry-After).
        retry_after: Option<Duration>,
    },
    /// Trying again would get the same answer (a 4xx other than 408/429).
    #[error("{reason}")]
    Permanent { reason: String },
}

impl Backend {
    /// The name in NOTIFICATION_TYPE, logs and dead-letter subjects.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::Console(_) => "console",
            Backend::Slack(_) => "slack",
            Backend::Webhook(_) => "webhook",
        }
    }

    /// `body` is the event exactly as it came off the stream.
    pub(crate) async fn deliver(&self, event: &CloudEvent, body: &[u8]) -> Result<(), DeliveryError> {
        match self {
            Backend::Console(console) => console.deliver(event),
            Backend::Slack(slack) => slack.deliver(event).await,
            Backend::Webhook(webhook) => webhook.deliver(event, body).await,
        }
    }
}
