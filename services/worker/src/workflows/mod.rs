//! Workflow definitions. Code here must stay deterministic: time from the
//! workflow context, no I/O, no randomness; everything else is an activity.

/// Workflows whose state holds a [`ct_domain::WorkflowStatus`]: where budgets and waits show.
pub(crate) trait HasStatus {
    fn status(&self) -> &ct_domain::WorkflowStatus;
    fn status_mut(&mut self) -> &mut ct_domain::WorkflowStatus;
}

/// Implements [`HasStatus`] for workflows that keep it in their `status` field.
macro_rules! has_status {
    ($($workflow:ty),+) => {
        $(impl HasStatus for $workflow {
            fn status(&self) -> &ct_domain::WorkflowStatus {
                &self.status
            }

            fn status_mut(&mut self) -> &mut ct_domain::WorkflowStatus {
                &mut self.status
            }
        })+
    };
}

mod agent_run;
mod budget;
mod clock;
mod develop;
mod events;
mod feature;
mod gate;
mod iterate;
mod options;
mod parallel;
mod record;
mod snapshots;
mod spans;

pub use develop::DevelopWorkflow;
pub use feature::{FeatureTask, FeatureWorkflow};
pub use iterate::IterateWorkflow;
pub use parallel::ParallelWorkflow;

/// The failure a workflow ends with: its message is what `status` and `result` show.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct WorkflowError(pub(super) String);
