//! One message from the stream to every backend that wants it.
//!
//! At-least-once and idempotent per backend: the message is acked only once
//! each matching backend has either accepted the event or had it
//! dead-lettered, and a backend that already took an event id (a redelivery
//! after a lost ack, say) is not given it again. Backends are served
//! concurrently; messages one after another, so notifications keep the
//! order of events.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use ct_events::CloudEvent;
use futures::future::join_all;
use tracing::Instrument;

use crate::backend::Backend;
use crate::deadletter::{DeadLetter, DeadLetters};
use crate::filter::EventFilter;
use crate::recent::RecentIds;
use crate::retry::{Outcome, RetryPolicy, deliver_in_span};

/// Ids remembered per backend; see [`RecentIds`].
const REMEMBERED_IDS: usize = 10_000;

/// When dead-lettering itself fails (NATS gone), the event comes back after
/// this and the backends that still owe it are tried again.
const REDELIVER_AFTER: Duration = Duration::from_secs(5);

pub(crate) struct Route {
    backend: Backend,
    filter: EventFilter,
    delivered: RecentIds,
}

impl Route {
    pub(crate) fn new(backend: Backend, filter: EventFilter) -> Self {
        Self { backend, filter, delivered: RecentIds::new(REMEMBERED_IDS) }
    }
}

pub(crate) struct Dispatcher {
    pub(crate) routes: Vec<Route>,
    pub(crate) retry: RetryPolicy,
    pub(crate) dead_letters: DeadLetters,
    /// The consumer's ack wait: long deliveries report progress within it.
    pub(crate) ack_wait: Duration,
    pub(crate) metrics: std::sync::Arc<crate::metrics::DeliveryMetrics>,
}

impl Dispatcher {
    pub(crate) async fn handle(&mut self, message: jetstream::Message) {
        let event = match CloudEvent::from_json(&message.payload) {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(subject = %message.subject, %err, "skipping a message that is not a claude-temporal event");
                settle(&message, AckKind::Term).await;
                return;
            }
        };
        let span = ct_events::trace::process_span("ct-notifier", &message, &event);
        let kind = self.handle_event(&event, &message).instrument(span).await;
        settle(&message, kind).await;
    }

    async fn handle_event(&mut self, event: &CloudEvent, message: &jetstream::Message) -> AckKind {
        let due: Vec<usize> = (0..self.routes.len())
            .filter(|&i| {
                let route = &self.routes[i];
                route.filter.matches(event.event_type()) && !route.delivered.contains(&event.id)
            })
            .collect();
        if due.is_empty() {
            return AckKind::Ack;
        }
        let body = message.payload.as_ref();
        let deliveries =
            join_all(due.iter().map(|&i| deliver_in_span(&self.routes[i].backend, event, body, &self.retry)));
        let outcomes = tokio::select! {
            outcomes = deliveries => outcomes,
            never = keep_alive(message, self.ack_wait) => match never {},
        };

        let mut settled = true;
        for (i, outcome) in due.into_iter().zip(outcomes) {
            let backend = self.routes[i].backend.name();
            match outcome {
                Outcome::Delivered { attempts } => {
                    tracing::debug!(backend, attempts, "delivered");
                    self.metrics.delivered(backend);
                    self.routes[i].delivered.insert(&event.id);
                }
                Outcome::GaveUp { attempts, reason } => {
                    self.metrics.failed(backend);
                    let letter = DeadLetter { backend, event, body, attempts, reason: &reason };
                    match self.dead_letters.publish(letter).await {
                        Ok(subject) => {
                            tracing::error!(backend, attempts, %reason, %subject, "gave up delivering; event dead-lettered");
                            self.routes[i].delivered.insert(&event.id);
                        }
                        Err(err) => {
                            tracing::error!(backend, attempts, %reason, %err, "gave up delivering and could not dead-letter; the event will be retried");
                            settled = false;
                        }
                    }
                }
            }
        }
        if settled { AckKind::Ack } else { AckKind::Nak(Some(REDELIVER_AFTER)) }
    }
}

/// Tells the server the message is still being worked on, so retries that
/// outlast the ack wait do not cause a redelivery meanwhile.
async fn keep_alive(message: &jetstream::Message, ack_wait: Duration) -> std::convert::Infallible {
    let period = (ack_wait / 2).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        if let Err(err) = message.ack_with(AckKind::Progress).await {
            tracing::debug!(%err, "could not extend the ack wait");
        }
    }
}

async fn settle(message: &jetstream::Message, kind: AckKind) {
    if let Err(err) = message.ack_with(kind).await {
        // A lost ack means a redelivery, which the delivered-id sets absorb.
        tracing::debug!(%err, "could not settle the message; it will come again");
    }
}
