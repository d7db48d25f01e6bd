//! `ct-executor`: runs agent activities from the agents task queue, and serves the control API.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
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
    /// Temporal frontend address, host:port [env: TEMPORAL_ADDRESS].
    #[arg(long)]
    temporal_address: Option<String>,
    /// Temporal namespace [env: TEMPORAL_NAMESPACE].
    #[arg(long)]
    namespace: Option<String>,
    /// The workflow worker's task queue; this executor polls `<it>.agents` [env: TEMPORAL_TASK_QUEUE].
    #[arg(long)]
    task_queue: Option<String>,
    /// NATS server for the agents' progress events, buffered while it is unreachable [env: NATS_URL].
    #[arg(long)]
    nats_url: Option<String>,
    /// A directory projects may live in; repeat for more. Anything else is refused
    /// [env: CT_WORKSPACE_ROOTS, `:`-separated; required].
    #[arg(long = "workspace-root", value_name = "DIR")]
    workspace_roots: Vec<PathBuf>,
    /// Address of the control API (port 0 picks a free one). Binding beyond loopback needs a
    /// token given through CT_CONTROL_TOKEN or --control-token-file.
    #[arg(long, env = "CT_EXECUTOR_LISTEN", default_value = "127.0.0.1:50061")]
    listen: String,
    /// Address the fleet reaches the control API on, IP:PORT [default: the listen address; for a
    /// wildcard one, this host's address toward Temporal].
    #[arg(long, env = "CT_CONTROL_ADVERTISE", value_name = "IP:PORT")]
    control_advertise: Option<std::net::SocketAddr>,
    /// Write the control API's port to this file once the executor polls.
    #[arg(long, env = "CT_EXECUTOR_PORT_FILE")]
    port_file: Option<PathBuf>,
    /// File holding the control API's token; made (mode 0600) when missing and the address is
    /// loopback [default: <state dir>/control.token]. The token itself in the environment
    /// wins over any file, for containers [env: CT_CONTROL_TOKEN].
    #[arg(long, env = "CT_CONTROL_TOKEN_FILE")]
    control_token_file: Option<PathBuf>,
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

/// A turn limit for runs that ask for none and a configuration that sets none.
const DEFAULT_MAX_TURNS: u32 = 30;

impl Args {
    fn flags(&self) -> Vec<Option<Flag>> {
        vec![
            Flag::given(key::TEMPORAL_ADDRESS, "--temporal-address", self.temporal_address.as_ref()),
            Flag::given(key::TEMPORAL_NAMESPACE, "--namespace", self.namespace.as_ref()),
            Flag::given(key::TEMPORAL_TASK_QUEUE, "--task-queue", self.task_queue.as_ref()),
            Flag::given(key::NATS_URL, "--nats-url", self.nats_url.as_ref()),
            Flag::given_paths(key::WORKSPACE_ROOTS, "--workspace-root", &self.workspace_roots),
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
        ]
    }
}

#[tokio::main]
async fn main() {
    let args: Args = ct_service::parse_args();
    let settings = args.config.load(Service::Executor, args.flags()).settings;
    let _telemetry = ct_telemetry::init_at("ct-executor", &settings.log_level);
    // Before anything reads secrets or starts a run: runs must not read them back through /proc.
    ct_confine::protect_service();
    let sandbox = ct_confine::Sandbox::configured(&settings.sandbox, settings.sandbox.network_model_only)
        .unwrap_or_else(|e| bad_setting(&e));
    tracing::info!(confinement = %sandbox.confinement(), "{}", sandbox.describe());
    let vars: Vec<(String, String)> = std::env::vars().collect();
    // The agent exports its own spans where the executor exports (or nowhere).
    let agent_telemetry = ct_telemetry::ExportTarget::from_env().ok().flatten().map(|target| target.endpoint);
    let connect_ports = settings.sandbox.network_model_only.then(|| {
        let mut ports = ct_executor::model_ports(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        ports.extend(agent_telemetry.as_deref().and_then(ct_executor::url_port));
        ports
    });
    if let Some(ports) = &connect_ports {
        tracing::info!(
            ?ports,
            "the agent's tools may connect only to these TCP ports (the model endpoint's, the proxy's, the trace collector's)"
        );
    }
    let executor = &settings.executor;
    let defaults = ct_executor::Config::default();
    let config = ct_executor::Config {
        claude_bin: executor.claude_bin.clone(),
        max_concurrent: executor.max_concurrent,
        roots: settings
            .required_workspace_roots()
            .and_then(|roots| ct_fleet::WorkspaceRoots::new(roots).map_err(|e| e.to_string()))
            .unwrap_or_else(|e| bad_setting(&e)),
        limits: ct_executor::Limits {
            max_timeout: executor.max_timeout_secs.map(Duration::from_secs),
            max_turns: executor.max_turns,
            allowed_models: executor.allowed_models.clone(),
        },
        model: settings.claude.model.clone(),
        max_turns: Some(settings.claude.max_turns).filter(|&n| n > 0).unwrap_or(DEFAULT_MAX_TURNS),
        timeout: Duration::from_secs(settings.claude.timeout_secs),
        state_dir: args.state_dir.unwrap_or(defaults.state_dir),
        sandbox,
        writable: settings.sandbox.writable.clone(),
        connect_ports,
        allow_hosts: std::sync::Arc::new(
            ct_confine::AllowList::parse(&settings.sandbox.allow_hosts)
                .unwrap_or_else(|e| bad_setting(&format!("CT_SANDBOX_ALLOW_HOSTS: {e}"))),
        ),
        agent_telemetry,
        run_limits: (&settings.sandbox).into(),
        max_retries: executor.api_retries,
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
        prices: match &executor.price_table {
            Some(path) => std::sync::Arc::new(ct_config::load_prices(path).unwrap_or_else(|e| bad_setting(&e))),
            None => defaults.prices.clone(),
        },
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
    let nats_login = ct_events::NatsLogin::load(settings.nats_user.as_deref(), settings.nats_password_file.as_deref())
        .unwrap_or_else(|e| bad_setting(&e));
    let secrets =
        std::iter::once(control_token.expose().to_owned()).chain(nats_login.iter().map(|l| l.password().to_owned()));
    let config = ct_executor::Config {
        // Files holding the service's own credentials: no run may read them.
        hidden: std::iter::once(token_file).chain(settings.nats_password_file.clone()).collect(),
        redactor: std::sync::Arc::new(ct_confine::Redactor::new(vars, secrets)),
        ..config
    };
    let temporal = settings.temporal;
    let advertise = ct_fleet::advertised_address(addr, args.control_advertise, &temporal.address)
        .with_context(|| format!("cannot tell which address reaches this control API from {}", temporal.address))
        .unwrap_or_else(|e| bad_setting(&format!("{e:#}; give it with --control-advertise IP:PORT")));
    let fleet = ct_executor::Fleet {
        temporal: ct_service::TemporalTarget { address: temporal.address, namespace: temporal.namespace },
        task_queue: ct_contracts::agents_queue(&temporal.task_queue),
        nats_url: settings.nats_url,
        nats_login,
        control_token,
        advertise,
        grace: Duration::from_secs(settings.executor.shutdown_grace_secs),
    };

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_service::cancel_on_signal(shutdown.clone()));
    let port_file = args.port_file;
    ct_service::withdraw_ready_file(port_file.as_deref());
    let ran = ct_executor::run(config, fleet, listener, shutdown, |_| {
        ct_service::announce_port(port_file.as_deref(), addr.port())
    })
    .await;
    if let Err(err) = ran {
        ct_service::exit_with("ct-executor", 1, &err);
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
    ct_service::exit_with("ct-executor", 64, err)
}
