//! Publishing events for workflows. The publisher only queues (buffered, on disk with an
//! outbox) and never waits for NATS, so an outage of NATS never fails or stalls a workflow.
//! Workflow code schedules one `publish` activity per event, which Temporal dispatches once the
//! task that decided the event has committed. Histories recorded before that queue their events
//! from workflow code (handed to a writer thread here) or, older still, through the same
//! activity run locally; both stay so that those workflows replay and finish.

use std::sync::{Arc, OnceLock};

use ct_events::{CloudEvent, EventData, EventType, Publisher};
use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Where every event of the worker says it comes from.
pub const EVENT_SOURCE: &str = "/claude-temporal/worker";

/// An event as workflow code builds it: deterministic id, type and JSON data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmitEvent {
    pub id: String,
    pub kind: String,
    pub data: serde_json::Value,
}

impl EmitEvent {
    pub fn new(id: String, data: &EventData) -> Self {
        Self { id, kind: data.event_type().as_str().to_owned(), data: serde_json::to_value(data).unwrap_or_default() }
    }
}

pub struct EventActivities {
    publisher: Publisher,
}

impl EventActivities {
    pub fn new(publisher: Publisher) -> Self {
        Self { publisher }
    }
}

#[activities]
impl EventActivities {
    /// Queues one event for publishing, on disk when the worker has an outbox, before it
    /// returns; the id makes a retried call harmless.
    #[activity]
    pub async fn publish(self: Arc<Self>, _: ActivityContext, event: EmitEvent) -> Result<(), ActivityError> {
        // Published from inside the activity's span: the event joins the workflow's trace.
        let span = tracing::Span::current();
        let publisher = self.publisher.clone();
        // The outbox's write and fsync block: off the runtime's threads.
        tokio::task::spawn_blocking(move || span.in_scope(|| queue(&publisher, event)))
            .await
            .map_err(|err| ActivityError::from(anyhow::anyhow!("queueing the event stopped: {err}")))
    }
}

/// Where the events workflow code of older histories queues itself go: a writer thread that
/// hands them to the worker's publisher in order. The SDK builds workflow values (`Default`),
/// so nothing can be handed to them; one worker process has one.
static WORKFLOW_EVENTS: OnceLock<std::sync::mpsc::Sender<(EmitEvent, tracing::Span)>> = OnceLock::new();

/// Starts the thread that queues the events [`publish_from_workflow`] is given on
/// `publisher`; the first one started stays.
pub fn serve_workflow_events(publisher: Publisher) {
    let (sender, events) = std::sync::mpsc::channel::<(EmitEvent, tracing::Span)>();
    if WORKFLOW_EVENTS.set(sender).is_err() {
        tracing::debug!("workflow events already go to this process's first publisher");
        return;
    }
    let started = std::thread::Builder::new().name("workflow-events".to_owned()).spawn(move || {
        for (event, span) in events {
            span.in_scope(|| queue(&publisher, event));
        }
    });
    if let Err(err) = started {
        tracing::error!(%err, "cannot start the thread that queues workflow events; they will be dropped");
    }
}

/// Queues an event workflow code of an older history emits, as from inside the workflow's span
/// (so it joins the workflow's trace). The outbox write happens on the writer thread: the
/// workflow thread does no I/O.
pub fn publish_from_workflow(event: EmitEvent) {
    match WORKFLOW_EVENTS.get() {
        Some(events) => {
            if let Err(lost) = events.send((event, tracing::Span::current())) {
                tracing::error!(kind = %lost.0.0.kind, "dropping an event: the workflow events thread stopped");
            }
        }
        None => tracing::error!(kind = %event.kind, "dropping an event: this process publishes no workflow events"),
    }
}

fn queue(publisher: &Publisher, event: EmitEvent) {
    match decode(&event) {
        Ok(data) => publisher.publish(CloudEvent::new(EVENT_SOURCE, data).with_id(event.id)),
        // A malformed event is a bug in the emitting code; losing it must not fail the workflow.
        Err(err) => tracing::error!(kind = %event.kind, %err, "dropping an event that does not decode"),
    }
}

fn decode(event: &EmitEvent) -> Result<EventData, String> {
    let kind: EventType = event.kind.parse().map_err(|e: ct_events::DecodeError| e.to_string())?;
    EventData::decode(kind, event.data.clone()).map_err(|e| e.to_string())
}
