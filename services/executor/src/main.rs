//! `ct-executor`: runs agent activities from the agents task queue, and serves the control API.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ct_config::{Flag, Service, key};
use tokio_util::sync::CancellationToken;

/// Runs the Claude Code CLI for claude-temporal: polls the agents task queue of Temporal, one
/// agent run per activity slot, and serves an authenticated control API.
///
/// Settings come from the same layers as the CLI's (defaults, CLAUDE_TEMPORAL_ENV preset,
/// config file, .env, environment, these flags); `--print-config` shows them.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    config: ct_config::ConfigArgs,
    #[command(flatten)]
    temporal: ct_config::TemporalArgs,
    #[command(flatten)]
    member: ct_fleet::MemberArgs,
    /// NATS server for the agents' progress events, buffered while it is unreachable [env: NATS_URL].
    #[arg(long)]
    nats_url: Option<String>,
    /// Address of the control API (port 0 picks a free one). Binding beyond loopback needs a
    /// token given through CT_CONTROL_TOKEN or --control-token-file.
    #[arg(long, env = "CT_EXECUTOR_LISTEN", default_value = "127.0.0.1:50061")]
    listen: String,
    /// The agent CLI: a path, or a name looked up on PATH [env: CLAUDE_BIN].
    #[arg(long)]
    claude_bin: Option<PathBuf>,
    /// Agent runs at once (its activity slots); more wait in Temporal's queue
    /// [env: EXECUTOR_MAX_CONCURRENT].
    #[arg(long)]
    max_concurrent: Option<String>,
    /// Longest agent run allowed, in seconds, whatever a workflow asks [env: EXECUTOR_MAX_TIMEOUT].
    #[arg(long)]
    max_timeout_secs: Option<String>,
    /// Most turns an agent run may take, whatever a workflow asks [env: EXECUTOR_MAX_TURNS].
    #[arg(long)]
    turns_cap: Option<String>,
    /// Models runs may use, comma-separated; empty allows any [env: EXECUTOR_ALLOWED_MODELS].
    #[arg(long)]
    allowed_models: Option<String>,
    /// Seconds running agents get after SIGTERM before they are killed and their attempts
    /// retried elsewhere [env: EXECUTOR_SHUTDOWN_GRACE].
    #[arg(long)]
    grace_secs: Option<String>,
    /// Default model; empty uses the CLI's default [env: CLAUDE_MODEL].
    #[arg(long)]
    model: Option<String>,
    /// Default turn limit per run; 0: 30 [env: CLAUDE_MAX_TURNS].
    #[arg(long)]
    max_turns: Option<String>,
    /// Default wall-clock limit per run, in seconds [env: CLAUDE_TIMEOUT].
    #[arg(long)]
    timeout_secs: Option<String>,
    /// Retries the CLI itself makes on API errors; Temporal retries the whole run
    /// [env: CLAUDE_CODE_MAX_RETRIES].
    #[arg(long)]
    max_retries: Option<String>,
    /// Directory for the runs' private HOME and TMPDIR, which runs cannot read beyond their own
    /// [default: <temp dir>/ct-executor-<uid>].
    #[arg(long, env = "CT_STATE_DIR")]
    state_dir: Option<PathBuf>,
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

impl Args {
    fn flags(&self) -> Vec<Option<Flag>> {
        let own = [
            Flag::given(key::NATS_URL, "--nats-url", self.nats_url.as_ref()),
            Flag::given(key::CLAUDE_BIN, "--claude-bin", self.claude_bin.as_ref().map(|p| p.display())),
            Flag::given(key::EXECUTOR_MAX_CONCURRENT, "--max-concurrent", self.max_concurrent.as_ref()),
            Flag::given(key::EXECUTOR_MAX_TIMEOUT_SECS, "--max-timeout-secs", self.max_timeout_secs.as_ref()),
            Flag::given(key::EXECUTOR_MAX_TURNS, "--turns-cap", self.turns_cap.as_ref()),
            Flag::given(key::EXECUTOR_ALLOWED_MODELS, "--allowed-models", self.allowed_models.as_ref()),
            Flag::given(key::EXECUTOR_SHUTDOWN_GRACE_SECS, "--grace-secs", self.grace_secs.as_ref()),
            Flag::given(key::CLAUDE_MODEL, "--model", self.model.as_ref()),
            Flag::given(key::CLAUDE_MAX_TURNS, "--max-turns", self.max_turns.as_ref()),
            Flag::given(key::CLAUDE_TIMEOUT_SECS, "--timeout-secs", self.timeout_secs.as_ref()),
            Flag::given(key::CLAUDE_API_RETRIES, "--max-retries", self.max_retries.as_ref()),
        ];
        self.temporal.flags().into_iter().chain(self.member.flags()).chain(own).collect()
    }
}

#[tokio::main]
async fn main() {
    let args: Args = ct_service::parse_args();
    let settings = args.config.load(Service::Executor, args.flags()).settings;
    let _telemetry = ct_telemetry::init_at("ct-executor", &settings.log_level);
    // Before anything reads secrets or starts a run: runs must not read them back through /proc.
    ct_confine::protect_service();
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let paths = ct_executor::LocalPaths {
        state_dir: args.state_dir,
        transcript_dir: args.transcript_dir,
        commands_dir: args.commands_dir,
        hook_bin: args.hook_bin,
    };
    let config = ct_executor::Config::from_settings(&settings, paths, &vars).unwrap_or_else(|e| bad_setting(&e));
    let grace = Duration::from_secs(settings.executor.shutdown_grace_secs);
    let queue = ct_contracts::agents_queue(&settings.temporal.task_queue);
    // The state directory is the executor's own (0700), and runs cannot read it.
    let default_token_file = config.state_dir.join("control.token");
    let joined = ct_fleet::join(&args.member, &args.listen, default_token_file, &settings.temporal, queue, grace).await;
    let (listener, fleet) = joined.unwrap_or_else(|e| bad_setting(&e));
    let addr = listener.local_addr().unwrap_or_else(|e| bad_setting(&e));
    let nats_login = ct_events::NatsLogin::load(settings.nats_user.as_deref(), settings.nats_password_file.as_deref())
        .unwrap_or_else(|e| bad_setting(&e));
    let secrets = std::iter::once(fleet.control_token.expose().to_owned())
        .chain(nats_login.iter().map(|l| l.password().to_owned()));
    let config = ct_executor::Config {
        // Files holding the service's own credentials: no run may read them.
        hidden: std::iter::once(fleet.token_file.clone()).chain(settings.nats_password_file.clone()).collect(),
        redactor: std::sync::Arc::new(ct_confine::Redactor::new(vars, secrets)),
        ..config
    };
    let nats = ct_executor::Nats { url: settings.nats_url, login: nats_login };

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_service::cancel_on_signal(shutdown.clone()));
    let port_file = args.member.port_file;
    ct_service::withdraw_ready_file(port_file.as_deref());
    let ran = ct_executor::run(config, fleet, nats, listener, shutdown, |_| {
        ct_service::announce_port(port_file.as_deref(), addr.port())
    })
    .await;
    if let Err(err) = ran {
        ct_service::exit_with("ct-executor", 1, &err);
    }
}

fn bad_setting(err: &dyn std::fmt::Display) -> ! {
    ct_service::exit_with("ct-executor", 64, err)
}
