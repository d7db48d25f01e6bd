//! The executor: a Temporal activity worker on the agents task queue. Each
//! `StageActivities::run_agent` activity runs the Claude Code CLI once in a project directory,
//! publishes what the agent does to NATS, and returns one result (success or a classified
//! failure, token usage and cost as the CLI reported them, and the files the run changed). It
//! also serves the git work on the project's files (snapshots, restores, worktrees), and a
//! small authenticated control API (what it is, what it runs, kill a run).
//!
//! Each run gets a scrubbed environment, a fresh HOME and TMPDIR (0700), its own process group,
//! a parent-death signal and its confinement (Landlock, `no_new_privs`, resource limits, see
//! ct-confine); when the attempt is cancelled, its lease is lost, the run times out or the
//! executor shuts down, every process of the run is killed. What leaves a run (progress,
//! transcripts, results, logs) is redacted first.

mod activity;
mod agent_telemetry;
mod attempt;
mod changes;
mod checkpoint;
mod checkpoint_store;
mod classify;
mod command;
mod configure;
mod error;
mod library;
mod limits;
mod live;
mod messages;
mod meter;
mod network;
mod outlets;
mod refused;
pub mod relay;
mod report;
mod run;
mod serve;
mod stop_notices;
mod summary;
mod tool_spans;
mod transcript;
mod workspace;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ct_confine::{AllowList, Redactor, ResourceLimits, Sandbox};
use ct_fleet::WorkspaceRoots;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use crate::configure::LocalPaths;
pub use crate::error::Error;
pub use crate::limits::Limits;
pub use crate::messages::{Checkpoint, Failure, FailureKind, Progress, RunEvent, RunRequest, RunResult, UsageSoFar};
pub use crate::network::{model_ports, url_port};
use crate::run::Runner;
pub use crate::serve::{Nats, run};

/// Where the executor's events say they come from.
pub const EVENT_SOURCE: &str = "/claude-temporal/executor";

#[derive(Clone)]
pub struct Config {
    /// The agent CLI: a path, or a name looked up on PATH.
    pub claude_bin: PathBuf,
    /// Runs at once: the activity slots this executor offers on its task queue.
    pub max_concurrent: usize,
    /// The queue of git work on the project's files (`<workflow queue>.files`), polled with
    /// slots of its own.
    pub files_queue: String,
    /// The only directories agents may work in.
    pub roots: WorkspaceRoots,
    /// Bounds on every run, whatever the workflow asks.
    pub limits: Limits,
    /// Model for requests that name none; empty leaves the CLI's default.
    pub model: String,
    /// Turn limit for requests that set none.
    pub max_turns: u32,
    /// Wall-clock limit for requests that set none.
    pub timeout: Duration,
    /// Where each run's private HOME and TMPDIR are created (and removed afterwards); runs
    /// cannot read it beyond their own directory.
    pub state_dir: PathBuf,
    /// How runs are confined, decided at start.
    pub sandbox: Sandbox,
    /// Paths runs may write besides their worktree and their own directory.
    pub writable: Vec<PathBuf>,
    /// Paths runs may not read besides the state and transcript directories: the control
    /// token, the Claude login.
    pub hidden: Vec<PathBuf>,
    /// TCP ports the agent's tools may connect to when runs have no namespaces; `None`: any.
    pub connect_ports: Option<Vec<u16>>,
    /// Hosts runs in namespaces may reach through the egress proxy; empty: none.
    pub allow_hosts: Arc<AllowList>,
    /// Per-process limits of every process of a run.
    pub run_limits: ResourceLimits,
    /// Hides the executor's secrets in everything that leaves a run; `Agents::new` adds the
    /// secret ones of `extra_env`.
    pub redactor: Arc<Redactor>,
    /// `CLAUDE_CODE_MAX_RETRIES` for the CLI, unless the environment already sets it.
    pub max_retries: u32,
    /// A Claude login (`.credentials.json`): when no API key or token is configured, its
    /// access token reaches the agent as `CLAUDE_CODE_OAUTH_TOKEN`, and nothing else of it.
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
    /// The OTLP/gRPC collector the agent CLI exports its own spans to (the executor's own,
    /// when it exports); `None` keeps the CLI's telemetry off.
    pub agent_telemetry: Option<String>,
    /// What live figures are priced at (the CLI's own figures stay the final word).
    pub prices: Arc<ct_domain::pricing::PriceTable>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            claude_bin: PathBuf::from("claude"),
            max_concurrent: 2,
            files_queue: ct_contracts::files_queue(ct_domain::DEFAULT_TASK_QUEUE),
            // Where tests make their projects; a real executor is given its roots.
            roots: WorkspaceRoots::new([std::env::temp_dir()]).unwrap_or_default(),
            limits: Limits::default(),
            model: String::new(),
            max_turns: 30,
            timeout: Duration::from_secs(1800),
            state_dir: ct_confine::default_state_dir("ct-executor"),
            sandbox: Sandbox::auto(),
            writable: Vec::new(),
            hidden: Vec::new(),
            connect_ports: None,
            allow_hosts: Arc::default(),
            agent_telemetry: None,
            prices: Arc::new(ct_domain::pricing::PriceTable::built_in()),
            run_limits: ResourceLimits::default(),
            redactor: Arc::new(Redactor::from_env([])),
            max_retries: 2,
            credentials_file: std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".claude").join(".credentials.json")),
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
        let extra_env: Vec<&str> = self.extra_env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Config")
            .field("claude_bin", &self.claude_bin)
            .field("max_concurrent", &self.max_concurrent)
            .field("roots", &self.roots)
            .field("limits", &self.limits)
            .field("model", &self.model)
            .field("max_turns", &self.max_turns)
            .field("timeout", &self.timeout)
            .field("state_dir", &self.state_dir)
            .field("sandbox", &self.sandbox)
            .field("writable", &self.writable)
            .field("hidden", &self.hidden)
            .field("connect_ports", &self.connect_ports)
            .field("allow_hosts", &self.allow_hosts)
            .field("agent_telemetry", &self.agent_telemetry)
            .field("run_limits", &self.run_limits)
            .field("max_retries", &self.max_retries)
            .field("credentials_file", &self.credentials_file)
            .field("extra_env", &extra_env)
            .field("transcript_dir", &self.transcript_dir)
            .field("commands_dir", &self.commands_dir)
            .field("hook_bin", &self.hook_bin)
            .finish()
    }
}

/// Runs agents in this process: what the `run_agent` activity does between its checks and its
/// lease, usable without Temporal.
#[derive(Debug, Clone)]
pub struct Agents {
    runner: Arc<Runner>,
}

/// A started run. Its events end with one result unless it is stopped; dropping the handle
/// stops the run too.
#[derive(Debug)]
pub struct RunHandle {
    pub events: mpsc::Receiver<RunEvent>,
    stop: CancellationToken,
    driving: tokio::task::JoinHandle<()>,
}

/// Events buffered per run before progress starts being dropped.
const EVENT_BUFFER: usize = 128;

impl Agents {
    /// Checks the command library and hook, and makes the state directory.
    pub fn new(mut config: Config) -> Result<Self, Error> {
        library::check(config.commands_dir.as_deref(), config.hook_bin.as_deref())?;
        ct_confine::make_private_dir(&config.state_dir)
            .map_err(|source| Error::RunDir { dir: config.state_dir.clone(), source })?;
        // The keys given to runs are secrets too, wherever they came from.
        config.redactor = Arc::new(config.redactor.with_vars(config.extra_env.iter().cloned()));
        Ok(Self { runner: Arc::new(Runner { config }) })
    }

    pub fn config(&self) -> &Config {
        &self.runner.config
    }

    /// Checks the request against the limits and starts the agent CLI.
    pub async fn start(&self, request: RunRequest) -> Result<RunHandle, Error> {
        let run = self.runner.start(request).await?;
        let stop = CancellationToken::new();
        let (tx, events) = mpsc::channel(EVENT_BUFFER);
        let driving = tokio::spawn(tracing::Instrument::in_current_span(run.drive(tx, stop.clone())));
        Ok(RunHandle { events, stop, driving })
    }
}

impl RunHandle {
    /// Kills every process of the run and waits until they are gone.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(err) = self.driving.await {
            tracing::error!(%err, "the run's driver failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_names_extra_variables_but_hides_their_values() {
        let config =
            Config { extra_env: vec![("ANTHROPIC_API_KEY".to_owned(), "sk-secret".to_owned())], ..Config::default() };
        let shown = format!("{config:?}");
        assert!(shown.contains("ANTHROPIC_API_KEY"));
        assert!(!shown.contains("sk-secret"));
    }
}
