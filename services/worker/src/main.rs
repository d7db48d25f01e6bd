use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ct_config::{Flag, Service, key};
use ct_service::TemporalTarget;
use ct_service::builds::Build;
use ct_worker::Config;
use tokio_util::sync::CancellationToken;

/// Runs claude-temporal's workflows against a Temporal server (agent, test and git work runs
/// on the executors and test-runners).
///
/// Settings come from the same layers as the CLI's (defaults, CLAUDE_TEMPORAL_ENV preset,
/// config file, .env, environment, these flags); `--print-config` shows them.
#[derive(Debug, Parser)]
#[command(name = "ct-worker", version)]
struct Args {
    #[command(flatten)]
    config: ct_config::ConfigArgs,
    #[command(flatten)]
    temporal: ct_config::TemporalArgs,
    /// NATS server for events, buffered while it is unreachable [env: NATS_URL].
    #[arg(long)]
    nats_url: Option<String>,
    /// Event-publishing local activities run at once [env: WORKER_MAX_ACTIVITIES].
    #[arg(long)]
    max_activities: Option<String>,
    /// Workflow tasks processed at once [env: WORKER_MAX_WORKFLOWS].
    #[arg(long)]
    max_workflows: Option<String>,
    /// Seconds a crashed worker's workflows wait on its sticky queue before another worker takes them.
    #[arg(long, env = "WORKER_STICKY_TIMEOUT_SECS", default_value_t = 10)]
    sticky_timeout_secs: u64,
    /// Keep events in this file until NATS has stored them, so that a crashed worker's events
    /// are published when it starts again; one file per worker.
    #[arg(long, env = "CT_EVENTS_OUTBOX", value_name = "PATH")]
    events_outbox: Option<std::path::PathBuf>,
    /// Write this file (it holds the task queue) once the worker polls; a container's health check.
    #[arg(long, env = "CT_READY_FILE", value_name = "PATH")]
    ready_file: Option<std::path::PathBuf>,
}

impl Args {
    fn flags(&self) -> Vec<Option<Flag>> {
        let own = [
            Flag::given(key::NATS_URL, "--nats-url", self.nats_url.as_ref()),
            Flag::given(key::WORKER_MAX_ACTIVITIES, "--max-activities", self.max_activities.as_ref()),
            Flag::given(key::WORKER_MAX_WORKFLOWS, "--max-workflows", self.max_workflows.as_ref()),
        ];
        self.temporal.flags().into_iter().chain(own).collect()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = ct_service::parse_args();
    let settings = args.config.load(Service::Worker, args.flags()).settings;
    let _telemetry = ct_telemetry::init_at("ct-worker", &settings.log_level);
    let nats_login = ct_events::NatsLogin::load(settings.nats_user.as_deref(), settings.nats_password_file.as_deref())
        .unwrap_or_else(|err| ct_service::exit_with("ct-worker", 64, &err));
    let config = Config {
        temporal: TemporalTarget { address: settings.temporal.address, namespace: settings.temporal.namespace },
        task_queue: settings.temporal.task_queue,
        build: Build { deployment: settings.temporal.deployment, build_id: settings.temporal.build_id },
        promote_always: settings.worker.promote_always,
        nats_url: settings.nats_url,
        nats_login,
        sticky_timeout: Duration::from_secs(args.sticky_timeout_secs),
        max_activities: settings.worker.max_activities,
        max_workflows: settings.worker.max_workflows,
        events_outbox: args.events_outbox.filter(|path| !path.as_os_str().is_empty()),
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(ct_service::cancel_on_signal(shutdown.clone()));
    let ready_file = args.ready_file;
    ct_service::withdraw_ready_file(ready_file.as_deref());
    let ran =
        ct_worker::run(config, shutdown, |task_queue| ct_service::announce_ready(ready_file.as_deref(), task_queue));
    match ran.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}
