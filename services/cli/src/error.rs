//! Errors that decide the process exit code.

use std::process::ExitCode;

/// An error with the exit code it deserves and a message that says what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    UnknownWorkflow(String),
    #[error("{0}")]
    Unreachable(String),
    /// The workflow ended without success; the message says how.
    #[error("{0}")]
    WorkflowUnsuccessful(String),
}

impl CliError {
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::WorkflowUnsuccessful(_) => 1,
            Self::BadInput(_) => 2,
            Self::UnknownWorkflow(_) => 3,
            Self::Unreachable(_) => 4,
        })
    }
}

/// The exit code for any error: ours carry one, anything else is a plain failure.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    err.downcast_ref::<CliError>().map_or(ExitCode::FAILURE, CliError::exit_code)
}
