//! Publishing events for workflows. The publisher only queues (buffered, on disk with an
//! outbox) and never blocks, so an outage of NATS never fails or stalls a workflow. Workflow
//! code queues its events itself; histories recorded before it did hand each event to a
//! local activity, which stays registered so that they replay and finish.

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
    /// Queues one event for publishing; the id makes a retried call harmless.
    #[activity]
    pub async fn publish(self: Arc<Self>, _: ActivityContext, event: EmitEvent) -> Result<(), ActivityError> {
        // Published from inside the activity's span: the event joins the workflow's trace.
        queue(&self.publisher, event);
        Ok(())
    }
}

/// The worker's publisher, for the events workflow code publishes itself. The SDK builds
/// workflow values (`Default`), so nothing can be handed to them; one worker process has one.
static WORKFLOW_PUBLISHER: OnceLock<Publisher> = OnceLock::new();

/// Makes `publisher` the one [`publish_from_workflow`] queues on; the first one set stays.
pub fn serve_workflow_events(publisher: Publisher) {
    if WORKFLOW_PUBLISHER.set(publisher).is_err() {
        tracing::debug!("workflow events already go to this process's first publisher");
    }
}

/// Queues an event workflow code emits, from inside the workflow's span (so it joins the
/// workflow's trace). Queueing does no network I/O and never blocks.
pub fn publish_from_workflow(event: EmitEvent) {
    match WORKFLOW_PUBLISHER.get() {
        Some(publisher) => queue(publisher, event),
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
