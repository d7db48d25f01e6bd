//! Git work in the worker process (the worker owns the repository side): snapshots,
//! restores and feature worktrees, through ct-workspace. libgit2 blocks, so every call
//! runs on the blocking pool.

use std::path::PathBuf;
use std::sync::Arc;

use ct_workspace::{FeatureWorktree, RestoreReport, Snapshot, WorkspaceError};
use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::failure::{self, INVALID_PROJECT};

/// Activities on the project's repository; they hold no state of their own.
pub struct WorkspaceActivities;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotTask {
    pub project_path: String,
    pub workflow_id: String,
    pub number: u32,
    pub stage: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestoreTask {
    pub project_path: String,
    /// A snapshot ref (or any commit-ish whose tree to restore).
    pub reference: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorktreesTask {
    pub project_path: String,
    pub workflow_id: String,
    pub features: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommitTask {
    pub worktree_path: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RemoveWorktreeTask {
    pub project_path: String,
    pub worktree_path: String,
}

#[activities]
impl WorkspaceActivities {
    /// Records the whole work tree as a snapshot commit under the workflow's refs.
    #[activity]
    pub async fn snapshot(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: SnapshotTask,
    ) -> Result<Snapshot, ActivityError> {
        blocking(move || {
            ct_workspace::snapshot(
                PathBuf::from(&task.project_path).as_path(),
                &task.workflow_id,
                task.number,
                &task.stage,
            )
        })
        .await
    }

    /// Puts the work tree back as a snapshot holds it.
    #[activity]
    pub async fn restore(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: RestoreTask,
    ) -> Result<RestoreReport, ActivityError> {
        restore(task.project_path, task.reference).await
    }

    /// Creates one branch and worktree per feature, one after the other: git's
    /// worktree bookkeeping is not made for concurrent writers.
    #[activity]
    pub async fn create_worktrees(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: WorktreesTask,
    ) -> Result<Vec<FeatureWorktree>, ActivityError> {
        blocking(move || {
            let project = PathBuf::from(&task.project_path);
            ct_workspace::feature_branches(&task.features)?;
            let mut made = Vec::with_capacity(task.features.len());
            for (i, feature) in task.features.iter().enumerate() {
                let index = i as u32 + 1;
                match ct_workspace::create_worktree(&project, &task.workflow_id, index, feature) {
                    Ok(worktree) => made.push(worktree),
                    Err(err) => {
                        // All or none: the workflow fails, and none of it is left behind.
                        for worktree in &made {
                            let path = PathBuf::from(&worktree.path);
                            if let Err(cleanup) = ct_workspace::remove_worktree(&project, &path) {
                                tracing::warn!(worktree = %worktree.path, "cannot remove a worktree: {cleanup}");
                            }
                        }
                        return Err(err);
                    }
                }
            }
            Ok(made)
        })
        .await
    }

    /// Commits everything in a feature worktree onto its branch.
    #[activity]
    pub async fn commit_worktree(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: CommitTask,
    ) -> Result<Option<String>, ActivityError> {
        blocking(move || {
            ct_workspace::commit_worktree(
                PathBuf::from(&task.worktree_path).as_path(),
                &task.message,
            )
        })
        .await
    }

    #[activity]
    pub async fn remove_worktree(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: RemoveWorktreeTask,
    ) -> Result<(), ActivityError> {
        blocking(move || {
            ct_workspace::remove_worktree(
                PathBuf::from(&task.project_path).as_path(),
                PathBuf::from(&task.worktree_path).as_path(),
            )
        })
        .await
    }
}

/// Restores `reference` in `project_path`; also what a retried agent attempt does first.
pub(crate) async fn restore(
    project_path: String,
    reference: String,
) -> Result<RestoreReport, ActivityError> {
    blocking(move || ct_workspace::restore(PathBuf::from(&project_path).as_path(), &reference))
        .await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WorkspaceError> + Send + 'static,
) -> Result<T, ActivityError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(classify(err)),
        Err(join) => Err(failure::retryable(format!(
            "git work stopped unexpectedly: {join}"
        ))),
    }
}

/// Problems with the project itself fail at once; libgit2 and file system errors may be
/// passing (a lock held by a concurrent git command) and are retried.
fn classify(err: WorkspaceError) -> ActivityError {
    let message = err.to_string();
    match err {
        WorkspaceError::Git { .. } | WorkspaceError::Io { .. } => failure::retryable(message),
        _ => failure::typed(INVALID_PROJECT, message, true),
    }
}
