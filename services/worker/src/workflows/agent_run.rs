//! An agent run as every workflow schedules it. Temporal retries a failed attempt a few times;
//! a run whose last attempt was lost with its executor (killed, cut off from Temporal) is
//! scheduled again, from the stage's snapshot, so that crashes in the fleet do not use up the
//! attempts a failing agent gets; and a run the account's usage limit refused waits on a
//! durable timer until the limit resets, then is scheduled again, instead of burning retries.

use std::time::Duration;

use futures::FutureExt as _;

use ct_contracts::{AgentReport, AgentTask, StageActivities};
use ct_domain::UsageLimitWait;
use ct_domain::spend::{AttemptSpend, RunHeartbeat};
use ct_events::EventData;
use ct_events::data::AgentStopping;
use temporalio_common::error::IncomingError;
use temporalio_sdk::{ActivityExecutionError, CancellableFuture, TimeoutType, WorkflowContext};

use super::{HasStatus, options};

/// Marks histories in which a run lost with its executor is scheduled again. Histories
/// recorded before it fail the stage, as they did.
const RESCHEDULE_PATCH: &str = "reschedule-lost-agent-runs";

/// Marks histories in which a run an executor handed back (`RunLost`) counts as lost with it.
const RUN_LOST_PATCH: &str = "run-lost-is-lost";

/// Marks histories in which a cancel sends `agent.stopping`. Histories recorded before it go on
/// without the event.
const STOPPING_EVENT_PATCH: &str = "agent-stopping-event";

/// Schedulings after the first whose attempts were all lost with their executors; past them
/// the stage fails (something keeps killing the executors).
const LOST_RUN_RESCHEDULES: u32 = 5;

/// The longest a run waits for a usage limit to reset (a 5-hour window fits; a weekly limit
/// days away fails the stage, saying when it resets).
const USAGE_LIMIT_MAX_WAIT: Duration = Duration::from_secs(6 * 3600);
/// Waited past the announced reset, for clocks that disagree.
const USAGE_LIMIT_MARGIN: Duration = Duration::from_secs(5);
/// Waits for a usage limit in one run; past them the stage fails.
const USAGE_LIMIT_WAITS: u32 = 10;

pub(super) async fn run_agent<W: HasStatus>(
    ctx: &WorkflowContext<W>,
    mut task: AgentTask,
) -> Result<AgentReport, ActivityExecutionError> {
    let mut rescheduled = 0;
    let mut limit_waits = 0;
    task.failures_allowed = options::AGENT_FAILURES_ALLOWED;
    #[cfg(feature = "upgrade-rehearsal")]
    super::rehearsal::mark(ctx, &mut task).await;
    loop {
        let options = options::agent(ctx.task_queue(), &task.settings);
        let run = ctx.execute_activity(StageActivities::run_agent, task.clone(), options);
        let (_, outcome) =
            temporalio_sdk::workflows::join!(super::events::settle(ctx), announcing_a_cancel(ctx, task.stage(), run));
        let err = match outcome {
            Err(err) => err,
            outcome => return outcome,
        };
        // A cancelled workflow schedules nothing more, whatever ended the run.
        if ctx.cancellation_token().is_cancelled() {
            return Err(err);
        }
        // Workers from before `RunLost` failed the stage on it; their histories must replay so.
        let cause = cause_of(&err, || ctx.patched(RUN_LOST_PATCH));
        match after_failure(&cause, rescheduled, limit_waits) {
            // The patch is asked only here, as before it existed, so older histories replay.
            AfterFailure::Reschedule if ctx.patched(RESCHEDULE_PATCH) => {
                rescheduled += 1;
                task.earlier_attempts += options::AGENT_ATTEMPTS;
                task.earlier_spend = attempts_of(&err);
                tracing::warn!(
                    run_id = %task.run_id,
                    rescheduled,
                    "every attempt of the agent run lost its executor; scheduling it again from the snapshot"
                );
            }
            AfterFailure::WaitForReset(wait) => {
                limit_waits += 1;
                let attempts = attempts_of(&err);
                task.earlier_attempts = attempts.last().map_or(task.earlier_attempts, |a| a.attempt);
                task.earlier_spend = attempts;
                wait_for_reset(ctx, &task, wait, options::failure_message(&err)).await;
                if ctx.cancellation_token().is_cancelled() {
                    return Err(err);
                }
            }
            AfterFailure::Reschedule | AfterFailure::Fail => return Err(err),
        }
    }
}

/// Waits for the agent run; when the workflow is cancelled meanwhile (the SDK asks Temporal to
/// cancel the run in the same task), emits `agent.stopping`, which reaches the run's executor
/// at once: it confirms with Temporal and stops the agent without waiting for its next
/// heartbeat, which may be seconds away.
async fn announcing_a_cancel<W: HasStatus, T>(
    ctx: &WorkflowContext<W>,
    stage: &str,
    run: impl std::future::Future<Output = T>,
) -> T {
    let mut run = std::pin::pin!(run.fuse());
    temporalio_sdk::workflows::select! {
        outcome = run.as_mut() => return outcome,
        _ = ctx.cancelled().fuse() => {},
    };
    // The patch is asked only here, so that the histories of runs never cancelled carry none.
    if ctx.patched(STOPPING_EVENT_PATCH) {
        let stopping = AgentStopping { workflow_id: ctx.workflow_id().to_owned(), stage: stage.to_owned() };
        super::events::emit(ctx, EventData::AgentStopping(stopping)).await;
    }
    run.await
}

/// Why a scheduling of a run failed, as far as what happens next depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// Its last attempt's executor died or lost Temporal.
    LostWithExecutor,
    /// The account's usage limit refused it; it resets in the given time.
    UsageLimit(Duration),
    /// The agent failed, or anything else: retrying is Temporal's business, and it is done.
    Other,
}

/// What a workflow does after a scheduling of a run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterFailure {
    /// Schedule the run again, from the stage's snapshot.
    Reschedule,
    /// Wait this long on a durable timer, then schedule it again.
    WaitForReset(Duration),
    /// Fail the stage with the error.
    Fail,
}

/// Why `err` ended the scheduling; `run_lost_counts` is asked only for a `RunLost` failure.
fn cause_of(err: &ActivityExecutionError, run_lost_counts: impl FnOnce() -> bool) -> Cause {
    if timed_out_without_heartbeat(err) || (handed_back(err) && run_lost_counts()) {
        Cause::LostWithExecutor
    } else {
        usage_limit_resets_in(err).map_or(Cause::Other, Cause::UsageLimit)
    }
}

/// The decision after `cause`, given the run was already `rescheduled` and waited `limit_waits`
/// times for a usage limit.
fn after_failure(cause: &Cause, rescheduled: u32, limit_waits: u32) -> AfterFailure {
    match *cause {
        Cause::LostWithExecutor if rescheduled < LOST_RUN_RESCHEDULES => AfterFailure::Reschedule,
        Cause::UsageLimit(resets_in) if limit_waits < USAGE_LIMIT_WAITS => {
            let wait = resets_in + USAGE_LIMIT_MARGIN;
            if wait > USAGE_LIMIT_MAX_WAIT { AfterFailure::Fail } else { AfterFailure::WaitForReset(wait) }
        }
        _ => AfterFailure::Fail,
    }
}

/// Sleeps on a Temporal timer (it survives worker restarts) until the limit resets, with the
/// wait in the workflow's status.
/// The stage's figures show what its attempts spent so far.
async fn wait_for_reset<W: HasStatus>(ctx: &WorkflowContext<W>, task: &AgentTask, wait: Duration, message: String) {
    let now = ctx.workflow_time().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    let until = chrono::DateTime::<chrono::Utc>::from(now + wait).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    tracing::info!(run_id = %task.run_id, %until, "the agent's usage limit refused the run; waiting for its reset");
    let stage = task.stage().to_owned();
    ctx.state_mut(|s| {
        let status = s.status_mut();
        if let Some(shown) = status.stages.iter_mut().find(|shown| shown.name == stage) {
            super::record::record_attempts(shown, task.earlier_spend.clone());
            status.refresh_totals();
        }
        status.usage_limit = Some(UsageLimitWait { stage, until, message });
    });
    super::events::settle(ctx).await;
    let mut timer = ctx.timer(wait);
    // The condition never holds: it is there to end the wait at once when the workflow is
    // cancelled.
    let cancelled = temporalio_sdk::workflows::select! {
        _ = ctx.wait_condition(|_| false) => true,
        _ = timer => false,
    };
    if cancelled {
        timer.cancel();
    }
    ctx.state_mut(|s| s.status_mut().usage_limit = None);
}

/// How long until the usage limit that refused the run resets, when that is why it failed.
fn usage_limit_resets_in(err: &ActivityExecutionError) -> Option<Duration> {
    let ActivityExecutionError::Failed(failure) = err else {
        return None;
    };
    match failure.cause() {
        Some(IncomingError::Application(application))
            if application.type_name() == Some(ct_contracts::failure::AGENT_USAGE_LIMIT) =>
        {
            Some(application.next_retry_delay().unwrap_or_default())
        }
        _ => None,
    }
}

/// Whether the run's last attempt ended because no heartbeat came: its executor died or lost
/// Temporal.
fn timed_out_without_heartbeat(err: &ActivityExecutionError) -> bool {
    let ActivityExecutionError::Failed(failure) = err else {
        return false;
    };
    failure.as_timeout().is_some_and(|timeout| timeout.timeout_type() == TimeoutType::Heartbeat)
}

/// Whether the run's last attempt was handed back by its executor (it shut down, or lost its
/// lease): lost with it, not failed by its agent.
fn handed_back(err: &ActivityExecutionError) -> bool {
    let ActivityExecutionError::Failed(failure) = err else {
        return false;
    };
    matches!(failure.cause(), Some(IncomingError::Application(application))
        if application.type_name() == Some(ct_contracts::failure::RUN_LOST))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_lost_with_its_executor_is_rescheduled_a_bounded_number_of_times() {
        for rescheduled in 0..LOST_RUN_RESCHEDULES {
            assert_eq!(after_failure(&Cause::LostWithExecutor, rescheduled, 0), AfterFailure::Reschedule);
        }
        assert_eq!(after_failure(&Cause::LostWithExecutor, LOST_RUN_RESCHEDULES, 0), AfterFailure::Fail);
        // Waits for a usage limit do not use up the reschedulings.
        assert_eq!(after_failure(&Cause::LostWithExecutor, 0, USAGE_LIMIT_WAITS), AfterFailure::Reschedule);
    }

    #[test]
    fn a_usage_limit_is_waited_for_with_a_margin_unless_it_resets_too_late() {
        let hour = Duration::from_secs(3600);
        assert_eq!(
            after_failure(&Cause::UsageLimit(hour), 0, 0),
            AfterFailure::WaitForReset(hour + USAGE_LIMIT_MARGIN)
        );
        // A limit without a reset time is waited out by the margin alone.
        assert_eq!(
            after_failure(&Cause::UsageLimit(Duration::ZERO), 0, 0),
            AfterFailure::WaitForReset(USAGE_LIMIT_MARGIN)
        );
        let last_that_fits = USAGE_LIMIT_MAX_WAIT - USAGE_LIMIT_MARGIN;
        assert_eq!(
            after_failure(&Cause::UsageLimit(last_that_fits), 0, 0),
            AfterFailure::WaitForReset(USAGE_LIMIT_MAX_WAIT)
        );
        let weekly = Duration::from_secs(7 * 24 * 3600);
        assert_eq!(after_failure(&Cause::UsageLimit(weekly), 0, 0), AfterFailure::Fail);
        assert_eq!(after_failure(&Cause::UsageLimit(hour), 0, USAGE_LIMIT_WAITS), AfterFailure::Fail);
    }

    #[test]
    fn any_other_failure_fails_the_stage() {
        assert_eq!(after_failure(&Cause::Other, 0, 0), AfterFailure::Fail);
    }
}
