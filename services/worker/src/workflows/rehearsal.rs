//! The rolling-upgrade test's second build (feature `upgrade-rehearsal`): a workflow change
//! behind a patch of its own and a changed agent-run input that only its own executors take
//! (they refuse a run without it). A worker of another build replaying one of its histories
//! would meet a timer it never starts; an executor of another build would not send the input.

use std::time::Duration;

use ct_contracts::AgentTask;
use temporalio_sdk::WorkflowContext;

const REHEARSAL_PATCH: &str = "upgrade-rehearsal";

/// Marks `task` as this build's, after a timer no other build starts here.
pub(super) async fn mark<W>(ctx: &WorkflowContext<W>, task: &mut AgentTask) {
    if ctx.patched(REHEARSAL_PATCH) {
        ctx.timer(Duration::from_millis(1)).await;
        task.rehearsal = Some(ctx.workflow_id().to_owned());
    }
}
