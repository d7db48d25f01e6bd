//! What can go wrong before an agent run starts, and how each case reaches the gRPC client.
//!
//! Failures of the agent itself are not errors: they end the stream with an `AgentResult`
//! whose `failure` says what happened.

use std::io;
use std::path::PathBuf;

use tonic::Status;

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

    #[error("`git` could not be run ({0}): install git and make sure it is on PATH")]
    GitMissing(io::Error),

    #[error("`git {command}` failed in {dir}: {stderr}")]
    Git {
        command: String,
        dir: PathBuf,
        stderr: String,
    },

    #[error("executor at capacity ({limit} runs in flight): retry on another executor or later")]
    AtCapacity { limit: usize },

    #[error("cannot prepare the run directory under {dir}: {source}")]
    RunDir { dir: PathBuf, source: io::Error },

    #[error("cannot start the agent CLI {bin}: {source}")]
    Spawn { bin: PathBuf, source: io::Error },

    #[error(
        "the prompt runs slash command `{command}`, but no command file {file} exists (looked in \
         {looked}); available: {available}"
    )]
    UnknownCommand {
        command: String,
        file: String,
        looked: String,
        available: String,
    },

    #[error("{0}")]
    Library(String),

    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let message = err.to_string();
        match err {
            Error::InvalidRequest(_)
            | Error::InvalidProjectPath { .. }
            | Error::UnknownCommand { .. } => {
                Status::invalid_argument(message)
            }
            Error::CliNotFound { .. } | Error::GitMissing(_) => {
                Status::failed_precondition(message)
            }
            Error::AtCapacity { .. } => Status::resource_exhausted(message),
            Error::Git { .. }
            | Error::RunDir { .. }
            | Error::Spawn { .. }
            | Error::Library(_)
            | Error::Transport(_) => Status::internal(message),
        }
    }
}
