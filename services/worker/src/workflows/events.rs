//! Emitting events from workflow code. The id comes from the workflow's
//! deterministic random source, so a replay or a retried publish reuses it and
//! JetStream keeps one copy.

use std::time::Duration;

use ct_contracts::TestReport;
use ct_domain::git::Snapshot;
use ct_domain::{StageStatus, WorkflowStatus};
use ct_events::EventData;
use ct_events::data::{
    CostUpdated, Snapshot as SnapshotEvent, StageOutcome, StageStarted, TestCounts, TestsCompleted, TokenUsage,
    WorkflowFinished,
};
use temporalio_sdk::{LocalActivityOptions, WorkflowCancellationToken, WorkflowContext};

use crate::activities::{EmitEvent, EventActivities, publish_from_workflow};

/// Marks histories that emit events. Histories recorded before events existed
/// replay without these local activities.
const EVENTS_PATCH: &str = "emit-events";

/// Marks histories whose workflow code queues its events itself. Histories recorded before
/// replay (and go on) with one local activity per event.
const EVENTS_FROM_WORKFLOW_PATCH: &str = "events-from-workflow";

/// Publishes `data`; never fails the workflow. It runs even while the workflow
/// is being cancelled, so `workflow.cancelled` still goes out.
pub(super) async fn emit<W>(ctx: &WorkflowContext<W>, data: EventData) {
    if !ctx.patched(EVENTS_PATCH) {
        return;
    }
    let event = EmitEvent::new(ctx.uuid4(), &data);
    if ctx.patched(EVENTS_FROM_WORKFLOW_PATCH) {
        // Queueing is no I/O and leaves no command, so it needs no local activity, whose round
        // trip through the worker cost ~2 ms per event. A task being replayed published its
        // events when it first ran; a task that failed and runs again publishes them again
        // with the same ids, and JetStream keeps one copy.
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

/// `stage.started` for the first attempt of `stage` of a workflow of `kind`.
pub(super) async fn stage_started<W>(ctx: &WorkflowContext<W>, kind: &str, stage: &str) {
    let started = StageStarted {
        workflow_id: ctx.workflow_id().to_owned(),
        workflow_kind: kind.to_owned(),
        stage: stage.to_owned(),
        attempt: 1,
    };
    emit(ctx, EventData::StageStarted(started)).await;
}

/// `snapshot.created` for the snapshot taken before `stage`.
pub(super) async fn snapshot_created<W>(ctx: &WorkflowContext<W>, stage: &str, snapshot: &Snapshot) {
    let created = SnapshotEvent {
        workflow_id: ctx.workflow_id().to_owned(),
        stage: Some(stage.to_owned()),
        commit: snapshot.commit.clone(),
        reason: Some(format!("before stage `{stage}`")),
    };
    emit(ctx, EventData::SnapshotCreated(created)).await;
}

/// `tests.completed` for the test run after `stage`.
pub(super) async fn tests_completed<W>(ctx: &WorkflowContext<W>, stage: &str, tests: &TestReport) {
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
