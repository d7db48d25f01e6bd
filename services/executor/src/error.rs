//! What can go wrong before an agent run starts, and how each case fails the activity.
//!
//! Failures of the agent itself are not errors: they end the run's events with a `RunResult`
//! whose `failure` says what happened.

use std::io;
use std::path::PathBuf;

use ct_contracts::failure::{self, AGENT_FAILED, AGENT_UNAVAILABLE, INVALID_PROJECT, NOT_ALLOWED};
use temporalio_sdk::activities::ActivityError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    #[error("project path {path:?} {problem}")]
    InvalidProjectPath { path: String, problem: String },

    #[error(
        "agent CLI `{name}` not found (looked {looked}): install it with \
         `npm install -g @anthropic-ai/claude-code@2.1.331` or set CLAUDE_BIN"
    )]
    CliNotFound { name: String, looked: String },

    #[error(transparent)]
    Project(#[from] ct_git::GitError),

    #[error("git work on the project stopped unexpectedly: {0}")]
    GitStopped(String),

    #[error(transparent)]
    OutsideRoots(#[from] ct_fleet::RootsError),

    #[error("model `{model}` is not allowed on this executor (EXECUTOR_ALLOWED_MODELS: {allowed})")]
    ModelNotAllowed { model: String, allowed: String },

    #[error("cannot prepare the run directory under {dir}: {source}")]
    RunDir { dir: PathBuf, source: io::Error },

    #[error(transparent)]
    Confine(ct_confine::Error),

    #[error("cannot start the agent CLI {bin}: {source}")]
    Spawn { bin: PathBuf, source: io::Error },

    #[error(
        "the prompt runs slash command `{command}`, but no command file {file} exists (looked in \
         {looked}); available: {available}"
    )]
    UnknownCommand { command: String, file: String, looked: String, available: String },

    #[error("{0}")]
    Library(String),

    #[error(transparent)]
    Temporal(#[from] ct_service::ConnectError),

    #[error(transparent)]
    Worker(#[from] ct_fleet::WorkerError),

    #[error("cannot publish events: {0}")]
    Events(#[from] ct_events::Error),
}

impl Error {
    /// The activity failure type the workflow sees: problems with the request or this
    /// executor's set-up fail the stage at once (another attempt would fail the same way);
    /// anything else is retried.
    pub fn failure_type(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_)
            | Error::InvalidProjectPath { .. }
            | Error::OutsideRoots(ct_fleet::RootsError::Missing { .. }) => INVALID_PROJECT,
            Error::Project(err) if !err.may_pass() => INVALID_PROJECT,
            Error::UnknownCommand { .. } | Error::CliNotFound { .. } => AGENT_UNAVAILABLE,
            Error::OutsideRoots(_) | Error::ModelNotAllowed { .. } => NOT_ALLOWED,
            _ => AGENT_FAILED,
        }
    }

    pub(crate) fn into_activity_error(self) -> ActivityError {
        let kind = self.failure_type();
        failure::typed(kind, self.to_string(), kind != AGENT_FAILED)
    }
}
