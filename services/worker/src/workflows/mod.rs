//! Workflow definitions. Code here must stay deterministic: time from the
//! workflow context, no I/O, no randomness; everything else is an activity.

/// Workflows whose state holds a [`ct_domain::WorkflowStatus`]: where budgets and waits show,
/// and what their events tell.
pub(crate) trait HasStatus: events::EmitsEvents {
    fn status(&self) -> &ct_domain::WorkflowStatus;
    fn status_mut(&mut self) -> &mut ct_domain::WorkflowStatus;
}

/// Implements [`HasStatus`] and [`events::EmitsEvents`] for workflows that keep their status
/// in a `status` field and their event ledger in an `events` field.
macro_rules! workflow_state {
    ($($workflow:ty),+) => {
        $(impl super::HasStatus for $workflow {
            fn status(&self) -> &ct_domain::WorkflowStatus {
                &self.status
            }

            fn status_mut(&mut self) -> &mut ct_domain::WorkflowStatus {
                &mut self.status
            }
        }

        impl super::events::EmitsEvents for $workflow {
            fn ledger(&mut self) -> &mut super::events::EventLedger {
                &mut self.events
            }
        })+
    };
}

mod agent_run;
mod budget;
mod clock;
mod develop;
mod end;
mod events;
mod feature;
mod gate;
mod integrate;
mod integration;
mod iterate;
mod options;
mod parallel;
mod record;
#[cfg(feature = "upgrade-rehearsal")]
mod rehearsal;
mod snapshots;
mod spans;

pub use develop::DevelopWorkflow;
pub use feature::{FeatureTask, FeatureWorkflow};
pub use integrate::IntegrateWorkflow;
pub use iterate::IterateWorkflow;
pub use parallel::ParallelWorkflow;

/// The build this workflow is pinned to (the one that ran its first task), when the worker polls
/// as a version of a Worker Deployment.
fn pinned_build<W>(ctx: &temporalio_sdk::WorkflowContext<W>) -> Option<String> {
    ctx.current_deployment_version().map(|version| version.build_id)
}

/// A status query's answer: the workflow's status, naming the run that answered.
fn answered(
    status: &ct_domain::WorkflowStatus,
    ctx: &temporalio_sdk::WorkflowContextView,
) -> ct_domain::WorkflowStatus {
    ct_domain::WorkflowStatus { run_id: ctx.run_id().to_owned(), ..status.clone() }
}

/// The failure a workflow ends with: its message is what `status` and `result` show.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct WorkflowError(pub(super) String);
