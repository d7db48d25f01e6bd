//! Workflow definitions. Code here must stay deterministic: time from the
//! workflow context, no I/O, no randomness; everything else is an activity.

mod develop;
mod options;

pub use develop::DevelopWorkflow;
