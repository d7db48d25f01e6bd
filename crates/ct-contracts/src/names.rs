//! Names the services agree on. Activity type names, as Temporal records them, are the names
//! the first build's worker registered, so histories recorded then still replay.

pub const RUN_AGENT: &str = "StageActivities::run_agent";
pub const RUN_TESTS: &str = "StageActivities::run_tests";
pub const SNAPSHOT: &str = "WorkspaceActivities::snapshot";
pub const RESTORE: &str = "WorkspaceActivities::restore";
pub const CREATE_WORKTREES: &str = "WorkspaceActivities::create_worktrees";
pub const COMMIT_WORKTREE: &str = "WorkspaceActivities::commit_worktree";
pub const REMOVE_WORKTREE: &str = "WorkspaceActivities::remove_worktree";
pub const PREDICT_CONFLICTS: &str = "WorkspaceActivities::predict_conflicts";
pub const CREATE_INTEGRATION_WORKTREE: &str = "WorkspaceActivities::create_integration_worktree";
pub const MERGE_BRANCH: &str = "WorkspaceActivities::merge_branch";
pub const CONCLUDE_MERGE: &str = "WorkspaceActivities::conclude_merge";
pub const RESET_INTEGRATION: &str = "WorkspaceActivities::reset_integration";
pub const LAND: &str = "WorkspaceActivities::land";

/// The NATS object store bucket where agent runs leave checkpoints for a retry on any
/// executor to resume from: one object per activity, named `<workflow run id>/<activity id>`.
pub const CHECKPOINT_BUCKET: &str = "ct-checkpoints";
