//! Events a backend never accepted, kept in their own stream for a person
//! (or a replay tool) to look at.
//!
//! Subject: `ct.deadletter.<backend>.<workflow token>.<type>`, e.g.
//! `ct.deadletter.webhook.develop-demo.stage.completed`, in the stream
//! `CT_DEADLETTER` (file storage, 30 days). The body is the event exactly as
//! published; headers say why: `Ct-Backend`, `Ct-Attempts`, `Ct-Error`,
//! plus the original `traceparent`/`tracestate`. `Nats-Msg-Id` is
//! `<backend>:<event id>`, so dead-lettering the same event twice keeps one.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use ct_events::{CloudEvent, subject};

pub const DEADLETTER_STREAM: &str = "CT_DEADLETTER";
pub const DEADLETTER_PREFIX: &str = "ct.deadletter";

#[derive(Debug, thiserror::Error)]
pub(crate) enum DeadLetterError {
    #[error("could not create the dead-letter stream {DEADLETTER_STREAM}: {0}")]
    Stream(#[from] jetstream::context::CreateStreamError),
    #[error("could not publish the dead letter: {0}")]
    Publish(#[from] jetstream::context::PublishError),
}

pub(crate) struct DeadLetters {
    jetstream: jetstream::Context,
}

pub(crate) struct DeadLetter<'a> {
    pub(crate) backend: &'static str,
    pub(crate) event: &'a CloudEvent,
    pub(crate) body: &'a [u8],
    pub(crate) attempts: u32,
    pub(crate) reason: &'a str,
}

impl DeadLetters {
    pub(crate) fn new(jetstream: jetstream::Context) -> Self {
        Self { jetstream }
    }

    /// Returns the subject it was stored under.
    pub(crate) async fn publish(&self, letter: DeadLetter<'_>) -> Result<String, DeadLetterError> {
        let subject = format!(
            "{DEADLETTER_PREFIX}.{}.{}.{}",
            letter.backend,
            subject::workflow_token(letter.event.workflow_id()),
            letter.event.event_type()
        );
        let mut headers = HeaderMap::new();
        headers.insert("Ct-Backend", letter.backend);
        headers.insert("Ct-Attempts", letter.attempts.to_string());
        // Header values are one line.
        headers.insert("Ct-Error", letter.reason.replace(['\r', '\n'], " "));
        // Called inside the event's span: the dead letter stays in the event's trace.
        ct_events::trace::inject(&opentelemetry::Context::current(), &mut headers);
        let message_id = format!("{}:{}", letter.backend, letter.event.id);
        match self.store(&subject, &message_id, &headers, letter.body).await {
            Err(DeadLetterError::Publish(err)) if err.kind() == PublishErrorKind::StreamNotFound => {
                self.ensure_stream().await?;
                self.store(&subject, &message_id, &headers, letter.body).await?;
            }
            other => other?,
        }
        Ok(subject)
    }

    async fn store(
        &self,
        subject: &str,
        message_id: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), DeadLetterError> {
        let message =
            PublishMessage::build().payload(body.to_vec().into()).headers(headers.clone()).message_id(message_id);
        self.jetstream.send_publish(subject.to_owned(), message).await?.await?;
        Ok(())
    }

    async fn ensure_stream(&self) -> Result<(), DeadLetterError> {
        self.jetstream
            .create_or_update_stream(stream::Config {
                name: DEADLETTER_STREAM.to_owned(),
                subjects: vec![format!("{DEADLETTER_PREFIX}.>")],
                storage: stream::StorageType::File,
                max_age: Duration::from_secs(30 * 24 * 3600),
                description: Some("claude-temporal events a notifier backend never accepted".to_owned()),
                ..Default::default()
            })
            .await?;
        Ok(())
    }
}
