//! Publishing events for workflows. Workflow code cannot do I/O, so it hands
//! each event to a local activity; the publisher buffers and never blocks, so
//! an outage of NATS never fails or stalls a workflow.

use std::sync::Arc;

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
        Self {
            id,
            kind: data.event_type().as_str().to_owned(),
            data: serde_json::to_value(data).unwrap_or_default(),
        }
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
        match decode(&event) {
            Ok(data) => {
                // Published from inside the activity's span: the event joins the workflow's trace.
                self.publisher.publish(CloudEvent::new(EVENT_SOURCE, data).with_id(event.id));
            }
            // A malformed event is a bug in the emitting code; losing it must not fail the workflow.
            Err(err) => tracing::error!(kind = %event.kind, %err, "dropping an event that does not decode"),
        }
        Ok(())
    }
}

fn decode(event: &EmitEvent) -> Result<EventData, String> {
    let kind: EventType = event.kind.parse().map_err(|e: ct_events::DecodeError| e.to_string())?;
    EventData::decode(kind, event.data.clone()).map_err(|e| e.to_string())
}
