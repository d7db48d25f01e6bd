//! Publishing events for workflows. The publisher only queues (buffered, on disk with an
//! outbox) and never waits for NATS, so an outage of NATS never fails or stalls a workflow.
//! Workflow code schedules one `publish` activity per event, which Temporal dispatches once the
//! task that decided the event has committed. Histories recorded before that queue their events
//! from workflow code (handed to a writer thread here) or, older still, through the same
//! activity run locally; both stay so that those workflows replay and finish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

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
    /// Its place among the events of its workflow run; absent in histories from before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<EventOrder>,
}

/// Where an event stands among those of its workflow run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventOrder {
    pub run_id: String,
    /// 1 for the run's first event, 2 for the next, ...
    pub sequence: u64,
}

impl EmitEvent {
    pub fn new(id: String, data: &EventData) -> Self {
        Self {
            id,
            kind: data.event_type().as_str().to_owned(),
            data: serde_json::to_value(data).unwrap_or_default(),
            order: None,
        }
    }
}

pub struct EventActivities {
    publisher: Publisher,
    turns: Turns,
}

impl EventActivities {
    pub fn new(publisher: Publisher) -> Self {
        Self { publisher, turns: Turns::default() }
    }
}

#[activities]
impl EventActivities {
    /// Queues one event for publishing, on disk when the worker has an outbox, before it
    /// returns; the id makes a retried call harmless.
    #[activity]
    pub async fn publish(self: Arc<Self>, _: ActivityContext, event: EmitEvent) -> Result<(), ActivityError> {
        let order = event.order.clone();
        let last_of_its_run =
            matches!(event.kind.as_str(), "workflow.completed" | "workflow.failed" | "workflow.cancelled");
        if let Some(order) = &order {
            self.turns.wait_for(order).await;
        }
        // Published from inside the activity's span: the event joins the workflow's trace.
        let span = tracing::Span::current();
        let trace = ct_telemetry::propagate::current_traceparent();
        let publisher = self.publisher.clone();
        // The outbox's write and fsync block: off the runtime's threads, in the same trace.
        let queued = tokio::task::spawn_blocking(move || {
            let _in_trace = trace.as_deref().map(ct_telemetry::propagate::from_traceparent).map(|cx| cx.attach());
            span.in_scope(|| queue(&publisher, event))
        })
        .await
        .map_err(|err| ActivityError::from(anyhow::anyhow!("queueing the event stopped: {err}")));
        if let Some(order) = &order {
            self.turns.done(order, last_of_its_run);
        }
        queued
    }
}

/// How long an event waits for the one before it in its run: the workflow scheduled them in
/// order, but as separate activities, which may run at once, or the earlier one on another
/// worker (then it stops waiting).
const TURN_PATIENCE: Duration = Duration::from_secs(3);
/// Runs whose order one worker keeps at most.
const MAX_RUNS_ORDERED: usize = 10_000;

/// Keeps each workflow run's events in the order the workflow emitted them.
#[derive(Default)]
struct Turns {
    /// The last event queued of each run this process has published for.
    queued: Mutex<HashMap<String, u64>>,
    changed: Notify,
}

impl Turns {
    /// Returns once the event before `order` in its run is queued, or this process never
    /// published for the run (its first event here, or a worker that restarted), or the wait
    /// ran out.
    async fn wait_for(&self, order: &EventOrder) {
        let deadline = tokio::time::Instant::now() + TURN_PATIENCE;
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let ready = match self.lock().get(&order.run_id) {
                None => true,
                // Saturating: the sequence comes from the activity's input.
                Some(last) => last.saturating_add(1) >= order.sequence,
            };
            if ready || tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }

    /// Notes that `order`'s event is queued; after the run's last event, forgets the run.
    fn done(&self, order: &EventOrder, last_of_its_run: bool) {
        let mut queued = self.lock();
        if last_of_its_run {
            queued.remove(&order.run_id);
        } else {
            // Runs whose last event went elsewhere (another worker, a terminated workflow) are
            // never forgotten otherwise; past the cap, ordering starts afresh for all.
            if queued.len() >= MAX_RUNS_ORDERED && !queued.contains_key(&order.run_id) {
                queued.clear();
            }
            let last = queued.entry(order.run_id.clone()).or_default();
            *last = (*last).max(order.sequence);
        }
        drop(queued);
        self.changed.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.queued.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where the events workflow code of older histories queues itself go: a writer thread that
/// hands them to the worker's publisher in order. The SDK builds workflow values (`Default`),
/// so nothing can be handed to them; one worker process has one.
static WORKFLOW_EVENTS: OnceLock<std::sync::mpsc::Sender<(EmitEvent, tracing::Span)>> = OnceLock::new();
/// Events handed to that thread, and those it has queued: shutdown waits until they are equal.
static WORKFLOW_EVENTS_SENT: AtomicU64 = AtomicU64::new(0);
static WORKFLOW_EVENTS_QUEUED: AtomicU64 = AtomicU64::new(0);

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
            WORKFLOW_EVENTS_QUEUED.fetch_add(1, Ordering::SeqCst);
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
            WORKFLOW_EVENTS_SENT.fetch_add(1, Ordering::SeqCst);
            if let Err(lost) = events.send((event, tracing::Span::current())) {
                tracing::error!(kind = %lost.0.0.kind, "dropping an event: the workflow events thread stopped");
            }
        }
        None => tracing::error!(kind = %event.kind, "dropping an event: this process publishes no workflow events"),
    }
}

/// Waits (at most `patience`) until the writer thread has queued every event handed to it, so
/// that a worker shutting down flushes them with the rest.
pub async fn workflow_events_queued(patience: Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    while WORKFLOW_EVENTS_QUEUED.load(Ordering::SeqCst) < WORKFLOW_EVENTS_SENT.load(Ordering::SeqCst) {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!("events of older workflows still wait to be queued at shutdown");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn order(run: &str, sequence: u64) -> EventOrder {
        EventOrder { run_id: run.to_owned(), sequence }
    }

    #[tokio::test]
    async fn a_forged_sequence_neither_overflows_nor_blocks_past_the_patience() {
        let turns = Turns::default();
        turns.done(&order("r", u64::MAX), false);
        let started = tokio::time::Instant::now();
        turns.wait_for(&order("r", 5)).await;
        turns.wait_for(&order("r", u64::MAX)).await;
        assert!(started.elapsed() < TURN_PATIENCE, "waited {:?}", started.elapsed());
    }

    #[test]
    fn the_runs_kept_in_order_are_capped() {
        let turns = Turns::default();
        for n in 0..=MAX_RUNS_ORDERED {
            turns.done(&order(&n.to_string(), 1), false);
        }
        assert!(turns.lock().len() <= MAX_RUNS_ORDERED);
        turns.done(&order("0", 2), true);
        assert!(!turns.lock().contains_key("0"));
    }
}
