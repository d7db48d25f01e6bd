//! The executor: runs the Claude Code CLI once per `RunAgent` call in a project directory,
//! streams what the agent does, and ends with one `AgentResult` (success or a classified
//! failure, token usage and cost as the CLI reported them, and the files the run changed).
//!
//! Each run gets a scrubbed environment, a fresh HOME and TMPDIR, its own process group and a
//! parent-death signal; when the client goes away, the run times out or the executor shuts
//! down, every process of the run is killed.

mod changes;
mod classify;
mod command;
mod error;
mod library;
mod process;
mod run;
mod service;
mod transcript;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ct_proto::executor::executor_server::ExecutorServer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

pub use crate::error::Error;
use crate::run::Runner;
use crate::service::ExecutorService;

#[derive(Clone)]
pub struct Config {
    /// The agent CLI: a path, or a name looked up on PATH.
    pub claude_bin: PathBuf,
    /// Runs allowed at once; further requests get RESOURCE_EXHAUSTED.
    pub max_concurrent: usize,
    /// Model for requests that name none; empty leaves the CLI's default.
    pub model: String,
    /// Turn limit for requests that set none.
    pub max_turns: u32,
    /// Wall-clock limit for requests that set none.
    pub timeout: Duration,
    /// Where each run's private HOME and TMPDIR are created (and removed afterwards).
    pub state_dir: PathBuf,
    /// `CLAUDE_CODE_MAX_RETRIES` for the CLI, unless the environment already sets it.
    pub max_retries: u32,
    /// A Claude login (`.credentials.json`) copied into every run's HOME when it exists.
    pub credentials_file: Option<PathBuf>,
    /// Variables given to every run on top of those passed through from the executor's own
    /// environment (which is otherwise scrubbed).
    pub extra_env: Vec<(String, String)>,
    /// When set, each run's raw stream-json output is kept as `<dir>/<run id>.jsonl`, an
    /// audit trail of what the agent did and what the CLI reported.
    pub transcript_dir: Option<PathBuf>,
    /// The command library (`<category>/<name>.md`), copied into every run's HOME so that
    /// stages can run its slash commands without touching the user's repository.
    pub commands_dir: Option<PathBuf>,
    /// The `claude-temporal` binary, registered in every run's HOME as the prompt-submit hook
    /// (`claude-temporal hook prompt-submit`) that adds the project's context to prompts.
    pub hook_bin: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            claude_bin: PathBuf::from("claude"),
            max_concurrent: 2,
            model: String::new(),
            max_turns: 30,
            timeout: Duration::from_secs(1800),
            state_dir: std::env::temp_dir(),
            max_retries: 2,
            credentials_file: std::env::var_os("HOME").map(|home| {
                PathBuf::from(home)
                    .join(".claude")
                    .join(".credentials.json")
            }),
            extra_env: Vec::new(),
            transcript_dir: None,
            commands_dir: None,
            hook_bin: None,
        }
    }
}

// Written out so that the values of `extra_env` (API keys) never reach a log.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra_env: Vec<&str> = self
            .extra_env
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        f.debug_struct("Config")
            .field("claude_bin", &self.claude_bin)
            .field("max_concurrent", &self.max_concurrent)
            .field("model", &self.model)
            .field("max_turns", &self.max_turns)
            .field("timeout", &self.timeout)
            .field("state_dir", &self.state_dir)
            .field("max_retries", &self.max_retries)
            .field("credentials_file", &self.credentials_file)
            .field("extra_env", &extra_env)
            .field("transcript_dir", &self.transcript_dir)
            .field("commands_dir", &self.commands_dir)
            .field("hook_bin", &self.hook_bin)
            .finish()
    }
}

/// Serves the executor on `listener` until `shutdown` is cancelled; running agents are then
/// stopped and their streams end with UNAVAILABLE.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    library::check(config.commands_dir.as_deref(), config.hook_bin.as_deref())?;
    tracing::info!(
        commands_dir = ?config.commands_dir,
        hook_bin = ?config.hook_bin,
        "agent runs get this command library and prompt hook"
    );
    std::fs::create_dir_all(&config.state_dir).map_err(|source| Error::RunDir {
        dir: config.state_dir.clone(),
        source,
    })?;
    let runner = Runner {
        slots: Arc::new(Semaphore::new(config.max_concurrent)),
        config,
        shutdown: shutdown.clone(),
    };
    tonic::transport::Server::builder()
        .add_service(ExecutorServer::new(ExecutorService::new(runner)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_names_extra_variables_but_hides_their_values() {
        let config = Config {
            extra_env: vec![("ANTHROPIC_API_KEY".to_owned(), "sk-secret".to_owned())],
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(shown.contains("ANTHROPIC_API_KEY"));
        assert!(!shown.contains("sk-secret"));
    }
}
