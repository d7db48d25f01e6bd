//! Publishing workflow events: the one activity the worker runs itself (scheduled by workflow
//! code once per event; run locally by histories recorded before that), and the writer older
//! histories queue their events on.
//! Agent, test and git work runs on the executors and test-runners, which poll task queues of
//! their own (see ct-contracts).

mod events;

pub use events::{
    EVENT_SOURCE, EmitEvent, EventActivities, EventOrder, publish_from_workflow, serve_workflow_events,
    workflow_events_queued,
};
