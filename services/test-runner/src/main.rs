use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// Runs the projects' tests for claude-temporal: polls the tests task queue of Temporal, one
/// test run per activity slot, and serves an authenticated control API.
#[derive(Parser)]
#[command(name = "ct-test-runner", version)]
struct Args {
    /// Temporal frontend address (host:port).
    #[arg(long, env = "TEMPORAL_ADDRESS", default_value = "127.0.0.1:7233")]
    temporal_address: String,
    #[arg(long, env = "TEMPORAL_NAMESPACE", default_value = "default")]
    namespace: String,
    /// The workflow worker's task queue; this test-runner polls `<it>.tests`.
    #[arg(long, env = "TEMPORAL_TASK_QUEUE", default_value = "claude-temporal")]
    task_queue: String,

    /// Directories projects may live in, `:`-separated; anything else is refused.
    #[arg(long = "workspace-root", env = "CT_WORKSPACE_ROOTS", value_delimiter = ':', required = true)]
    workspace_roots: Vec<PathBuf>,

    /// Test runs at once (its activity slots); more wait in Temporal's queue.
    #[arg(long, env = "TEST_RUNNER_MAX_CONCURRENT", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_concurrent: u32,

    /// Timeout for a run whose request gives none.
    #[arg(long, env = "TEST_TIMEOUT", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    default_timeout_secs: u64,

    /// Longest test run allowed, in seconds, whatever a workflow asks.
    #[arg(long, env = "TEST_MAX_TIMEOUT", value_parser = clap::value_parser!(u64).range(1..))]
    max_timeout_secs: Option<u64>,

    /// Python interpreter for pytest when a project has no .venv/bin/python [default: python3 on PATH].
    #[arg(long, env = "PYTHON")]
    python: Option<PathBuf>,

    /// Address of the control API (port 0 picks a free one). Binding beyond loopback needs a
    /// token given through CT_CONTROL_TOKEN or --control-token-file.
    #[arg(long, env = "CT_TEST_RUNNER_LISTEN", default_value = "127.0.0.1:50062")]
    listen: std::net::SocketAddr,

    /// Write the control API's port to this file once the test-runner polls.
    #[arg(long)]
    port_file: Option<PathBuf>,

    /// File holding the control API's token; made (mode 0600) when missing and the address is
    /// loopback [default: the system temp dir's ct-test-runner.token].
    #[arg(long, env = "CT_CONTROL_TOKEN_FILE")]
    control_token_file: Option<PathBuf>,

    /// Seconds running tests get after SIGTERM before they are killed and retried elsewhere.
    #[arg(long, env = "TEST_RUNNER_SHUTDOWN_GRACE", default_value_t = 2)]
    grace_secs: u64,
}

#[tokio::main]
async fn main() {
    ct_telemetry::init("ct-test-runner");
    let args: Args = ct_telemetry::parse_args();
    let config = ct_test_runner::Config {
        default_timeout: Duration::from_secs(args.default_timeout_secs),
        max_timeout: args.max_timeout_secs.map(Duration::from_secs),
        roots: ct_fleet::WorkspaceRoots::new(args.workspace_roots).unwrap_or_else(|e| bad_setting(&e)),
        capacity: args.max_concurrent as usize,
        python: args.python,
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))
        .unwrap_or_else(|e| bad_setting(&format!("{e:#}")));
    let addr = listener.local_addr().unwrap_or_else(|e| bad_setting(&e));
    let token_file = args
        .control_token_file
        .unwrap_or_else(|| std::env::temp_dir().join("ct-test-runner.token"));
    let control_token = ct_fleet::ControlToken::resolve(std::env::var("CT_CONTROL_TOKEN").ok(), &token_file, addr)
        .unwrap_or_else(|e| bad_setting(&e));
    let fleet = ct_test_runner::Fleet {
        temporal: ct_fleet::TemporalTarget { address: args.temporal_address, namespace: args.namespace },
        task_queue: ct_contracts::tests_queue(&args.task_queue),
        control_token,
        grace: Duration::from_secs(args.grace_secs),
    };

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_telemetry::cancel_on_signal(shutdown.clone()));
    let port_file = args.port_file;
    let ran = ct_test_runner::run(config, fleet, listener, shutdown, |_| {
        ct_telemetry::announce_port(port_file.as_deref(), addr.port())
    })
    .await;
    if let Err(err) = ran {
        ct_telemetry::exit_with("ct-test-runner", 1, &err);
    }
    tracing::info!("stopped");
}

fn bad_setting(err: &dyn std::fmt::Display) -> ! {
    ct_telemetry::exit_with("ct-test-runner", 64, err)
}
