//! A durable pull consumer of every event that outlives NATS outages.
//!
//! The consumer's position is kept by the server under its durable name, so
//! a restarted process continues where the last one acknowledged. What the
//! process does with a message (and when it acks) stays with the process.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::pull};
use futures::{FutureExt, StreamExt};

use crate::error::Error;
use crate::retry::{backoff, worth_logging};
use crate::stream::{StreamSettings, ensure_stream};
use crate::subject::ALL_EVENTS;

/// Which durable consumer to read from, and its delivery limits.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub stream: StreamSettings,
    /// The durable name: two processes with the same name share the work.
    pub durable_name: String,
    /// An unacknowledged message is redelivered after this.
    pub ack_wait: Duration,
    /// Delivered but unacknowledged messages at most.
    pub max_ack_pending: i64,
}

impl ConsumerSettings {
    pub fn new(stream: StreamSettings, durable_name: impl Into<String>) -> Self {
        Self { stream, durable_name: durable_name.into(), ack_wait: Duration::from_secs(30), max_ack_pending: 1000 }
    }
}

/// Hands out messages of a durable consumer, (re)creating the stream, the
/// consumer and the pull subscription whenever they are missing.
pub struct EventConsumer {
    jetstream: jetstream::Context,
    settings: ConsumerSettings,
    messages: Option<pull::Stream>,
    failures: u32,
}

impl EventConsumer {
    /// Nothing is contacted until the first [`next_batch`](Self::next_batch).
    pub fn new(client: async_nats::Client, settings: ConsumerSettings) -> Self {
        Self { jetstream: jetstream::new(client), settings, messages: None, failures: 0 }
    }

    /// The JetStream context the consumer reads through, for publishing
    /// alongside (dead letters).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Waits for at least one message, then takes whatever else is already
    /// there, up to `max`: a caller that syncs to disk once per batch pays one
    /// fsync for many messages. Never returns empty; waits through outages.
    pub async fn next_batch(&mut self, max: usize) -> Vec<jetstream::Message> {
        let mut batch = Vec::new();
        while batch.is_empty() {
            let messages = self.subscription().await;
            match messages.next().await {
                Some(Ok(message)) => {
                    self.failures = 0;
                    batch.push(message);
                }
                Some(Err(err)) => self.pull_failed(err).await,
                None => {
                    tracing::warn!(consumer = %self.settings.durable_name, "pull subscription ended; subscribing again");
                    self.messages = None;
                }
            }
        }
        while batch.len() < max {
            let Some(messages) = self.messages.as_mut() else {
                break;
            };
            match messages.next().now_or_never() {
                Some(Some(Ok(message))) => batch.push(message),
                Some(Some(Err(err))) => {
                    self.pull_failed(err).await;
                    break;
                }
                Some(None) => {
                    self.messages = None;
                    break;
                }
                None => break,
            }
        }
        batch
    }

    /// Sends the acks still buffered in the client (acks are
    /// fire-and-forget publishes), so a clean stop causes no redeliveries.
    /// Skipped when NATS is unreachable; those acks could not go out, and
    /// their events are recognised when they come again.
    pub async fn close(self) {
        let client = self.jetstream.client();
        if client.connection_state() != async_nats::connection::State::Connected {
            return;
        }
        if tokio::time::timeout(Duration::from_secs(5), client.flush()).await.is_err() {
            tracing::warn!("could not send the last acks within 5 s; their events will come again");
        }
    }

    async fn subscription(&mut self) -> &mut pull::Stream {
        while self.messages.is_none() {
            match self.subscribe().await {
                Ok(messages) => {
                    tracing::info!(consumer = %self.settings.durable_name, stream = %self.settings.stream.name, "consuming events");
                    self.failures = 0;
                    self.messages = Some(messages);
                }
                Err(err) => {
                    self.failures += 1;
                    if worth_logging(self.failures) {
                        tracing::warn!(%err, failures = self.failures, "cannot consume events yet; retrying");
                    }
                    tokio::time::sleep(backoff(self.failures)).await;
                }
            }
        }
        self.messages.as_mut().expect("set by the loop above")
    }

    async fn subscribe(&self) -> Result<pull::Stream, Error> {
        let settings = &self.settings;
        // Publishers make the stream; a reader makes it only when none exists yet, so a reader
        // allowed only to read (compose: deploy/nats.conf) waits here for the first publisher.
        if self.jetstream.get_stream(&settings.stream.name).await.is_err() {
            ensure_stream(&self.jetstream, &settings.stream).await?;
        }
        let config = pull::Config {
            durable_name: Some(settings.durable_name.clone()),
            filter_subject: ALL_EVENTS.to_owned(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: settings.ack_wait,
            max_ack_pending: settings.max_ack_pending,
            ..Default::default()
        };
        let consumer_error = |source| Error::Consumer {
            stream: settings.stream.name.clone(),
            consumer: settings.durable_name.clone(),
            source,
        };
        let consumer: jetstream::consumer::Consumer<pull::Config> =
            self.jetstream.create_consumer_on_stream(config, &settings.stream.name).await.map_err(consumer_error)?;
        consumer.messages().await.map_err(|source| Error::Pull { consumer: settings.durable_name.clone(), source })
    }

    /// A missed heartbeat or failed pull is what an outage looks like from
    /// here: the subscription recovers by itself once NATS is back, so wait
    /// a little instead of spinning on the error.
    async fn pull_failed(&mut self, err: pull::MessagesError) {
        self.failures += 1;
        if worth_logging(self.failures) {
            tracing::warn!(%err, consumer = %self.settings.durable_name, failures = self.failures, "pulling events failed; retrying");
        }
        tokio::time::sleep(backoff(self.failures)).await;
    }
}
