//! `claude-temporal fleet`: who polls the agents and tests queues, and what each runs.
//! Temporal lists the pollers; each poller's identity ends in its control address, where its
//! control API (with the stack's token) tells capacity, tools and runs in flight.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ct_fleet::ControlToken;
use ct_fleet::control::Caller;
use serde::Serialize;
use temporalio_client::grpc::WorkflowService;
use temporalio_common::protos::temporal::api::enums::v1::TaskQueueType;
use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;

use super::Session;
use crate::cli::{FleetArgs, FleetCommand};
use crate::error::CliError;

/// How long one member's control API may take to answer.
const CONTROL_DEADLINE: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize)]
struct FleetReport {
    deployment: String,
    /// `None` before any process of the deployment has polled.
    builds: Option<ct_service::builds::Builds>,
    /// Why the builds could not be read, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    builds_error: Option<String>,
    queues: Vec<QueueReport>,
}

#[derive(Debug, Serialize)]
struct QueueReport {
    /// "agents" or "tests".
    kind: &'static str,
    name: String,
    /// Activities waiting for a free slot (Temporal's backlog estimate).
    queued: i64,
    /// Runs in flight over every reachable member.
    running: u32,
    members: Vec<Member>,
}

#[derive(Debug, Serialize)]
struct Member {
    identity: String,
    last_poll_unix: u64,
    control: Option<String>,
    reachable: bool,
    error: Option<String>,
    capacity: u32,
    running: u32,
    tools: Vec<ToolReport>,
    confinement: String,
    workspace_roots: Vec<String>,
    runs: Vec<RunReport>,
}

#[derive(Debug, Serialize)]
struct ToolReport {
    name: String,
    version: String,
}

#[derive(Debug, Serialize)]
struct RunReport {
    run_id: String,
    workflow_id: String,
    attempt: u32,
    running_for_ms: u64,
}

pub(super) async fn run(session: &Session, args: FleetArgs) -> anyhow::Result<ExitCode> {
    if let Some(FleetCommand::Promote(promote)) = args.command {
        return super::builds::promote(session, promote).await;
    }
    let token = token(args.control_token_file)?;
    let workflow_queue = session.args.task_queue.clone();
    let mut queues = Vec::new();
    for (kind, name) in
        [("agents", ct_contracts::agents_queue(&workflow_queue)), ("tests", ct_contracts::tests_queue(&workflow_queue))]
    {
        queues.push(queue(session, kind, name, &token).await?);
    }
    let (builds, builds_error) = match super::builds::report(session).await {
        Ok(builds) => (builds, None),
        Err(why) => (None, Some(why)),
    };
    let report = FleetReport { deployment: session.args.deployment.clone(), builds, builds_error, queues };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn token(file: Option<std::path::PathBuf>) -> anyhow::Result<ControlToken> {
    if let Some(token) = std::env::var("CT_CONTROL_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
        return Ok(ControlToken::new(token.trim()));
    }
    let file = match file {
        Some(file) => file,
        None => crate::dev::control_token_file()?,
    };
    let text = std::fs::read_to_string(&file).map_err(|err| {
        CliError::BadInput(format!(
            "cannot read the control token {} ({err}): start the stack with `claude-temporal dev up`, \
             or point --control-token-file / CT_CONTROL_TOKEN at the stack's token",
            file.display()
        ))
    })?;
    Ok(ControlToken::new(text.trim()))
}

async fn queue(
    session: &Session,
    kind: &'static str,
    name: String,
    token: &ControlToken,
) -> anyhow::Result<QueueReport> {
    let request = DescribeTaskQueueRequest {
        namespace: session.args.namespace.clone(),
        task_queue: Some(TaskQueue { name: name.clone(), ..TaskQueue::default() }),
        task_queue_type: TaskQueueType::Activity as i32,
        report_stats: true,
        ..DescribeTaskQueueRequest::default()
    };
    let mut client = session.client.clone();
    let described = WorkflowService::describe_task_queue(&mut client, tonic::Request::new(request))
        .await
        .map_err(|status| CliError::Unreachable(format!("cannot describe task queue `{name}`: {}", status.message())))?
        .into_inner();
    let mut members = Vec::new();
    for poller in &described.pollers {
        let last_poll_unix = poller.last_access_time.as_ref().map_or(0, |t| u64::try_from(t.seconds).unwrap_or(0));
        members.push(member(&poller.identity, last_poll_unix, token).await);
    }
    members.sort_by(|a, b| a.identity.cmp(&b.identity));
    let running = members.iter().map(|m| m.running).sum();
    let queued = described.stats.map_or(0, |s| s.approximate_backlog_count);
    Ok(QueueReport { kind, name, queued, running, members })
}

async fn member(identity: &str, last_poll_unix: u64, token: &ControlToken) -> Member {
    let control = ct_fleet::control_address(identity).map(str::to_owned);
    let mut member = Member {
        identity: identity.to_owned(),
        last_poll_unix,
        control: control.clone(),
        reachable: false,
        error: None,
        capacity: 0,
        running: 0,
        tools: Vec::new(),
        confinement: String::new(),
        workspace_roots: Vec::new(),
        runs: Vec::new(),
    };
    let Some(address) = control else {
        member.error = Some("its identity names no control address (not a claude-temporal service?)".to_owned());
        return member;
    };
    let asked = async {
        let caller = Caller::new(&address, token.clone(), CONTROL_DEADLINE).context("bad control address")?;
        let description = caller.describe().await?;
        let runs = caller.list_runs().await?;
        anyhow::Ok((description, runs))
    };
    match asked.await {
        Ok((description, runs)) => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            member.reachable = true;
            member.capacity = description.capacity;
            member.running = description.running;
            member.tools =
                description.tools.into_iter().map(|t| ToolReport { name: t.name, version: t.version }).collect();
            member.confinement = description.confinement;
            member.workspace_roots = description.workspace_roots;
            member.runs = runs
                .into_iter()
                .map(|r| RunReport {
                    run_id: r.run_id,
                    workflow_id: r.workflow_id,
                    attempt: r.attempt,
                    running_for_ms: now.saturating_sub(r.started_unix_ms),
                })
                .collect();
        }
        Err(err) => member.error = Some(format!("control API: {err}")),
    }
    member
}

fn table(report: &FleetReport) -> String {
    use std::fmt::Write as _;
    let builds = match &report.builds_error {
        Some(why) => Err(why.as_str()),
        None => Ok(report.builds.as_ref()),
    };
    let mut out = super::builds::table(&report.deployment, builds);
    for queue in &report.queues {
        let _ = writeln!(
            out,
            "{} queue `{}`: {} member(s), {} running, {} queued",
            queue.kind,
            queue.name,
            queue.members.len(),
            queue.running,
            queue.queued
        );
        for member in &queue.members {
            let tools: Vec<String> = member
                .tools
                .iter()
                .filter(|t| !t.version.is_empty())
                .map(|t| format!("{} {}", t.name, t.version))
                .collect();
            match &member.error {
                None => {
                    let _ = writeln!(
                        out,
                        "  {:<48} {}/{} busy  {}",
                        member.identity,
                        member.running,
                        member.capacity,
                        tools.join(", ")
                    );
                }
                Some(error) => {
                    let _ = writeln!(out, "  {:<48} unreachable: {error}", member.identity);
                }
            }
            for run in &member.runs {
                let _ = writeln!(
                    out,
                    "    {} (attempt {}, {:.1} s)",
                    run.run_id,
                    run.attempt,
                    run.running_for_ms as f64 / 1000.0
                );
            }
        }
    }
    out
}
