//! Activity type names, as Temporal records them. They are the names the first build's
//! worker registered, so histories recorded then still replay.

pub const RUN_AGENT: &str = "StageActivities::run_agent";
pub const RUN_TESTS: &str = "StageActivities::run_tests";
pub const SNAPSHOT: &str = "WorkspaceActivities::snapshot";
pub const RESTORE: &str = "WorkspaceActivities::restore";
pub const CREATE_WORKTREES: &str = "WorkspaceActivities::create_worktrees";
pub const COMMIT_WORKTREE: &str = "WorkspaceActivities::commit_worktree";
pub const REMOVE_WORKTREE: &str = "WorkspaceActivities::remove_worktree";
