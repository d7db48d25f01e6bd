//! Git work where the files are: snapshots, restores, feature worktrees and predicted
//! conflicts, through ct-git, served from the files queue with slots of its own. Every path is
//! checked against the executor's workspace roots. libgit2 blocks, so every call runs on the
//! blocking pool.

use std::path::PathBuf;
use std::sync::Arc;

use ct_contracts::failure::{self, INVALID_PROJECT};
use ct_contracts::{
    CommitTask, ConcludeTask, ConflictsTask, IntegrationWorktreeTask, LandTask, MergeTask, RemoveWorktreeTask,
    ResetTask, RestoreTask, SnapshotTask, WorktreesTask, names,
};
use ct_domain::git::{
    ConcludeOutcome, FeatureWorktree, IntegrationWorktree, MergeOutcome, PredictedConflict, RestoreReport, Snapshot,
};
use ct_domain::integration::Landing;
use ct_fleet::WorkspaceRoots;
use ct_git::GitError;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Activities on the project's repository.
pub(crate) struct WorkspaceActivities {
    pub(crate) roots: WorkspaceRoots,
}

#[activities]
impl WorkspaceActivities {
    /// Records the whole work tree as a snapshot commit under the workflow's refs.
    #[activity(name = names::SNAPSHOT)]
    pub(crate) async fn snapshot(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: SnapshotTask,
    ) -> Result<Snapshot, ActivityError> {
        take_snapshot(self.allowed(&task.project_path)?, task).await
    }

    /// Puts the work tree back as a snapshot holds it.
    #[activity(name = names::RESTORE)]
    pub(crate) async fn restore(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: RestoreTask,
    ) -> Result<RestoreReport, ActivityError> {
        restore(self.allowed(&task.project_path)?, task.reference).await
    }

    /// Creates one branch and worktree per feature, one after the other: git's
    /// worktree bookkeeping is not made for concurrent writers.
    #[activity(name = names::CREATE_WORKTREES)]
    pub(crate) async fn create_worktrees(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: WorktreesTask,
    ) -> Result<Vec<FeatureWorktree>, ActivityError> {
        let project = self.allowed(&task.project_path)?;
        blocking("create_worktrees", move || {
            ct_domain::git::feature_branches(&task.features).map_err(GitError::from)?;
            let mut made = Vec::with_capacity(task.features.len());
            for (i, feature) in task.features.iter().enumerate() {
                let index = i as u32 + 1;
                match ct_git::create_worktree(&project, &task.workflow_id, index, feature) {
                    Ok(worktree) => made.push(worktree),
                    Err(err) => {
                        // All or none: the workflow fails, and none of it is left behind.
                        for worktree in &made {
                            let path = PathBuf::from(&worktree.path);
                            if let Err(cleanup) = ct_git::remove_worktree(&project, &path) {
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
    #[activity(name = names::COMMIT_WORKTREE)]
    pub(crate) async fn commit_worktree(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: CommitTask,
    ) -> Result<Option<String>, ActivityError> {
        let worktree = self.allowed(&task.worktree_path)?;
        blocking("commit_worktree", move || ct_git::commit_worktree(&worktree, &task.message)).await
    }

    #[activity(name = names::REMOVE_WORKTREE)]
    pub(crate) async fn remove_worktree(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: RemoveWorktreeTask,
    ) -> Result<(), ActivityError> {
        let project = self.allowed(&task.project_path)?;
        let worktree = PathBuf::from(&task.worktree_path);
        blocking("remove_worktree", move || ct_git::remove_worktree(&project, &worktree)).await
    }

    /// The pairs of branches whose merge would conflict, from in-memory merges.
    #[activity(name = names::PREDICT_CONFLICTS)]
    pub(crate) async fn predict_conflicts(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: ConflictsTask,
    ) -> Result<Vec<PredictedConflict>, ActivityError> {
        let project = self.allowed(&task.project_path)?;
        blocking("predict_conflicts", move || ct_git::predict_conflicts(&project, &task.branches)).await
    }

    /// The integration branch, in a worktree of its own, from where the branches forked.
    #[activity(name = names::CREATE_INTEGRATION_WORKTREE)]
    pub(crate) async fn create_integration_worktree(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: IntegrationWorktreeTask,
    ) -> Result<IntegrationWorktree, ActivityError> {
        let project = self.allowed(&task.project_path)?;
        blocking("create_integration_worktree", move || {
            ct_git::create_integration_worktree(&project, &task.workflow_id, &task.branch, &task.branches)
        })
        .await
    }

    /// Merges a branch into the integration worktree; a conflict is left as markers.
    #[activity(name = names::MERGE_BRANCH)]
    pub(crate) async fn merge_branch(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: MergeTask,
    ) -> Result<MergeOutcome, ActivityError> {
        let worktree = self.allowed(&task.worktree_path)?;
        blocking("merge_branch", move || ct_git::merge_branch(&worktree, &task.branch, &task.message)).await
    }

    /// Commits a conflicted merge once no conflict marker is left.
    #[activity(name = names::CONCLUDE_MERGE)]
    pub(crate) async fn conclude_merge(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: ConcludeTask,
    ) -> Result<ConcludeOutcome, ActivityError> {
        let worktree = self.allowed(&task.worktree_path)?;
        blocking("conclude_merge", move || ct_git::conclude_merge(&worktree, &task.theirs, &task.files, &task.message))
            .await
    }

    /// Moves the integration branch back to an earlier commit (a feature held back).
    #[activity(name = names::RESET_INTEGRATION)]
    pub(crate) async fn reset_integration(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: ResetTask,
    ) -> Result<String, ActivityError> {
        let worktree = self.allowed(&task.worktree_path)?;
        blocking("reset_integration", move || ct_git::reset_integration(&worktree, &task.commit)).await
    }

    /// Fast-forwards the user's branch to the integration branch, when it may.
    #[activity(name = names::LAND)]
    pub(crate) async fn land(self: Arc<Self>, _ctx: ActivityContext, task: LandTask) -> Result<Landing, ActivityError> {
        let project = self.allowed(&task.project_path)?;
        blocking("land", move || ct_git::land(&project, &task.branch, &task.base)).await
    }
}

impl WorkspaceActivities {
    fn allowed(&self, path: &str) -> Result<PathBuf, ActivityError> {
        self.roots.check(path).map_err(|err| crate::Error::from(err).into_activity_error())
    }
}

/// Records `project`'s work tree as snapshot `task.number` of its workflow; also what an agent
/// run that was asked for its stage's snapshot does first.
pub(crate) async fn take_snapshot(project: PathBuf, task: SnapshotTask) -> Result<Snapshot, ActivityError> {
    blocking("snapshot", move || ct_git::snapshot(&project, &task.workflow_id, task.number, &task.stage)).await
}

/// Snapshot `number` of `workflow_id` in `project`, if it was taken.
pub(crate) async fn find_snapshot(
    project: PathBuf,
    workflow_id: String,
    number: u32,
) -> Result<Option<Snapshot>, ActivityError> {
    let listed = blocking("list snapshots", move || ct_git::list(&project, &workflow_id)).await?;
    Ok(listed.into_iter().find(|snapshot| snapshot.number == number))
}

/// Restores `reference` in `project`; also what a retried agent attempt does first.
pub(crate) async fn restore(project: PathBuf, reference: String) -> Result<RestoreReport, ActivityError> {
    blocking("restore", move || ct_git::restore(&project, &reference)).await
}

/// Runs `work` on the blocking pool inside a span named for the git `operation` (a child of
/// the activity's), so a trace shows how long the repository work itself took.
async fn blocking<T: Send + 'static>(
    operation: &'static str,
    work: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, ActivityError> {
    let span = tracing::info_span!("git", otel.name = %format!("git {operation}"), ct.git.operation = operation);
    match tokio::task::spawn_blocking(move || span.in_scope(work)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(classify(err)),
        Err(join) => Err(failure::retryable(format!("git work stopped unexpectedly: {join}"))),
    }
}

/// Problems with the project itself fail at once; passing ones are retried.
fn classify(err: GitError) -> ActivityError {
    if err.may_pass() {
        failure::retryable(err.to_string())
    } else {
        failure::typed(INVALID_PROJECT, err.to_string(), true)
    }
}
