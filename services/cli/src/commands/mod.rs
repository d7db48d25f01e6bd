//! One module per subcommand; `Session` holds what they share.

mod budget;
mod builds;
mod cancel;
mod config;
mod decide;
mod fleet;
mod gateway;
mod integrate;
mod iterate;
mod list;
mod metrics;
mod parallel;
mod project;
mod snapshots;
mod stages;
mod start;
mod status;
mod update;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use ct_contracts::workflows::{Develop, Status};
use ct_domain::WorkflowStatus;
use ct_service::{TemporalTarget, connect_client};
use temporalio_client::errors::WorkflowQueryError;
use temporalio_client::{Client, WorkflowHandle, WorkflowQueryOptions};
use tracing::Instrument as _;

use crate::cli::{Cli, Command, ConfigCommand};
use crate::error::CliError;

/// Queries need a live worker; without one they would hang, so they get a deadline.
const QUERY_DEADLINE: Duration = Duration::from_secs(10);

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The hook runs inside agent runs: it must not depend on configuration or Temporal.
    if let Command::Hook(args) = cli.command {
        return Ok(crate::hook::run(args));
    }
    let mut flags = cli.temporal.flags();
    match &cli.command {
        Command::Iterate(args) => {
            flags.extend(args.agent.flags());
            flags.extend(args.budget.flags());
            flags.extend(ct_config::Flag::given(
                ct_config::key::APPROVAL_TIMEOUT_SECS,
                "--budget-wait",
                args.budget_wait,
            ));
        }
        Command::Parallel(args) => flags.extend(args.agent.flags()),
        Command::Integrate(args) => flags.extend(args.agent.flags()),
        Command::Watch(args) => {
            flags.extend(ct_config::Flag::given(ct_config::key::NATS_URL, "--nats-url", args.nats_url.as_ref()))
        }
        Command::Metrics(args) => flags.extend(ct_config::Flag::given(
            ct_config::key::METRICS_FILE,
            "--metrics-file",
            args.metrics_file.as_ref().map(|p| p.display()),
        )),
        Command::Dev(args) => flags.extend(args.flags()),
        Command::Link(args) => flags.extend(args.gateway.flags()),
        Command::Ui(args) => flags.extend(args.gateway.flags()),
        Command::Start(args) => {
            flags.extend(args.settings.flags());
            if let Some(project) = &args.project {
                flags.push(ct_config::Flag {
                    key: ct_config::key::PROJECT_PATH,
                    value: project.display().to_string(),
                    flag: "argument PROJECT",
                });
            }
        }
        Command::Config(args) => match &args.command {
            ConfigCommand::Show(show) => flags.extend(show.settings.flags()),
        },
        Command::Stages(args) => {
            if let crate::cli::StagesCommand::Show(show) = &args.command {
                flags.extend(show.settings.flags());
            }
        }
        _ => {}
    }
    let config = crate::settings::load(cli.config, flags)?;
    match cli.command {
        Command::Dev(args) => return crate::dev::run(&config, args).await,
        Command::Watch(args) => return watch::run(&config, args).await,
        Command::Metrics(args) => return metrics::run(&config, args).await,
        _ => {}
    }
    if let Command::Ui(args) = cli.command {
        return gateway::ui(&config, args);
    }
    if let Command::Config(args) = cli.command {
        return config::run(&config, args);
    }
    if let Command::Stages(args) = cli.command {
        return stages::run(&config, args);
    }
    if let Command::Start(args) = cli.command {
        let plan = start::plan(&config, args)?;
        let session = Session::connect(&config).await?;
        return start::run(&session, plan).await;
    }
    let session = Session::connect(&config).await?;
    match cli.command {
        Command::Status(args) => status::show(&session, args).await,
        Command::Result(args) => status::wait_for_result(&session, args).await,
        Command::Approve(args) => decide::approve(&session, args).await,
        Command::Link(args) => decide::link(&session, &config, args).await,
        Command::Reject(args) => decide::reject(&session, args).await,
        Command::Budget(args) => budget::run(&session, args).await,
        Command::List(args) => list::run(&session, args).await,
        Command::Fleet(args) => fleet::run(&session, args).await,
        Command::Cancel(args) => cancel::run(&session, args).await,
        Command::Snapshots(args) => snapshots::list(&session, args).await,
        Command::Rollback(args) => snapshots::rollback(&session, args).await,
        Command::Iterate(args) => iterate::run(&session, &config, args).await,
        Command::Parallel(args) => parallel::run(&session, &config, args).await,
        Command::Integrate(args) => integrate::run(&session, &config, args).await,
        Command::Dev(_)
        | Command::Hook(_)
        | Command::Watch(_)
        | Command::Metrics(_)
        | Command::Config(_)
        | Command::Stages(_)
        | Command::Start(_)
        | Command::Ui(_) => {
            unreachable!("handled before connecting")
        }
    }
}

/// The settings `--link-key-file` and `--gateway-url` give.
/// The span of `claude-temporal <command>` on workflow `id`: a child of the span `parent` names,
/// or the root of a new trace.
fn command_span(command: &str, id: &str, parent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "command",
        otel.name = %format!("claude-temporal {command}"),
        otel.kind = "client",
        ct.workflow.id = %id,
    );
    if let Some(parent) = parent {
        ct_telemetry::propagate::set_remote_parent(&span, parent);
    }
    span
}

pub(crate) struct Session {
    client: Client,
    args: ct_config::TemporalSettings,
}

impl Session {
    async fn connect(config: &ct_config::Config) -> anyhow::Result<Self> {
        let args = config.settings.temporal.clone();
        let target = TemporalTarget { address: args.address.clone(), namespace: args.namespace.clone() };
        let client = connect_client(&target, "claude-temporal-cli")
            .await
            .map_err(|err| CliError::Unreachable(err.to_string()))?;
        Ok(Self { client, args })
    }

    fn handle(&self, id: &str) -> WorkflowHandle<Client, Develop> {
        self.client.get_workflow_handle::<Develop>(id)
    }

    /// Runs `call` (a workflow start) inside the command's root span, where the workflow's
    /// trace begins; returns its output and the trace id when spans are exported.
    async fn in_root_span<T>(&self, command: &str, id: &str, call: impl Future<Output = T>) -> (T, Option<String>) {
        let span = command_span(command, id, None);
        let output = call.instrument(span.clone()).await;
        (output, ct_telemetry::propagate::trace_id_of_span(&span))
    }

    /// Runs `call` (a command on a running workflow) inside a span that is a child of the
    /// workflow's own (`traceparent`, from its status), so the command is part of its trace.
    async fn in_workflow_trace<T>(
        &self,
        command: &str,
        id: &str,
        traceparent: Option<&str>,
        call: impl Future<Output = T>,
    ) -> T {
        call.instrument(command_span(command, id, traceparent)).await
    }

    /// Where to look at workflow `id`, and at its trace when there is one.
    fn links(&self, id: &str, trace_id: Option<String>) -> project::Links {
        let trace_url = self.trace_url(trace_id.as_deref());
        project::Links { ui_url: self.ui_link(id), trace_id, trace_url }
    }

    /// The trace in the Jaeger UI, when one is configured.
    fn trace_url(&self, trace_id: Option<&str>) -> Option<String> {
        let base = self.args.jaeger_ui_base_url.trim_end_matches('/');
        trace_id.filter(|_| !base.is_empty()).map(|trace| format!("{base}/trace/{trace}"))
    }

    fn ui_link(&self, id: &str) -> String {
        format!("{}/namespaces/{}/workflows/{}", self.args.ui_base_url.trim_end_matches('/'), self.args.namespace, id)
    }

    fn unknown(&self, id: &str) -> CliError {
        CliError::UnknownWorkflow(format!(
            "no workflow `{id}` in namespace `{}`; `claude-temporal list` shows the recent ones",
            self.args.namespace
        ))
    }

    /// Whether workflow `id` is still running, from Temporal (a describe needs no worker);
    /// `None` when Temporal does not know it (or cannot be asked).
    async fn running(&self, id: &str) -> Option<bool> {
        let description = self.handle(id).describe(temporalio_client::WorkflowDescribeOptions::default()).await.ok()?;
        Some(description.status() == temporalio_client::WorkflowExecutionStatus::Running)
    }

    /// The workflow's own view of itself, from its status query.
    async fn status(&self, id: &str) -> anyhow::Result<WorkflowStatus> {
        let handle = self.handle(id);
        let query = handle.query(Status, (), WorkflowQueryOptions::default());
        match tokio::time::timeout(QUERY_DEADLINE, query).await {
            Err(_) => Err(CliError::Unreachable(format!(
                "no worker answered for workflow `{id}` within {}s: is ct-worker running on task queue \
                 `{}`? (`claude-temporal dev status`)",
                QUERY_DEADLINE.as_secs(),
                self.args.task_queue
            ))
            .into()),
            Ok(Err(WorkflowQueryError::NotFound(_))) => Err(self.unknown(id).into()),
            Ok(Err(err)) => Err(anyhow::anyhow!("status query of workflow `{id}` failed: {err}")),
            Ok(Ok(status)) => Ok(status),
        }
    }
}
