//! Time in workflow code: the workflow's own clock, which replays as it first ran.

use std::time::SystemTime;

use temporalio_sdk::WorkflowContext;

pub(super) fn now<W>(ctx: &WorkflowContext<W>) -> SystemTime {
    ctx.workflow_time().unwrap_or(SystemTime::UNIX_EPOCH)
}

pub(super) fn elapsed_ms(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from).map_or(0, |d| d.as_millis() as u64)
}
