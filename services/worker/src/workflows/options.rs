//! Activity options of the stages: timeouts, heartbeats and retry policies.

use std::time::Duration;

use temporalio_common::RetryPolicy;
use temporalio_sdk::{ActivityCancellationType, ActivityExecutionError, ActivityOptions};

use ct_contracts::failure::NON_RETRYABLE_ERROR_TYPES;
use ct_domain::AgentSettings;

/// How long a dead service's activity goes unnoticed, unless the workflow says otherwise. It is
/// also the service's lease: one that cannot heartbeat for nearly this long kills its run, so a
/// retried attempt never overlaps the one it replaces. Long enough that a stall of the server
/// kills nothing; heartbeats go out every few seconds, and a cancel reaches an agent at once
/// through `agent.stopping`.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(45);
/// Room for the executor's own timeout to fire and report before Temporal's does.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(60);
/// Attempts of one scheduling of an agent run: those its agent may fail, and room for runs lost
/// with their executor (which do not count as the agent's); when the last one is lost too, the
/// workflow schedules the run again.
pub(super) const AGENT_ATTEMPTS: u32 = AGENT_FAILURES_ALLOWED * 2;
/// Attempts the agent may fail; the executor fails the one past them for good.
pub(super) const AGENT_FAILURES_ALLOWED: u32 = 3;

fn retry_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_secs(2))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(60))
        .maximum_attempts(max_attempts)
        .non_retryable_error_types(NON_RETRYABLE_ERROR_TYPES.iter().copied())
        .build()
}

fn options(task_queue: String, limit: Duration, heartbeat: Duration, max_attempts: u32) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(limit + TIMEOUT_MARGIN)
        .task_queue(task_queue)
        .heartbeat_timeout(heartbeat)
        // Without this the workflow moves on while the agent is still being killed.
        .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
        .retry_policy(retry_policy(max_attempts))
        .build()
}

/// An agent run, on an executor. It waits in the agents queue, with no schedule-to-start
/// limit, until an executor has a free slot: a busy fleet delays work, never fails it.
pub(super) fn agent(workflow_queue: &str, settings: &AgentSettings) -> ActivityOptions {
    let heartbeat = match settings.heartbeat_timeout_secs {
        0 => HEARTBEAT_TIMEOUT,
        secs => Duration::from_secs(secs),
    };
    let queue = ct_contracts::agents_queue(workflow_queue);
    options(queue, Duration::from_secs(settings.timeout_secs), heartbeat, AGENT_ATTEMPTS)
}

/// A test run, on a test-runner.
pub(super) fn tests(workflow_queue: &str, timeout_secs: u64) -> ActivityOptions {
    options(ct_contracts::tests_queue(workflow_queue), Duration::from_secs(timeout_secs), HEARTBEAT_TIMEOUT, 2)
}

/// Git work on the project's files, where they are: seconds normally, retried a few times
/// in case a concurrent git command holds a lock.
pub(super) fn workspace(workflow_queue: &str) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(120))
        .task_queue(ct_contracts::files_queue(workflow_queue))
        .retry_policy(retry_policy(3))
        .build()
}

/// Like [`workspace`], but it runs even when the workflow is being cancelled: cleanup.
pub(super) fn workspace_cleanup(workflow_queue: &str) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(120))
        .task_queue(ct_contracts::files_queue(workflow_queue))
        .retry_policy(retry_policy(3))
        .cancellation_token(temporalio_sdk::WorkflowCancellationToken::new())
        .build()
}

/// "`what` failed: " and the most specific message of the activity failure.
pub(super) fn activity_failed(what: &str, err: &ActivityExecutionError) -> String {
    format!("{what} failed: {}", failure_message(err))
}

/// The most specific message of an activity failure: the application error
/// the activity raised, not the "activity task failed" wrapper around it.
pub(super) fn failure_message(err: &ActivityExecutionError) -> String {
    let Some(mut failure) = err.failure() else {
        return err.to_string();
    };
    let mut message = failure.message.clone();
    while let Some(cause) = failure.cause.as_deref() {
        if !cause.message.is_empty() {
            message = cause.message.clone();
        }
        failure = cause;
    }
    message
}
