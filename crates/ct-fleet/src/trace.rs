//! Trace context for events an activity publishes: the same trace as the rest of its
//! workflow run.

use ct_events::TraceContext;
use temporalio_sdk::activities::ActivityContext;

/// The `traceparent` of an event of the workflow run this activity serves.
pub fn trace_of(ctx: &ActivityContext, event_id: &str) -> TraceContext {
    let info = ctx.info();
    TraceContext::for_workflow(
        info.workflow_id.as_deref().unwrap_or_default(),
        info.workflow_run_id.as_deref().unwrap_or_default(),
        event_id,
    )
}
