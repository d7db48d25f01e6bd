//! The activities by name, input and output, without their bodies: the workflow worker
//! calls these, the executor and the test-runner implement them
//! (`#[activity(name = names::…)]`), and [`crate::implements`] makes the compiler check that
//! both sides agree on input and output.

#![allow(unreachable_pub)]

use ct_domain::git::{
    ConcludeOutcome, FeatureWorktree, IntegrationWorktree, MergeOutcome, PredictedConflict, RestoreReport, Snapshot,
};
use ct_domain::integration::Landing;
use temporalio_macros::activity_definitions;
use temporalio_sdk::activities::ActivityError;

use crate::names;
use crate::tasks::{
    AgentReport, AgentTask, CommitTask, ConcludeTask, ConflictsTask, IntegrationWorktreeTask, LandTask, MergeTask,
    RemoveWorktreeTask, ResetTask, RestoreTask, SnapshotTask, TestReport, TestTask, WorktreesTask,
};

/// The agent and test runs of a stage.
pub struct StageActivities;

#[activity_definitions]
impl StageActivities {
    /// Runs the coding agent once, on an executor (agents queue).
    #[activity(name = names::RUN_AGENT)]
    pub fn run_agent(task: AgentTask) -> Result<AgentReport, ActivityError> {
        unimplemented!()
    }

    /// Runs the project's tests once, on a test-runner (tests queue).
    #[activity(name = names::RUN_TESTS)]
    pub fn run_tests(task: TestTask) -> Result<TestReport, ActivityError> {
        unimplemented!()
    }
}

/// Git work on the project's files, where the files are (files queue).
pub struct WorkspaceActivities;

#[activity_definitions]
impl WorkspaceActivities {
    /// Records the whole work tree as a snapshot commit under the workflow's refs.
    #[activity(name = names::SNAPSHOT)]
    pub fn snapshot(task: SnapshotTask) -> Result<Snapshot, ActivityError> {
        unimplemented!()
    }

    /// Puts the work tree back as a snapshot holds it.
    #[activity(name = names::RESTORE)]
    pub fn restore(task: RestoreTask) -> Result<RestoreReport, ActivityError> {
        unimplemented!()
    }

    /// One branch and worktree per feature, all or none.
    #[activity(name = names::CREATE_WORKTREES)]
    pub fn create_worktrees(task: WorktreesTask) -> Result<Vec<FeatureWorktree>, ActivityError> {
        unimplemented!()
    }

    /// Commits everything in a feature worktree onto its branch.
    #[activity(name = names::COMMIT_WORKTREE)]
    pub fn commit_worktree(task: CommitTask) -> Result<Option<String>, ActivityError> {
        unimplemented!()
    }

    #[activity(name = names::REMOVE_WORKTREE)]
    pub fn remove_worktree(task: RemoveWorktreeTask) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// The pairs of branches whose merge would conflict, from in-memory merges.
    #[activity(name = names::PREDICT_CONFLICTS)]
    pub fn predict_conflicts(task: ConflictsTask) -> Result<Vec<PredictedConflict>, ActivityError> {
        unimplemented!()
    }

    /// The integration branch, in a worktree of its own, from where the branches forked.
    #[activity(name = names::CREATE_INTEGRATION_WORKTREE)]
    pub fn create_integration_worktree(task: IntegrationWorktreeTask) -> Result<IntegrationWorktree, ActivityError> {
        unimplemented!()
    }

    /// Merges a branch into the integration worktree; a conflict is left as markers.
    #[activity(name = names::MERGE_BRANCH)]
    pub fn merge_branch(task: MergeTask) -> Result<MergeOutcome, ActivityError> {
        unimplemented!()
    }

    /// Commits a conflicted merge once no conflict marker is left.
    #[activity(name = names::CONCLUDE_MERGE)]
    pub fn conclude_merge(task: ConcludeTask) -> Result<ConcludeOutcome, ActivityError> {
        unimplemented!()
    }

    /// Moves the integration branch back to an earlier commit (a feature held back).
    #[activity(name = names::RESET_INTEGRATION)]
    pub fn reset_integration(task: ResetTask) -> Result<String, ActivityError> {
        unimplemented!()
    }

    /// Fast-forwards the user's branch to the integration branch, when it may.
    #[activity(name = names::LAND)]
    pub fn land(task: LandTask) -> Result<Landing, ActivityError> {
        unimplemented!()
    }
}
