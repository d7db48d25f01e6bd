use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ct_config::{Flag, Service, key};
use tokio_util::sync::CancellationToken;

/// Runs the projects' tests for claude-temporal: polls the tests task queue of Temporal, one
/// test run per activity slot, and serves an authenticated control API.
///
/// Settings come from the same layers as the CLI's (defaults, CLAUDE_TEMPORAL_ENV preset,
/// config file, .env, environment, these flags); `--print-config` shows them.
#[derive(Parser)]
#[command(name = "ct-test-runner", version)]
struct Args {
    #[command(flatten)]
    config: ct_config::ConfigArgs,
    #[command(flatten)]
    temporal: ct_config::TemporalArgs,
    #[command(flatten)]
    member: ct_fleet::MemberArgs,

    /// Test runs at once (its activity slots); more wait in Temporal's queue
    /// [env: TEST_RUNNER_MAX_CONCURRENT].
    #[arg(long)]
    max_concurrent: Option<String>,

    /// Timeout for a run whose request gives none, in seconds [env: TEST_TIMEOUT].
    #[arg(long)]
    default_timeout_secs: Option<String>,

    /// Longest test run allowed, in seconds, whatever a workflow asks [env: TEST_MAX_TIMEOUT].
    #[arg(long)]
    max_timeout_secs: Option<String>,

    /// Seconds running tests get after SIGTERM before they are killed and retried elsewhere
    /// [env: TEST_RUNNER_SHUTDOWN_GRACE].
    #[arg(long)]
    grace_secs: Option<String>,

    /// Python interpreter for pytest when a project has no .venv/bin/python [default: python3 on PATH].
    #[arg(long, env = "PYTHON")]
    python: Option<PathBuf>,

    /// Directory for the test runs' private HOME, TMPDIR and reports
    /// [default: <temp dir>/ct-test-runner-<uid>].
    #[arg(long, env = "CT_TEST_RUNNER_STATE_DIR")]
    state_dir: Option<PathBuf>,

    /// Address of the control API (port 0 picks a free one). Binding beyond loopback needs a
    /// token given through CT_CONTROL_TOKEN or --control-token-file.
    #[arg(long, env = "CT_TEST_RUNNER_LISTEN", default_value = "127.0.0.1:50062")]
    listen: String,
}

/// The control token's file unless one is given.
fn default_token_file() -> PathBuf {
    std::env::temp_dir().join("ct-test-runner.token")
}

impl Args {
    fn flags(&self) -> Vec<Option<Flag>> {
        let own = [
            Flag::given(key::TEST_RUNNER_MAX_CONCURRENT, "--max-concurrent", self.max_concurrent.as_ref()),
            Flag::given(key::TEST_TIMEOUT_SECS, "--default-timeout-secs", self.default_timeout_secs.as_ref()),
            Flag::given(key::TEST_RUNNER_MAX_TIMEOUT_SECS, "--max-timeout-secs", self.max_timeout_secs.as_ref()),
            Flag::given(key::TEST_RUNNER_SHUTDOWN_GRACE_SECS, "--grace-secs", self.grace_secs.as_ref()),
        ];
        self.temporal.flags().into_iter().chain(self.member.flags()).chain(own).collect()
    }
}

#[tokio::main]
async fn main() {
    let args: Args = ct_service::parse_args();
    let settings = args.config.load(Service::TestRunner, args.flags()).settings;
    let _telemetry = ct_telemetry::init_at("ct-test-runner", &settings.log_level);
    // Before anything reads secrets or starts a run: tests must not read them back through /proc.
    ct_confine::protect_service();
    let config = ct_test_runner::Config::from_settings(&settings, args.state_dir, args.python)
        .unwrap_or_else(|e| bad_setting(&e));

    let grace = Duration::from_secs(settings.test_runner.shutdown_grace_secs);
    let queue = ct_contracts::tests_queue(&settings.temporal.task_queue);
    let joined =
        ct_fleet::join(&args.member, &args.listen, default_token_file(), &settings.temporal, queue, grace).await;
    let (listener, fleet) = joined.unwrap_or_else(|e| bad_setting(&e));
    let addr = listener.local_addr().unwrap_or_else(|e| bad_setting(&e));
    let config = ct_test_runner::Config {
        hidden: vec![fleet.token_file.clone()],
        redactor: std::sync::Arc::new(ct_confine::Redactor::from_env([fleet.control_token.expose().to_owned()])),
        ..config
    };

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_service::cancel_on_signal(shutdown.clone()));
    let port_file = args.member.port_file;
    ct_service::withdraw_ready_file(port_file.as_deref());
    let ran = ct_test_runner::run(config, fleet, listener, shutdown, |_| {
        ct_service::announce_port(port_file.as_deref(), addr.port())
    })
    .await;
    if let Err(err) = ran {
        ct_service::exit_with("ct-test-runner", 1, &err);
    }
    tracing::info!("stopped");
}

fn bad_setting(err: &dyn std::fmt::Display) -> ! {
    ct_service::exit_with("ct-test-runner", 64, err)
}
