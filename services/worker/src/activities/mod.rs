//! The one activity the worker runs itself: publishing workflow events (a local activity).
//! Agent, test and git work runs on the executors and test-runners, which poll task queues of
//! their own (see ct-contracts).

mod events;

pub use events::{EVENT_SOURCE, EmitEvent, EventActivities};
