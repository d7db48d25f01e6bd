//! An agent run as every workflow schedules it. Temporal retries a failed attempt a few times;
//! a run whose last attempt was lost with its executor (killed, cut off from Temporal) is
//! scheduled again, from the stage's snapshot, so that crashes in the fleet do not use up the
//! attempts a failing agent gets.

use ct_contracts::{AgentReport, AgentTask, StageActivities};
use ct_domain::spend::{AttemptSpend, RunHeartbeat};
use temporalio_common::error::IncomingError;
use temporalio_sdk::{ActivityExecutionError, TimeoutType, WorkflowContext};

use super::options;

/// Marks histories in which a run lost with its executor is scheduled again. Histories
/// recorded before it fail the stage, as they did.
const RESCHEDULE_PATCH: &str = "reschedule-lost-agent-runs";

/// Schedulings after the first whose attempts were all lost with their executors; past them
/// the stage fails (something keeps killing the executors).
const LOST_RUN_RESCHEDULES: u32 = 5;

pub(super) async fn run_agent<W>(
    ctx: &WorkflowContext<W>,
    mut task: AgentTask,
) -> Result<AgentReport, ActivityExecutionError> {
    let mut rescheduled = 0;
    loop {
        let options = options::agent(ctx.task_queue(), task.settings.timeout_secs);
        let outcome = ctx.execute_activity(StageActivities::run_agent, task.clone(), options).await;
        match outcome {
            Err(err) if lost_with_its_executor(&err) && rescheduled < LOST_RUN_RESCHEDULES && ctx.patched(RESCHEDULE_PATCH) => {
                rescheduled += 1;
                task.earlier_attempts += options::AGENT_ATTEMPTS;
                task.earlier_spend = attempts_of(&err);
                tracing::warn!(
                    run_id = %task.run_id,
                    rescheduled,
                    "every attempt of the agent run lost its executor; scheduling it again from the snapshot"
                );
            }
            outcome => return outcome,
        }
    }
}

/// Whether the run's last attempt ended because no heartbeat came: its executor died or lost
/// Temporal. An agent that failed reports a failure of its own instead.
fn lost_with_its_executor(err: &ActivityExecutionError) -> bool {
    let ActivityExecutionError::Failed(failure) = err else {
        return false;
    };
    failure.as_timeout().is_some_and(|timeout| timeout.timeout_type() == TimeoutType::Heartbeat)
}

/// Whether the run was stopped at the model response that took it past its budget.
pub(super) fn over_budget(err: &ActivityExecutionError) -> bool {
    let ActivityExecutionError::Failed(failure) = err else {
        return false;
    };
    matches!(failure.cause(), Some(IncomingError::Application(application))
        if application.type_name() == Some(ct_contracts::failure::AGENT_OVER_BUDGET))
}

/// Every attempt a failed agent run made, with what each used: carried by the executor's
/// failure, or by the last heartbeat when the last attempt was lost. Empty when neither says.
pub(super) fn attempts_of(err: &ActivityExecutionError) -> Vec<AttemptSpend> {
    let failure = match err {
        ActivityExecutionError::Failed(failure) => failure,
        ActivityExecutionError::Cancelled(cancelled) => {
            return cancelled.details::<Vec<AttemptSpend>>().ok().flatten().unwrap_or_default();
        }
        _ => return Vec::new(),
    };
    let attempts = match failure.cause() {
        Some(IncomingError::Application(application)) => application.details::<Vec<AttemptSpend>>(),
        Some(IncomingError::Timeout(timeout)) => {
            timeout.last_heartbeat_details::<RunHeartbeat>().map(|details| details.map(RunHeartbeat::into_attempts))
        }
        _ => Ok(None),
    };
    attempts
        .inspect_err(|err| tracing::warn!(%err, "cannot read the failed agent run's figures"))
        .ok()
        .flatten()
        .unwrap_or_default()
}
