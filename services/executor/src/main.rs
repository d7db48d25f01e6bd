//! `ct-executor`: serves `Executor::RunAgent` over gRPC.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// Runs the Claude Code CLI for claude-temporal workers.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to serve gRPC on (port 0 picks a free one).
    #[arg(long, env = "CT_EXECUTOR_LISTEN", default_value = "127.0.0.1:50061")]
    listen: String,
    /// Write the bound port to this file once listening (for scripts that start on port 0).
    #[arg(long, env = "CT_EXECUTOR_PORT_FILE")]
    port_file: Option<PathBuf>,
    /// The agent CLI: a path, or a name looked up on PATH.
    #[arg(long, env = "CLAUDE_BIN", default_value = "claude")]
    claude_bin: PathBuf,
    /// Agent runs allowed at once.
    #[arg(long, env = "EXECUTOR_MAX_CONCURRENT", default_value = "2")]
    max_concurrent: NonZeroUsize,
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
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ct_telemetry::init("ct-executor");
    let defaults = ct_executor::Config::default();
    let config = ct_executor::Config {
        claude_bin: args.claude_bin,
        max_concurrent: args.max_concurrent.get(),
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
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    if let Some(port_file) = &args.port_file {
        ct_telemetry::write_port_file(port_file, addr.port())
            .with_context(|| format!("cannot write the port to {}", port_file.display()))?;
    }
    tracing::info!("listening on {addr}");

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_telemetry::cancel_on_signal(shutdown.clone()));
    ct_executor::serve(listener, config, shutdown).await?;
    Ok(())
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
