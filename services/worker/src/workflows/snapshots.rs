//! Snapshots from inside workflows: taking one before a stage, and rolling back to it.

use ct_domain::git::{RestoreReport, Snapshot};
use temporalio_sdk::{ActivityExecutionError, WorkflowContext};

use super::options;
use ct_contracts::{RestoreTask, SnapshotTask, WorkspaceActivities};

/// Marks histories whose stages are snapshotted. Histories recorded before snapshots
/// existed replay without these commands.
pub(super) const SNAPSHOTS_PATCH: &str = "stage-snapshots";

/// Marks histories whose develop stages are snapshotted by their agent runs: one activity,
/// and so one workflow task, fewer per stage. Histories recorded before replay with the
/// snapshot activity.
const SNAPSHOT_BY_THE_RUN_PATCH: &str = "snapshot-by-the-run";

/// Marks histories in which a cancel undoes the cancelled stage's edits. Histories recorded
/// before replay without the restore.
const CANCEL_RESTORES_PATCH: &str = "cancel-restores";

/// How a snapshot is listed in a workflow's status: `<n>:<stage>:<ref>`.
pub(super) fn label(snapshot: &Snapshot) -> String {
    format!("{}:{}:{}", snapshot.number, snapshot.stage, snapshot.reference)
}

/// Snapshot `number` as the agent run will take it before its first attempt, and the task
/// that asks it to; `None` for histories whose stages run a snapshot activity first.
pub(super) fn by_the_run<W>(
    ctx: &WorkflowContext<W>,
    project_path: &str,
    number: u32,
    stage: &str,
) -> Option<(Snapshot, SnapshotTask)> {
    if !ctx.patched(SNAPSHOT_BY_THE_RUN_PATCH) {
        return None;
    }
    let workflow_id = ctx.workflow_id().to_owned();
    let planned = Snapshot {
        number,
        reference: ct_domain::git::snapshot_ref(&workflow_id, number),
        commit: String::new(),
        stage: stage.to_owned(),
        created_unix: 0,
        files: Vec::new(),
        files_truncated: false,
    };
    let task = SnapshotTask { project_path: project_path.to_owned(), workflow_id, number, stage: stage.to_owned() };
    Some((planned, task))
}

pub(super) async fn take<W>(
    ctx: &WorkflowContext<W>,
    project_path: &str,
    number: u32,
    stage: &str,
) -> Result<Snapshot, ActivityExecutionError> {
    ctx.execute_activity(
        WorkspaceActivities::snapshot,
        SnapshotTask {
            project_path: project_path.to_owned(),
            workflow_id: ctx.workflow_id().to_owned(),
            number,
            stage: stage.to_owned(),
        },
        options::workspace(ctx.task_queue()),
    )
    .await
}

pub(super) async fn restore<W>(
    ctx: &WorkflowContext<W>,
    project_path: &str,
    reference: &str,
) -> Result<RestoreReport, ActivityExecutionError> {
    ctx.execute_activity(
        WorkspaceActivities::restore,
        RestoreTask { project_path: project_path.to_owned(), reference: reference.to_owned() },
        options::workspace(ctx.task_queue()),
    )
    .await
}

/// Rolls back to `snapshot` after a failure and says so in the failure's message; with it,
/// the commit put back, if that worked.
pub(super) async fn roll_back<W>(
    ctx: &WorkflowContext<W>,
    project_path: &str,
    snapshot: &Snapshot,
    failure: String,
) -> (String, Option<String>) {
    match restore(ctx, project_path, &snapshot.reference).await {
        Ok(restored) => (
            format!(
                "{failure}; rolled back to snapshot {} (taken before `{}`, {})",
                snapshot.number, snapshot.stage, snapshot.reference
            ),
            Some(restored.commit).filter(|c| !c.is_empty()),
        ),
        Err(err) => {
            let message = format!(
                "{failure}; rolling back to snapshot {} failed: {} (`claude-temporal rollback {} {}` retries it)",
                snapshot.number,
                options::failure_message(&err),
                ctx.workflow_id(),
                snapshot.number
            );
            (message, None)
        }
    }
}

/// Undoes the half-done edits of a stage cancelled while it ran: puts back `snapshot` (taken
/// before it), although the workflow is being cancelled. Returns the cancel's message, saying
/// what became of the edits.
pub(super) async fn undo_cancelled<W>(
    ctx: &WorkflowContext<W>,
    project_path: &str,
    snapshot: &Snapshot,
    message: String,
) -> String {
    if !ctx.patched(CANCEL_RESTORES_PATCH) {
        return message;
    }
    let task = RestoreTask { project_path: project_path.to_owned(), reference: snapshot.reference.clone() };
    let restored =
        ctx.execute_activity(WorkspaceActivities::restore, task, options::workspace_cleanup(ctx.task_queue())).await;
    match restored {
        Ok(_) => format!(
            "{message}; its changes were undone (snapshot {}, {}); `cancel --keep-changes` keeps them",
            snapshot.number, snapshot.reference
        ),
        Err(err) => format!(
            "{message}; undoing its changes failed: {} (`claude-temporal rollback {} {}` retries it)",
            options::failure_message(&err),
            ctx.workflow_id(),
            snapshot.number
        ),
    }
}
