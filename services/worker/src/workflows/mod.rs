//! Workflow definitions. Code here must stay deterministic: time from the
//! workflow context, no I/O, no randomness; everything else is an activity.

mod agent_run;
mod budget;
mod develop;
mod events;
mod gate;
mod iterate;
mod options;
mod parallel;
mod snapshots;
mod spans;

pub use develop::DevelopWorkflow;
pub use iterate::IterateWorkflow;
pub use parallel::{FeatureTask, FeatureWorkflow, ParallelWorkflow};
