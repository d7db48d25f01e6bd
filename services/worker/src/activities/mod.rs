//! Publishing workflow events: from workflow code, and (for histories recorded before it
//! did that) the one activity the worker runs itself, a local activity.
//! Agent, test and git work runs on the executors and test-runners, which poll task queues of
//! their own (see ct-contracts).

mod events;

pub use events::{EVENT_SOURCE, EmitEvent, EventActivities, publish_from_workflow, serve_workflow_events};
