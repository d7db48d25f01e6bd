//! Emitting events from workflow code.
//!
//! An event goes out only once the workflow task that decided it has committed: `emit` schedules
//! a publish activity (a command of the task), and Temporal dispatches it only after the task's
//! completion was accepted. A task that fails after emitting (its worker killed, its completion
//! refused because an Update arrived meanwhile) leaves no command, so its events never go out,
//! and the task that runs instead emits those of the path it takes. The id says what the event
//! is (run, type, stage, occurrence), so two different events never share one, and a publish
//! Temporal retries reuses it (JetStream keeps one copy). Each carries its place in the run's
//! order, which the worker keeps when it publishes (publishes run concurrently otherwise); the
//! workflow waits for its publishes before long waits and before its last event, which is so the
//! stream's last word on the workflow. The write to the outbox happens in the activity, never on
//! the workflow thread.

use std::collections::BTreeMap;
use std::task::Poll;
use std::time::Duration;

use ct_contracts::TestReport;
use ct_domain::git::Snapshot;
use ct_domain::{StageStatus, WorkflowStatus};
use ct_events::EventData;
use ct_events::data::{
    CostUpdated, Snapshot as SnapshotEvent, StageOutcome, StageStarted, TestCounts, TestsCompleted, TokenUsage,
    WorkflowFinished,
};
use futures::future::LocalBoxFuture;
use temporalio_common::RetryPolicy;
use temporalio_sdk::{ActivityOptions, LocalActivityOptions, WorkflowCancellationToken, WorkflowContext};

use crate::activities::{EmitEvent, EventActivities, EventOrder, publish_from_workflow};

/// Marks histories that emit events. Histories recorded before events existed
/// replay without these local activities.
const EVENTS_PATCH: &str = "emit-events";

/// Marks histories whose workflow code queues its events itself. Histories recorded before
/// replay (and go on) with one local activity per event.
const EVENTS_FROM_WORKFLOW_PATCH: &str = "events-from-workflow";

/// Marks histories whose events go out through publish activities, after their task
/// committed, with ids that say what they are. Histories recorded before replay (and go on)
/// queueing from workflow code, with ids from the workflow's random sequence.
const EVENTS_AFTER_COMMIT_PATCH: &str = "events-after-commit";

/// What a workflow keeps of the events it emitted: how many of each type and stage so far
/// (the next one's id), how many in all (the next one's place in the run's order), and the
/// publishes not yet known to be done.
#[derive(Default)]
pub(crate) struct EventLedger {
    emitted: BTreeMap<(String, String), u32>,
    sequence: u64,
    /// Taken out and awaited by [`settle`] before every long wait and at the end, so they never
    /// stay here long: each holds the workflow's context, and so keeps its state alive.
    in_flight: Vec<LocalBoxFuture<'static, ()>>,
}

/// Workflows that emit events keep an [`EventLedger`] in their state (`workflow_state!`).
pub(crate) trait EmitsEvents: 'static {
    fn ledger(&mut self) -> &mut EventLedger;
}

/// The id of the `occurrence`-th event (from 1) of `kind` about `stage` in workflow run
/// `run_id`: what the event is, so a replay or a retried publish names the same event and no
/// two events of a run share one.
fn event_id(run_id: &str, kind: &str, stage: &str, occurrence: u32) -> String {
    format!("{run_id}/{kind}/{stage}/{occurrence}")
}

/// How a publish activity is scheduled: on the worker's own queue, retried for a while (it only
/// writes to the outbox and queues), and never cancelled with the workflow, so that
/// `workflow.cancelled` still goes out.
fn publish_options(task_queue: &str) -> ActivityOptions {
    // Seconds normally; a worker that died with one is noticed after this long, and it retried.
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
        .task_queue(task_queue.to_owned())
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(30))
                .maximum_attempts(10)
                .build(),
        )
        .cancellation_token(WorkflowCancellationToken::new())
        .build()
}

/// The event for `data` with its id and its place in the run's order.
fn numbered<W: EmitsEvents>(ctx: &WorkflowContext<W>, data: &EventData) -> EmitEvent {
    let mut event = EmitEvent::new(String::new(), data);
    let stage = data.stage().unwrap_or("-").to_owned();
    let (occurrence, sequence) = ctx.state_mut(|s| {
        let ledger = s.ledger();
        let count = ledger.emitted.entry((event.kind.clone(), stage.clone())).or_default();
        *count += 1;
        ledger.sequence += 1;
        (*count, ledger.sequence)
    });
    event.id = event_id(ctx.run_id(), &event.kind, &stage, occurrence);
    event.order = Some(EventOrder { run_id: ctx.run_id().to_owned(), sequence });
    event
}

/// Publishes `data` once this workflow task has committed; never fails or blocks the workflow.
/// It goes out even while the workflow is being cancelled, so `workflow.cancelled` does too.
/// The workflow's last event goes through [`emit_last`].
pub(super) async fn emit<W: EmitsEvents>(ctx: &WorkflowContext<W>, data: EventData) {
    if !ctx.patched(EVENTS_PATCH) {
        return;
    }
    if ctx.patched(EVENTS_AFTER_COMMIT_PATCH) {
        // Scheduled here (a command of this task, so it waits for the commit); the workflow
        // waits for the publish only at its next long wait ([`settle`]). The worker publishes a
        // run's events in their order.
        let (event, options, owner) = (numbered(ctx, &data), publish_options(ctx.task_queue()), ctx.clone());
        let kind = event.kind.clone();
        let mut in_flight: LocalBoxFuture<'static, ()> = Box::pin(async move {
            if let Err(err) = owner.execute_activity(EventActivities::publish, event, options).await {
                tracing::warn!(%kind, %err, "event not published");
            }
        });
        // Polled once now, so that this task schedules it.
        if std::future::poll_fn(|cx| Poll::Ready(in_flight.as_mut().poll(cx).is_pending())).await {
            ctx.state_mut(|s| s.ledger().in_flight.push(in_flight));
        }
        return;
    }
    let event = EmitEvent::new(ctx.uuid4(), &data);
    if ctx.patched(EVENTS_FROM_WORKFLOW_PATCH) {
        // Histories of this kind queued their events from the task that decided them; they
        // go on doing so (off the workflow thread) until they end.
        if !ctx.is_replaying() {
            publish_from_workflow(event);
        }
        return;
    }
    let options = LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(10))
        .cancellation_token(WorkflowCancellationToken::new())
        .build();
    if let Err(err) = ctx.execute_local_activity(EventActivities::publish, event, options).await {
        tracing::warn!(%err, "event not published");
    }
}

/// Waits until every event emitted so far is published: before a wait that may last (an agent
/// run, a gate), so that the publishes leave the workflow's state, and before it ends, so that
/// none is left behind (an activity of an ended workflow never starts; one on a worker that died
/// is retried, and waited for).
pub(super) async fn settle<W: EmitsEvents>(ctx: &WorkflowContext<W>) {
    let in_flight = ctx.state_mut(|s| std::mem::take(&mut s.ledger().in_flight));
    temporalio_sdk::workflows::join_all(in_flight).await;
}

/// Emits the workflow's last event (`workflow.completed`, `.failed`, `.cancelled`) after every
/// earlier one is published, and waits until it is published too: it is the stream's last word
/// on the workflow (`watch` stops at it).
pub(super) async fn emit_last<W: EmitsEvents>(ctx: &WorkflowContext<W>, data: EventData) {
    settle(ctx).await;
    if !ctx.patched(EVENTS_PATCH) || !ctx.patched(EVENTS_AFTER_COMMIT_PATCH) {
        emit(ctx, data).await;
        return;
    }
    let kind = data.event_type();
    let publish =
        ctx.execute_activity(EventActivities::publish, numbered(ctx, &data), publish_options(ctx.task_queue()));
    if let Err(err) = publish.await {
        tracing::warn!(%kind, %err, "the workflow's last event was not published");
    }
}

/// `stage.started` for the first attempt of `stage` of a workflow of `kind`.
pub(super) async fn stage_started<W: EmitsEvents>(ctx: &WorkflowContext<W>, kind: &str, stage: &str) {
    let started = StageStarted {
        workflow_id: ctx.workflow_id().to_owned(),
        workflow_kind: kind.to_owned(),
        stage: stage.to_owned(),
        attempt: 1,
    };
    emit(ctx, EventData::StageStarted(started)).await;
}

/// `snapshot.created` for the snapshot taken before `stage`.
pub(super) async fn snapshot_created<W: EmitsEvents>(ctx: &WorkflowContext<W>, stage: &str, snapshot: &Snapshot) {
    let created = SnapshotEvent {
        workflow_id: ctx.workflow_id().to_owned(),
        stage: Some(stage.to_owned()),
        commit: snapshot.commit.clone(),
        reason: Some(format!("before stage `{stage}`")),
    };
    emit(ctx, EventData::SnapshotCreated(created)).await;
}

/// `tests.completed` for the test run after `stage`.
pub(super) async fn tests_completed<W: EmitsEvents>(ctx: &WorkflowContext<W>, stage: &str, tests: &TestReport) {
    let completed = TestsCompleted {
        workflow_id: ctx.workflow_id().to_owned(),
        stage: stage.to_owned(),
        framework: tests.framework.clone(),
        counts: TestCounts { passed: tests.passed, failed: tests.failed, skipped: tests.skipped },
        duration_ms: tests.duration_ms,
        failures: tests.failures.iter().take(20).map(|(name, _)| name.clone()).collect(),
    };
    emit(ctx, EventData::TestsCompleted(completed)).await;
}

fn tokens(stage: &StageStatus) -> TokenUsage {
    TokenUsage {
        input_tokens: stage.input_tokens,
        output_tokens: stage.output_tokens,
        cache_read_tokens: stage.cache_read_tokens,
        cache_write_tokens: stage.cache_write_tokens,
    }
}

/// `cost.updated` with the workflow's own (final) figures of stage `index`.
pub(super) fn stage_cost(status: &WorkflowStatus, index: usize, model: Option<String>) -> CostUpdated {
    let stage = &status.stages[index];
    CostUpdated {
        workflow_id: status.workflow_id.clone(),
        stage: stage.name.clone(),
        model: model.filter(|m| !m.is_empty()),
        tokens: tokens(stage),
        stage_cost_usd: stage.cost_usd,
        total_cost_usd: status.total_cost_usd,
        running: false,
        priced: true,
    }
}

/// `stage.completed` / `stage.failed` figures of one stage.
pub(super) fn stage_outcome(
    kind: &str,
    status: &WorkflowStatus,
    stage: &StageStatus,
    model: Option<String>,
) -> StageOutcome {
    StageOutcome {
        workflow_id: status.workflow_id.clone(),
        workflow_kind: kind.to_owned(),
        stage: stage.name.clone(),
        model,
        tokens: tokens(stage),
        cost_usd: stage.cost_usd,
        duration_ms: stage.duration_ms,
        files_modified: stage.files_changed.clone(),
        files_truncated: stage.files_truncated,
        lines_added: stage.lines_added,
        lines_removed: stage.lines_removed,
        tests: match (stage.tests_passed, stage.tests_failed) {
            (Some(passed), Some(failed)) => Some(TestCounts { passed, failed, skipped: 0 }),
            _ => None,
        },
        error: stage.error.clone(),
    }
}

pub(super) fn finished(kind: &str, status: &WorkflowStatus, duration_ms: u64) -> WorkflowFinished {
    WorkflowFinished {
        workflow_id: status.workflow_id.clone(),
        workflow_kind: kind.to_owned(),
        total_tokens: status.total_tokens,
        total_cost_usd: status.total_cost_usd,
        duration_ms,
        error: status.error.clone(),
    }
}
