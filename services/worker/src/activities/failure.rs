//! Turning gRPC statuses and agent failures into Temporal activity errors.

use temporalio_sdk::{ApplicationFailure, activities::ActivityError};
use tonic::Code;

/// Error types the retry policies must never retry: the same input fails the same way.
pub const NON_RETRYABLE_ERROR_TYPES: &[&str] = &[
    AGENT_AUTH_FAILED,
    AGENT_UNAVAILABLE,
    INVALID_PROJECT,
    AGENT_MAX_TURNS,
    NO_TEST_FRAMEWORK,
];

pub(crate) const AGENT_AUTH_FAILED: &str = "AgentAuthFailed";
pub(crate) const AGENT_UNAVAILABLE: &str = "AgentUnavailable";
pub(crate) const INVALID_PROJECT: &str = "InvalidProject";
pub(crate) const AGENT_MAX_TURNS: &str = "AgentMaxTurns";
pub(crate) const NO_TEST_FRAMEWORK: &str = "NoTestFramework";
const AGENT_FAILED: &str = "AgentFailed";
const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";

pub(crate) fn typed(type_name: &str, message: String, non_retryable: bool) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message)
            .type_name(type_name.to_owned())
            .non_retryable(non_retryable)
            .build(),
    )
}

pub(crate) fn retryable(message: String) -> ActivityError {
    typed(AGENT_FAILED, message, false)
}

/// Maps an error status of a service call. `precondition_type` names what a
/// FAILED_PRECONDITION means for that service (agent CLI missing, no test framework).
pub(crate) fn from_status(service: &str, status: &tonic::Status, precondition_type: &str) -> ActivityError {
    let message = format!("{service}: {}", status.message());
    match status.code() {
        Code::InvalidArgument => typed(INVALID_PROJECT, message, true),
        Code::FailedPrecondition => typed(precondition_type, message, true),
        Code::Unauthenticated | Code::PermissionDenied => typed(AGENT_AUTH_FAILED, message, true),
        Code::Unavailable => typed(
            SERVICE_UNAVAILABLE,
            format!("{service} unreachable: {} (is it running? `claude-temporal dev up` starts it)", status.message()),
            false,
        ),
        _ => typed(SERVICE_UNAVAILABLE, message, false),
    }
}
