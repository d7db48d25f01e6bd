//! The error types activities fail with, and which of them retrying cannot fix.

use temporalio_sdk::{ApplicationFailure, activities::ActivityError};

/// Error types the retry policies must never retry: the same input fails the same way.
pub const NON_RETRYABLE_ERROR_TYPES: &[&str] = &[
    AGENT_AUTH_FAILED,
    AGENT_UNAVAILABLE,
    INVALID_PROJECT,
    AGENT_MAX_TURNS,
    NO_TEST_FRAMEWORK,
    NOT_ALLOWED,
    AGENT_OVER_BUDGET,
    AGENT_USAGE_LIMIT,
];

/// The model endpoint refused the credentials.
pub const AGENT_AUTH_FAILED: &str = "AgentAuthFailed";
/// The agent CLI is missing or a slash command it was asked to run does not exist.
pub const AGENT_UNAVAILABLE: &str = "AgentUnavailable";
/// The project path is missing, not a git repository, or in a state git work cannot start from.
pub const INVALID_PROJECT: &str = "InvalidProject";
pub const AGENT_MAX_TURNS: &str = "AgentMaxTurns";
pub const NO_TEST_FRAMEWORK: &str = "NoTestFramework";
/// The service's own limits refuse the request (a path outside its workspace roots, a model
/// it does not allow).
pub const NOT_ALLOWED: &str = "NotAllowed";
/// The agent was stopped at the model response that took its run past its budget.
pub const AGENT_OVER_BUDGET: &str = "AgentOverBudget";
/// The account's usage limit refused the run; the failure's `next_retry_delay` says how long
/// until it resets, and the workflow waits that long on a timer instead of retrying.
pub const AGENT_USAGE_LIMIT: &str = "AgentUsageLimit";
/// Anything worth another attempt: a transient API error, a timeout.
pub const AGENT_FAILED: &str = "AgentFailed";
/// The run was lost with its service, not failed by its agent: the service shut down and
/// handed it back, or lost its lease. A lost run does not use up the attempts its agent gets:
/// when the last one is lost, the workflow schedules the run again.
pub const RUN_LOST: &str = "RunLost";

pub fn typed(type_name: &str, message: String, non_retryable: bool) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message).type_name(type_name.to_owned()).non_retryable(non_retryable).build(),
    )
}

/// An agent run's failure, carrying what every attempt so far used, for the workflow to count.
pub fn with_attempts(
    type_name: &str,
    message: String,
    non_retryable: bool,
    attempts: Vec<ct_domain::spend::AttemptSpend>,
) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message)
            .type_name(type_name.to_owned())
            .non_retryable(non_retryable)
            .details(attempts)
            .build(),
    )
}

/// A run refused by a usage limit that resets in `resets_in`, with every attempt's figures.
pub fn usage_limited(
    message: String,
    resets_in: std::time::Duration,
    attempts: Vec<ct_domain::spend::AttemptSpend>,
) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message)
            .type_name(AGENT_USAGE_LIMIT.to_owned())
            .non_retryable(true)
            .next_retry_delay(resets_in)
            .details(attempts)
            .build(),
    )
}

pub fn retryable(message: String) -> ActivityError {
    typed(AGENT_FAILED, message, false)
}

pub fn non_retryable(type_name: &str, message: String) -> ActivityError {
    typed(type_name, message, true)
}
