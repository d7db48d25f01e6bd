//! How a workflow ends: its last event, then what Temporal records as its outcome.

use std::time::SystemTime;

use ct_domain::{RunState, WorkflowStatus};
use ct_events::EventData;
use temporalio_sdk::{ApplicationFailure, WorkflowContext, WorkflowResult, WorkflowTermination};

use super::WorkflowError;
use super::clock::{elapsed_ms, now};
use super::events::{self, EmitsEvents};

/// Sends `workflow.completed`, `.cancelled` or `.failed` as `status.state` says (after every
/// other event of the workflow), and returns the status of a completed workflow, a cancellation,
/// or a failure whose message is `status.error`.
pub(super) async fn end<W: EmitsEvents>(
    ctx: &WorkflowContext<W>,
    kind: &str,
    status: WorkflowStatus,
    started: SystemTime,
) -> WorkflowResult<WorkflowStatus> {
    let finished = events::finished(kind, &status, elapsed_ms(started, now(ctx)));
    let event = match status.state {
        RunState::Completed => EventData::WorkflowCompleted(finished),
        RunState::Cancelled => EventData::WorkflowCancelled(finished),
        _ => EventData::WorkflowFailed(finished),
    };
    events::emit_last(ctx, event).await;
    match status.state {
        RunState::Completed => Ok(status),
        RunState::Cancelled => Err(WorkflowTermination::cancelled()),
        _ => Err(ApplicationFailure::non_retryable(WorkflowError(status.error.unwrap_or_default())).into()),
    }
}
