//! Running the executor process: activity workers on the agents and files queues, the control API
//! beside them, and the event publisher they share.

use std::time::Duration;

use ct_events::{Publisher, PublisherConfig};
use ct_fleet::{ActivityWorker, ControlPlane, Membership, RunRegistry};
use ct_proto::control::{DescribeResponse, Limits as LimitsMessage, Tool};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::activity::AgentActivities;
use crate::command::resolve_cli;
use crate::workspace::WorkspaceActivities;
use crate::{Agents, Config, Error};

/// How long shutdown waits for buffered events to reach NATS.
const EVENT_FLUSH: Duration = Duration::from_secs(5);
/// How long `claude --version` may take at start-up.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Git work an executor does at once (snapshots, restores, worktrees, commits), besides its
/// agent runs.
const FILE_SLOTS: usize = 4;

/// Where the executor sends its events and keeps its checkpoints.
#[derive(Debug, Clone)]
pub struct Nats {
    pub url: String,
    /// Who to log in as.
    pub login: Option<ct_events::NatsLogin>,
}

/// Polls the agents and files queues and serves the control API on `control` until `shutdown` fires.
/// `on_ready` gets the executor's identity once it is about to poll.
pub async fn run(
    config: Config,
    membership: Membership,
    nats: Nats,
    control: TcpListener,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(&str),
) -> Result<(), Error> {
    let control_addr = membership.advertise;
    let identity = ct_fleet::instance_identity("executor", control_addr);
    let capacity = config.max_concurrent;
    let files_queue = config.files_queue.clone();
    let description = describe(&config, &membership.task_queue, &identity).await;
    let agents = Agents::new(config)?;
    tracing::info!(
        commands_dir = ?agents.config().commands_dir,
        hook_bin = ?agents.config().hook_bin,
        roots = %agents.config().roots,
        "agent runs get this command library, prompt hook and workspace roots"
    );
    let client = ct_service::connect_client(&membership.temporal, &identity).await?;
    let mut events = PublisherConfig::new(nats.url.clone(), "ct-executor");
    events.login = nats.login.clone();
    let events = Publisher::connect(events).await?;
    let runs = RunRegistry::default();

    let worker = ActivityWorker {
        task_queue: membership.task_queue.clone(),
        capacity,
        grace: membership.grace,
        build: membership.build.clone(),
    };
    let mut options = worker.options();
    let roots = agents.config().roots.clone();
    let checkpoints = crate::checkpoint_store::CheckpointStore::connect(&nats.url, nats.login.as_ref()).await?;
    let stop_notices = crate::stop_notices::StopNotices::connect(&nats.url, nats.login.as_ref()).await?;
    let agent_activities = AgentActivities {
        agents,
        events: events.clone(),
        runs: runs.clone(),
        checkpoints,
        identity: identity.clone(),
        build_id: membership.build.build_id.clone(),
        stop_notices,
        stopping: shutdown.clone(),
    };
    check_contracts()?;
    options.register_activities(agent_activities);
    // Git work takes seconds and agent runs hours: it gets slots of its own, so that a snapshot
    // never waits for a busy executor's runs to end.
    let files = ActivityWorker { task_queue: files_queue, capacity: FILE_SLOTS, ..worker.clone() };
    let mut files_options = files.options();
    files_options.register_activities(WorkspaceActivities { roots });

    let control = ControlPlane { listener: control, token: membership.control_token.clone(), description, runs };
    let workers = vec![(&worker, options), (&files, files_options)];
    let outcome = ct_fleet::run_member(workers, client, control, shutdown, || {
        tracing::info!(
            task_queue = %membership.task_queue,
            files_queue = %files.task_queue,
            temporal = %membership.temporal.address,
            control = %control_addr,
            capacity,
            identity = %identity,
            "executor polling"
        );
        on_ready(&identity);
    })
    .await;
    if let Err(err) = events.flush(EVENT_FLUSH).await {
        tracing::warn!(%err, "events still unpublished at shutdown");
    }
    Ok(outcome?)
}

/// Every activity registered here under the name and types of its contract.
fn check_contracts() -> Result<(), Error> {
    use ct_contracts::{StageActivities, WorkspaceActivities as Contract, implements};
    [
        implements(&StageActivities::run_agent, &AgentActivities::run_agent),
        implements(&Contract::snapshot, &WorkspaceActivities::snapshot),
        implements(&Contract::restore, &WorkspaceActivities::restore),
        implements(&Contract::create_worktrees, &WorkspaceActivities::create_worktrees),
        implements(&Contract::commit_worktree, &WorkspaceActivities::commit_worktree),
        implements(&Contract::remove_worktree, &WorkspaceActivities::remove_worktree),
        implements(&Contract::predict_conflicts, &WorkspaceActivities::predict_conflicts),
        implements(&Contract::create_integration_worktree, &WorkspaceActivities::create_integration_worktree),
        implements(&Contract::merge_branch, &WorkspaceActivities::merge_branch),
        implements(&Contract::conclude_merge, &WorkspaceActivities::conclude_merge),
        implements(&Contract::reset_integration, &WorkspaceActivities::reset_integration),
        implements(&Contract::land, &WorkspaceActivities::land),
    ]
    .into_iter()
    .collect::<Result<(), String>>()
    .map_err(Error::Library)
}

async fn describe(config: &Config, task_queue: &str, identity: &str) -> DescribeResponse {
    let cli = resolve_cli(&config.claude_bin, std::env::var_os("PATH").as_ref());
    let tool = match cli {
        Ok(path) => {
            Tool { name: "claude".to_owned(), version: version_of(&path).await, path: path.display().to_string() }
        }
        Err(err) => {
            tracing::warn!(%err, "the agent CLI is missing: every run will fail until it is installed");
            Tool { name: "claude".to_owned(), path: config.claude_bin.display().to_string(), version: String::new() }
        }
    };
    DescribeResponse {
        service: "executor".to_owned(),
        instance_id: identity.to_owned(),
        task_queue: task_queue.to_owned(),
        capacity: u32::try_from(config.max_concurrent).unwrap_or(u32::MAX),
        running: 0,
        tools: vec![tool],
        confinement: format!(
            "{}; network: {}; no_new_privs, resource limits, whole process tree killed with the run, \
             parent-death signal, scrubbed environment, private HOME and TMPDIR, wall-clock limit; \
             workspace roots enforced",
            config.sandbox.confinement(),
            config
                .connect_ports
                .as_ref()
                .map_or_else(|| "open".to_owned(), |ports| format!("TCP ports {ports:?} only")),
        ),
        workspace_roots: config.roots.paths().iter().map(|p| p.display().to_string()).collect(),
        limits: Some(LimitsMessage {
            max_timeout_secs: config.limits.max_timeout.map_or(0, |d| d.as_secs()),
            max_turns: config.limits.max_turns.unwrap_or(0),
            allowed_models: config.limits.allowed_models.clone(),
        }),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The first line `--version` prints, or empty when it cannot be run.
async fn version_of(path: &std::path::Path) -> String {
    let run = tokio::process::Command::new(path).arg("--version").kill_on_drop(true).output();
    match tokio::time::timeout(VERSION_TIMEOUT, run).await {
        Ok(Ok(out)) if out.status.success() => {
            String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().trim().to_owned()
        }
        _ => String::new(),
    }
}
