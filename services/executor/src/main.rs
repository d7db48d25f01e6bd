//! `ct-executor`: runs agent activities from the agents task queue, and serves the control API.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// Runs the Claude Code CLI for claude-temporal: polls the agents task queue of Temporal, one
/// agent run per activity slot, and serves an authenticated control API.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Temporal frontend address (host:port).
    #[arg(long, env = "TEMPORAL_ADDRESS", default_value = "127.0.0.1:7233")]
    temporal_address: String,
    #[arg(long, env = "TEMPORAL_NAMESPACE", default_value = "default")]
    namespace: String,
    /// The workflow worker's task queue; this executor polls `<it>.agents`.
    #[arg(long, env = "TEMPORAL_TASK_QUEUE", default_value = "claude-temporal")]
    task_queue: String,
    /// NATS server for the agents' progress events (buffered while it is unreachable).
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Directories projects may live in, `:`-separated; anything else is refused.
    #[arg(long = "workspace-root", env = "CT_WORKSPACE_ROOTS", value_delimiter = ':', required = true)]
    workspace_roots: Vec<PathBuf>,
    /// Address of the control API (port 0 picks a free one). Binding beyond loopback needs a
    /// token given through CT_CONTROL_TOKEN or --control-token-file.
    #[arg(long, env = "CT_EXECUTOR_LISTEN", default_value = "127.0.0.1:50061")]
    listen: String,
    /// Write the control API's port to this file once the executor polls.
    #[arg(long, env = "CT_EXECUTOR_PORT_FILE")]
    port_file: Option<PathBuf>,
    /// File holding the control API's token; made (mode 0600) when missing and the address is
    /// loopback [default: <state dir>/control.token].
    #[arg(long, env = "CT_CONTROL_TOKEN_FILE")]
    control_token_file: Option<PathBuf>,
    /// The agent CLI: a path, or a name looked up on PATH.
    #[arg(long, env = "CLAUDE_BIN", default_value = "claude")]
    claude_bin: PathBuf,
    /// Agent runs at once (its activity slots); more wait in Temporal's queue.
    #[arg(long, env = "EXECUTOR_MAX_CONCURRENT", default_value = "2")]
    max_concurrent: NonZeroUsize,
    /// Longest agent run allowed, in seconds, whatever a workflow asks.
    #[arg(long, env = "EXECUTOR_MAX_TIMEOUT", value_parser = clap::value_parser!(u64).range(1..))]
    max_timeout_secs: Option<u64>,
    /// Most turns an agent run may take, whatever a workflow asks.
    #[arg(long, env = "EXECUTOR_MAX_TURNS", value_parser = clap::value_parser!(u32).range(1..))]
    turns_cap: Option<u32>,
    /// Models runs may use, comma-separated; empty allows any.
    #[arg(long, env = "EXECUTOR_ALLOWED_MODELS", value_delimiter = ',')]
    allowed_models: Vec<String>,
    /// Seconds running agents get after SIGTERM before they are killed and their attempts
    /// retried elsewhere.
    #[arg(long, env = "EXECUTOR_SHUTDOWN_GRACE", default_value_t = 2)]
    grace_secs: u64,
    /// Default model; empty uses the CLI's default.
    #[arg(long, env = "CLAUDE_MODEL", default_value = "")]
    model: String,
    /// Default turn limit per run.
    #[arg(long, env = "CLAUDE_MAX_TURNS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_turns: u32,
    /// Default wall-clock limit per run, in seconds.
    #[arg(long, env = "CLAUDE_TIMEOUT", default_value_t = 1800,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout_secs: u64,
    /// Directory for the runs' private HOME and TMPDIR (default: the system temp dir).
    #[arg(long, env = "CT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Retries the CLI itself makes on API errors (Temporal retries the whole run).
    #[arg(long, env = "CLAUDE_CODE_MAX_RETRIES", default_value_t = 2)]
    max_retries: u32,
    /// Keep each run's raw stream-json output as <DIR>/<run id>.jsonl.
    #[arg(long, env = "CT_TRANSCRIPT_DIR")]
    transcript_dir: Option<PathBuf>,
    /// The command library copied into every run's HOME (default: the repository's
    /// .claude/commands next to the build, if there is one). Empty: none.
    #[arg(long, env = "CT_COMMANDS_DIR")]
    commands_dir: Option<PathBuf>,
    /// The claude-temporal binary registered as the runs' prompt-submit hook (default: the one
    /// next to this executable, if there is one). Empty: no hook.
    #[arg(long, env = "CT_HOOK_BIN")]
    hook_bin: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    ct_telemetry::init("ct-executor");
    let args: Args = ct_telemetry::parse_args();
    let defaults = ct_executor::Config::default();
    let config = ct_executor::Config {
        claude_bin: args.claude_bin,
        max_concurrent: args.max_concurrent.get(),
        roots: ct_fleet::WorkspaceRoots::new(args.workspace_roots).unwrap_or_else(|e| bad_setting(&e)),
        limits: ct_executor::Limits {
            max_timeout: args.max_timeout_secs.map(Duration::from_secs),
            max_turns: args.turns_cap,
            allowed_models: args.allowed_models.into_iter().filter(|m| !m.is_empty()).collect(),
        },
        model: args.model,
        max_turns: args.max_turns,
        timeout: Duration::from_secs(args.timeout_secs),
        state_dir: args.state_dir.unwrap_or(defaults.state_dir),
        max_retries: args.max_retries,
        transcript_dir: args.transcript_dir,
        commands_dir: given_or_found(
            args.commands_dir,
            &[
                "../../.claude/commands",
                // The source tree this binary was built from, for builds whose target
                // directory lives elsewhere (CARGO_TARGET_DIR).
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../.claude/commands"),
            ],
        ),
        hook_bin: given_or_found(args.hook_bin, &["claude-temporal"]),
        ..defaults
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))
        .unwrap_or_else(|e| bad_setting(&format!("{e:#}")));
    let addr = listener.local_addr().unwrap_or_else(|e| bad_setting(&e));
    let token_file = args.control_token_file.unwrap_or_else(|| config.state_dir.join("control.token"));
    let control_token = ct_fleet::ControlToken::resolve(std::env::var("CT_CONTROL_TOKEN").ok(), &token_file, addr)
        .unwrap_or_else(|e| bad_setting(&e));
    let fleet = ct_executor::Fleet {
        temporal: ct_fleet::TemporalTarget { address: args.temporal_address, namespace: args.namespace },
        task_queue: ct_contracts::agents_queue(&args.task_queue),
        nats_url: args.nats_url,
        control_token,
        grace: Duration::from_secs(args.grace_secs),
    };

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_telemetry::cancel_on_signal(shutdown.clone()));
    let port_file = args.port_file;
    let ran = ct_executor::run(config, fleet, listener, shutdown, |_| {
        ct_telemetry::announce_port(port_file.as_deref(), addr.port())
    })
    .await;
    if let Err(err) = ran {
        ct_telemetry::exit_with("ct-executor", 1, &err);
    }
}

/// A path given on the command line (empty meaning none), else the first candidate that
/// exists; relative candidates are taken from this executable's directory, which holds the
/// other binaries in a build tree and in an install that keeps them together.
fn given_or_found(given: Option<PathBuf>, candidates: &[&str]) -> Option<PathBuf> {
    match given {
        Some(path) if path.as_os_str().is_empty() => None,
        Some(path) => Some(std::path::absolute(&path).unwrap_or(path)),
        None => {
            let exe = std::env::current_exe().ok()?;
            let exe_dir = exe.parent()?;
            candidates
                .iter()
                .map(|candidate| exe_dir.join(candidate))
                .find(|candidate| candidate.exists())
                .map(|found| found.canonicalize().unwrap_or(found))
        }
    }
}

fn bad_setting(err: &dyn std::fmt::Display) -> ! {
    ct_telemetry::exit_with("ct-executor", 64, err)
}
