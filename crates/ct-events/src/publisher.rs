//! Publishing that never blocks or fails the caller.
//!
//! [`Publisher::publish`] only puts the event in a bounded queue. One
//! background task takes events out in order and publishes each to JetStream
//! with `Nats-Msg-Id` = event id, waiting for the stream's ack and retrying
//! with backoff for as long as NATS is unreachable; the next event goes out
//! only after the previous one is stored, so the stream keeps the order of
//! `publish` calls. A retry after a lost ack republishes the same id, which
//! the stream's duplicate window drops. When the queue is full the new event
//! is dropped, counted ([`Publisher::dropped`]) and logged as a warning.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind};
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::connect::{NatsLogin, connect};
use crate::error::Error;
use crate::event::CloudEvent;
use crate::outbox::{Outbox, Pending};
use crate::retry::{backoff, worth_logging};
use crate::stream::{StreamSettings, ensure_stream};
use crate::trace;

/// How a process publishes.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    pub nats_url: String,
    /// Who to log in as; `None`: no login.
    pub login: Option<NatsLogin>,
    /// Shown in the server's connection list, e.g. `ct-worker`.
    pub client_name: String,
    /// Events waiting while NATS is unreachable; beyond this they are dropped.
    pub buffer: usize,
    /// How long to wait for the stream to confirm one event before retrying it.
    pub ack_timeout: Duration,
    pub stream: StreamSettings,
    /// Where events wait on disk until the stream has them (see `outbox`); `None` keeps them
    /// in memory only, and a crash loses those not yet stored.
    pub outbox: Option<std::path::PathBuf>,
}

impl PublisherConfig {
    pub fn new(nats_url: impl Into<String>, client_name: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            login: None,
            client_name: client_name.into(),
            buffer: 10_000,
            ack_timeout: Duration::from_secs(5),
            stream: StreamSettings::default(),
            outbox: None,
        }
    }
}

struct Outgoing {
    event: CloudEvent,
    /// The span the event was published from: its publish span is a child of it.
    parent: opentelemetry::Context,
}

struct Shared {
    queue: mpsc::Sender<Outgoing>,
    outbox: Option<Arc<Outbox>>,
    enqueued: AtomicU64,
    counts: Arc<Counts>,
    /// How many queued events the task is done with (stored or dropped):
    /// what `flush` waits on.
    settled: watch::Receiver<u64>,
}

/// Kept by both sides: the publishing task also drops (what NATS refuses).
#[derive(Default)]
struct Counts {
    dropped: AtomicU64,
    stored: AtomicU64,
}

/// Cheap to clone; every clone feeds the same queue.
#[derive(Clone)]
pub struct Publisher {
    shared: Arc<Shared>,
}

impl Publisher {
    /// Connects (in the background: NATS may be down) and starts the
    /// publishing task. Fails only for a malformed NATS address.
    pub async fn connect(config: PublisherConfig) -> Result<Self, Error> {
        let (outbox, pending) = match &config.outbox {
            Some(path) => {
                let (outbox, pending) = Outbox::open(path)?;
                (Some(Arc::new(outbox)), pending)
            }
            None => (None, Vec::new()),
        };
        let client = connect(&config.nats_url, config.login.as_ref(), &config.client_name).await?;
        let mut context = jetstream::new(client);
        context.set_timeout(config.ack_timeout);
        // Room for what an earlier run left, ahead of everything new.
        let (queue, receiver) = mpsc::channel(config.buffer.max(1) + pending.len());
        let (settled_tx, settled) = watch::channel(0);
        let counts = Arc::new(Counts::default());
        tokio::spawn(publish_in_order(context, config.stream, receiver, settled_tx, counts.clone(), outbox.clone()));
        let publisher =
            Self { shared: Arc::new(Shared { queue, outbox, enqueued: AtomicU64::new(0), counts, settled }) };
        for Pending { event, traceparent } in pending {
            let parent = traceparent.as_deref().map(ct_telemetry::propagate::from_traceparent).unwrap_or_default();
            publisher.enqueue(Outgoing { event, parent });
        }
        Ok(publisher)
    }

    /// Queues `event`; returns at once whatever state NATS is in. The event joins the trace of
    /// the current span: its publish span is a child of it, and the message's
    /// `traceparent`/`tracestate` headers name the publish span.
    /// With an outbox the event is on disk when this returns, so a crash cannot lose it.
    pub fn publish(&self, event: CloudEvent) {
        if let Some(outbox) = &self.shared.outbox
            && let Err(err) = outbox.append(&event, ct_telemetry::propagate::current_traceparent())
        {
            tracing::error!(event.id = %event.id, %err, "cannot write the event to the outbox; it waits in memory only");
        }
        self.enqueue(Outgoing { event, parent: opentelemetry::Context::current() });
    }

    /// Events dropped: the queue was full, or NATS refused one as too large.
    pub fn dropped(&self) -> u64 {
        self.shared.counts.dropped.load(Ordering::Relaxed)
    }

    /// Events the stream has confirmed.
    pub fn published(&self) -> u64 {
        self.shared.counts.stored.load(Ordering::Relaxed)
    }

    /// Waits until every event queued before this call is stored (or
    /// dropped as too large), or `timeout` passes; for a clean shutdown.
    pub async fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let target = self.shared.enqueued.load(Ordering::SeqCst);
        let mut settled = self.shared.settled.clone();
        let reached = tokio::time::timeout(timeout, settled.wait_for(|done| *done >= target)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            // The task ends normally only once every queue sender is gone,
            // and `self` holds one: a closed channel means it died.
            Ok(Err(_)) => Err(Error::PublisherStopped),
            Err(_) => Err(Error::FlushTimeout {
                pending: target.saturating_sub(*self.shared.settled.borrow()),
                waited: timeout,
            }),
        }
    }

    fn enqueue(&self, outgoing: Outgoing) {
        match self.shared.queue.try_send(outgoing) {
            Ok(()) => {
                self.shared.enqueued.fetch_add(1, Ordering::SeqCst);
            }
            Err(mpsc::error::TrySendError::Full(lost) | mpsc::error::TrySendError::Closed(lost)) => {
                let dropped = self.shared.counts.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    event.id = %lost.event.id,
                    event.kind = %lost.event.event_type(),
                    workflow_id = lost.event.workflow_id(),
                    dropped_total = dropped,
                    "event dropped: the publish queue is full (NATS unreachable for a while?)"
                );
            }
        }
    }
}

async fn publish_in_order(
    context: jetstream::Context,
    stream: StreamSettings,
    mut queue: mpsc::Receiver<Outgoing>,
    settled: watch::Sender<u64>,
    counts: Arc<Counts>,
    outbox: Option<Arc<Outbox>>,
) {
    let mut stream_ready = false;
    while let Some(outgoing) = queue.recv().await {
        let subject = outgoing.event.nats_subject();
        let body = outgoing.event.to_json();
        let span = trace::publish_span(&outgoing.parent, &subject, &outgoing.event.id);
        let mut headers = HeaderMap::new();
        trace::inject(&span.context(), &mut headers);
        let mut failures: u32 = 0;
        loop {
            let attempt = async {
                if !stream_ready {
                    ensure_stream(&context, &stream).await?;
                    stream_ready = true;
                }
                store(&context, &subject, &outgoing.event.id, &headers, &body)
                    .await
                    .inspect_err(|err| {
                        // Someone deleted the stream: make it again.
                        if err.kind() == PublishErrorKind::StreamNotFound {
                            stream_ready = false;
                        }
                    })
                    .map_err(PublishFailure::Publish)
            };
            match attempt.instrument(span.clone()).await {
                Ok(()) => {
                    counts.stored.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                // Retrying cannot make it fit, and waiting would hold up
                // every event behind it.
                Err(PublishFailure::Publish(err)) if err.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    let dropped = counts.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::error!(
                        %err, event.id = %outgoing.event.id, %subject, bytes = body.len(),
                        dropped_total = dropped,
                        "event dropped: larger than the NATS server accepts"
                    );
                    break;
                }
                Err(err) => {
                    failures += 1;
                    span.record("ct.publish.failures", failures);
                    if worth_logging(failures) {
                        tracing::warn!(
                            %err, event.id = %outgoing.event.id, %subject, failures,
                            "event not stored yet; retrying until NATS takes it"
                        );
                    }
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
        if failures > 0 {
            tracing::info!(event.id = %outgoing.event.id, failures, "event stored after retries");
        }
        settled.send_modify(|count| *count += 1);
        if let Some(outbox) = &outbox {
            outbox.settle(*settled.borrow());
        }
    }
}

async fn store(
    context: &jetstream::Context,
    subject: &str,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), jetstream::context::PublishError> {
    let message = jetstream::message::PublishMessage::build()
        .payload(body.to_vec().into())
        .headers(headers.clone())
        .message_id(id);
    context.send_publish(subject.to_owned(), message).await?.await.map(drop)
}

#[derive(Debug, thiserror::Error)]
enum PublishFailure {
    #[error(transparent)]
    Stream(#[from] Error),
    #[error("publish failed: {0}")]
    Publish(jetstream::context::PublishError),
}
