//! The contracts between the CLI, the workflow worker and the services: the workflows the
//! CLI starts ([`workflows`]) and the activities. The workflow worker schedules these
//! activities by name onto the task queues below; the executor and the test-runner implement them. Keeping the names,
//! inputs and outputs in one crate that both sides build against means a rename or a changed
//! field breaks the build, not a running workflow.
//!
//! The activity type names are the ones the first build registered (`StageActivities::…`,
//! `WorkspaceActivities::…`), so recorded histories keep replaying: Temporal checks an
//! activity's type and id on replay, not its task queue.

mod definitions;
pub mod failure;
pub mod names;
mod queues;
mod tasks;
pub mod workflows;

pub use definitions::{StageActivities, WorkspaceActivities};
pub use queues::{agents_queue, files_queue, tests_queue};
pub use tasks::{
    AgentReport, AgentTask, CommitTask, ConcludeTask, ConflictsTask, IntegrationWorktreeTask, LandTask, MergeTask,
    RefusedAccess, RemoveWorktreeTask, ResetTask, RestoreTask, SnapshotTask, TestReport, TestTask, WorktreesTask,
};

use temporalio_common::ActivityDefinition;

/// Ties an implementation to its definition: it compiles only when both take the same input
/// and give the same output, and it is an error when their names differ. Services call it for
/// each activity they register, so a drifting contract stops them at start.
pub fn implements<D, I>(definition: &D, implementation: &I) -> Result<(), String>
where
    D: ActivityDefinition,
    I: ActivityDefinition<Input = D::Input, Output = D::Output>,
{
    if definition.name() == implementation.name() {
        Ok(())
    } else {
        Err(format!(
            "activity `{}` is registered as `{}`: register it under its contract's name",
            definition.name(),
            implementation.name()
        ))
    }
}
