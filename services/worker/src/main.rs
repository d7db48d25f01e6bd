use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ct_fleet::TemporalTarget;
use ct_worker::Config;
use tokio_util::sync::CancellationToken;

/// Runs claude-temporal's workflows and activities against a Temporal server.
#[derive(Debug, Parser)]
#[command(name = "ct-worker", version)]
struct Args {
    /// Temporal frontend address (host:port).
    #[arg(long, env = "TEMPORAL_ADDRESS", default_value = "127.0.0.1:7233")]
    temporal_address: String,
    #[arg(long, env = "TEMPORAL_NAMESPACE", default_value = "default")]
    namespace: String,
    #[arg(long, env = "TEMPORAL_TASK_QUEUE", default_value = ct_domain::DEFAULT_TASK_QUEUE)]
    task_queue: String,
    /// NATS server for events (they are buffered while it is unreachable).
    #[arg(long, env = "NATS_URL", default_value = ct_events::DEFAULT_NATS_URL)]
    nats_url: String,
    /// Seconds a crashed worker's workflows wait on its sticky queue before another worker takes them.
    #[arg(long, env = "WORKER_STICKY_TIMEOUT_SECS", default_value_t = 10)]
    sticky_timeout_secs: u64,
    /// Event-publishing local activities run at once (agent, test and git work runs on the
    /// executors and test-runners).
    #[arg(long, env = "WORKER_MAX_ACTIVITIES", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    max_activities: u64,
    /// Workflow tasks processed at once.
    #[arg(long, env = "WORKER_MAX_WORKFLOWS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(2..=10_000))]
    max_workflows: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    ct_telemetry::init("ct-worker");
    let args: Args = ct_telemetry::parse_args();
    let config = Config {
        temporal: TemporalTarget {
            address: args.temporal_address,
            namespace: args.namespace,
        },
        task_queue: args.task_queue,
        nats_url: args.nats_url,
        sticky_timeout: Duration::from_secs(args.sticky_timeout_secs),
        // The parser keeps both within 10 000.
        max_activities: args.max_activities as usize,
        max_workflows: args.max_workflows as usize,
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(ct_telemetry::cancel_on_signal(shutdown.clone()));
    match ct_worker::run(config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}
