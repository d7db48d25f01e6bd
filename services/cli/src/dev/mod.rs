//! `claude-temporal dev`: the whole stack on this machine, as detached processes that outlive
//! the command, recorded in a state directory so `down` stops exactly what `up` started.

mod component;
mod launch;
mod readiness;
mod stack;
mod up;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use component::Component;
use stack::{Stack, StateDir, StopOutcome};

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Directory for logs, pid files and stack.json
    /// [default: $HOME/.local/state/claude-temporal/dev]
    #[arg(long, env = "CT_STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: DevCommand,
}

#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Start the local stack (Temporal dev server, NATS, executor, test-runner, worker,
    /// notifier, metrics-sink, gateway) in the background and wait until every part answers.
    Up(UpArgs),
    /// Stop what `up` started.
    Down,
    /// Show which parts of the local stack are up. Exits 1 unless all of them are.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct UpArgs {
    /// gRPC port of the Temporal dev server.
    #[arg(long, default_value_t = 7233)]
    temporal_port: u16,
    /// Port of the Temporal Web UI.
    #[arg(long, default_value_t = 8233)]
    ui_port: u16,
    /// Client port of nats-server.
    #[arg(long, default_value_t = 4222)]
    nats_port: u16,
    /// HTTP monitoring port of nats-server (/healthz, /jsz).
    #[arg(long, default_value_t = 8222)]
    nats_monitor_port: u16,
    /// Port of the metrics-sink's Prometheus /metrics.
    #[arg(long, default_value_t = 9464)]
    metrics_port: u16,
    /// Port of the notifier's Prometheus /metrics (deliveries and failures per backend).
    #[arg(long, default_value_t = 9465)]
    notifier_metrics_port: u16,
    /// Port of the gateway: approval links and Slack's buttons.
    #[arg(long, default_value_t = 8788)]
    gateway_port: u16,
    /// Serve the agent's model from this scenario file (ct-scripted-model) instead of the
    /// Anthropic API, so runs cost nothing and are repeatable.
    #[arg(long, value_name = "FILE")]
    scripted_model: Option<PathBuf>,
    /// Start only these parts, e.g. `--only temporal,nats` [default: all; scripted-model only
    /// with --scripted-model].
    #[arg(long, value_delimiter = ',', value_name = "PART")]
    only: Vec<Component>,
    /// A directory executors and test-runners accept projects under; repeat for more
    /// [env: CT_WORKSPACE_ROOTS; default: $HOME and the system temp dir].
    #[arg(long, value_name = "DIR")]
    workspace_root: Vec<PathBuf>,
    /// Seconds each part may take to become ready.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Print stack.json (the addresses of everything) instead of a summary.
    #[arg(long)]
    json: bool,
}

impl DevArgs {
    /// `up`'s flags that are settings of the services it starts.
    pub(crate) fn flags(&self) -> Option<ct_config::Flag> {
        let DevCommand::Up(up) = &self.command else {
            return None;
        };
        ct_config::Flag::given_paths(ct_config::key::WORKSPACE_ROOTS, "--workspace-root", &up.workspace_root)
    }
}

pub(crate) async fn run(config: &ct_config::Config, args: DevArgs) -> anyhow::Result<ExitCode> {
    let state = StateDir::resolve(args.state_dir)?;
    match args.command {
        DevCommand::Up(up_args) => up::up(&state, config, up_args).await,
        DevCommand::Down => down(&state).await,
        DevCommand::Status { json } => status(&state, json).await,
    }
}

async fn down(state: &StateDir) -> anyhow::Result<ExitCode> {
    let Some(stack) = state.load()? else {
        println!("no local stack is running (nothing recorded in {})", state.root().display());
        return Ok(ExitCode::SUCCESS);
    };
    if stop_all(state, &stack).await? == 0 {
        println!("no local stack is running (the recorded processes had already exited)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Stops the stack's processes, last started first, and forgets the stack; returns how many
/// were still running. Progress goes to stderr so `up --json` keeps stdout for the JSON.
async fn stop_all(state: &StateDir, stack: &Stack) -> anyhow::Result<usize> {
    let mut stopped = 0;
    for component in stack.components.iter().rev() {
        let name = component.name;
        match state.stop(component).await? {
            StopOutcome::Terminated => eprintln!("  stopped {name}"),
            StopOutcome::Killed => eprintln!("  killed {name} (it ignored SIGTERM for 5 s)"),
            StopOutcome::NotRunning => continue,
        }
        stopped += 1;
    }
    state.forget()?;
    Ok(stopped)
}

/// What `dev status --json` prints.
#[derive(Debug, Serialize)]
struct StatusReport<'a> {
    state_dir: &'a Path,
    /// Every recorded component runs and answers.
    up: bool,
    components: Vec<ComponentStatus<'a>>,
}

#[derive(Debug, Serialize)]
struct ComponentStatus<'a> {
    name: Component,
    pid: u32,
    running: bool,
    /// Whether its address accepts connections; absent for a part without one (the worker)
    /// or one that is not running.
    answering: Option<bool>,
    address: Option<&'a str>,
    /// Executors and test-runners, from their control API: runs they take at once and runs in
    /// flight now.
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    running_now: Option<u32>,
    log: &'a Path,
}

impl ComponentStatus<'_> {
    fn is_up(&self) -> bool {
        self.running && self.answering != Some(false)
    }
}

async fn status(state: &StateDir, json: bool) -> anyhow::Result<ExitCode> {
    let Some(stack) = state.load()? else {
        if json {
            let report = StatusReport { state_dir: state.root(), up: false, components: Vec::new() };
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("no local stack is running (nothing recorded in {})", state.root().display());
        }
        return Ok(ExitCode::FAILURE);
    };
    let mut rows = Vec::new();
    for component in &stack.components {
        let running = state.is_running(component);
        let answering = match &component.address {
            Some(address) if running => Some(readiness::tcp_answers(address).await),
            _ => None,
        };
        let load = match (component.name, &component.address) {
            (Component::Executor | Component::TestRunner, Some(address)) if answering == Some(true) => {
                control_load(address, &stack.control_token_file).await
            }
            _ => None,
        };
        rows.push(ComponentStatus {
            name: component.name,
            pid: component.pid,
            running,
            answering,
            address: component.address.as_deref(),
            capacity: load.map(|(capacity, _)| capacity),
            running_now: load.map(|(_, running)| running),
            log: &component.log,
        });
    }
    let all_up = rows.iter().all(ComponentStatus::is_up);
    if json {
        let report = StatusReport { state_dir: state.root(), up: all_up, components: rows };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for row in &rows {
            let condition = match (row.running, row.answering) {
                (false, _) => "down",
                (true, Some(false)) => "running, not answering",
                (true, _) => "up",
            };
            let load = match (row.running_now, row.capacity) {
                (Some(running), Some(capacity)) => format!("  {running}/{capacity} busy"),
                _ => String::new(),
            };
            println!("{:<15} {:<23} pid {:<8} {}{load}", row.name, condition, row.pid, row.address.unwrap_or("-"));
        }
        print_addresses(&stack);
    }
    Ok(if all_up { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// (capacity, runs in flight) from a member's control API, if it answers with the stack's token.
async fn control_load(address: &str, token_file: &Path) -> Option<(u32, u32)> {
    let token = std::fs::read_to_string(token_file).ok()?;
    let caller = ct_fleet::control::Caller::new(
        address,
        ct_fleet::ControlToken::new(token.trim()),
        std::time::Duration::from_secs(2),
    )
    .ok()?;
    let described = caller.describe().await.ok()?;
    Some((described.capacity, described.running))
}

/// What `up` prints once the stack runs: stack.json with `--json`, else where to find things.
fn print_stack(stack: &Stack, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(stack)?);
    } else {
        print_addresses(stack);
        println!("stop it with: claude-temporal dev down");
    }
    Ok(())
}

fn print_addresses(stack: &Stack) {
    let rows = [
        ("Temporal", &stack.temporal_address),
        ("Web UI", &stack.temporal_ui_url),
        ("NATS", &stack.nats_url),
        ("scripted model", &stack.scripted_model_url),
        ("executor", &stack.executor_control),
        ("test-runner", &stack.test_runner_control),
        ("gateway", &stack.gateway_url),
    ];
    for (label, value) in rows {
        if let Some(value) = value {
            println!("{label:<15} {value}");
        }
    }
    println!("{:<15} {}", "control token", stack.control_token_file.display());
    println!("{:<15} {}", "logs", stack.log_dir.display());
}

/// The metrics file the local stack's sink writes, when a stack was started.
pub(crate) fn recorded_metrics_file() -> anyhow::Result<Option<PathBuf>> {
    let state = StateDir::resolve(std::env::var_os("CT_STATE_DIR").map(PathBuf::from))?;
    Ok(state.load()?.map(|stack| stack.options.metrics_file))
}

/// The local stack's gateway and link key, when a stack with a gateway was started.
pub(crate) fn recorded_gateway() -> anyhow::Result<Option<(String, PathBuf)>> {
    let state = StateDir::resolve(std::env::var_os("CT_STATE_DIR").map(PathBuf::from))?;
    Ok(state.load()?.and_then(|stack| Some((stack.gateway_url?, stack.link_key_file?))))
}

/// The local stack's control-API token file (`CT_STATE_DIR` or the default state directory).
pub(crate) fn control_token_file() -> anyhow::Result<PathBuf> {
    Ok(StateDir::resolve(std::env::var_os("CT_STATE_DIR").map(PathBuf::from))?.control_token_file())
}
