use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ct_config::{Flag, Service, key};
use ct_events::{ConsumerSettings, StreamSettings};
use tokio_util::sync::CancellationToken;

/// Writes one JSONL line per finished stage and serves Prometheus /metrics.
///
/// Settings come from the same layers as the CLI's (defaults, CLAUDE_TEMPORAL_ENV preset,
/// config file, .env, environment, these flags); `--print-config` shows them.
#[derive(Parser)]
#[command(name = "ct-metrics-sink", version)]
struct Args {
    #[command(flatten)]
    config: ct_config::ConfigArgs,

    /// NATS server holding the events [env: NATS_URL].
    #[arg(long)]
    nats_url: Option<String>,

    /// The JSONL file lines are appended to [env: METRICS_FILE].
    #[arg(long)]
    metrics_file: Option<PathBuf>,

    /// Address of the /metrics endpoint; port 0 picks a free one.
    #[arg(long, env = "CT_METRICS_SINK_LISTEN", default_value = "127.0.0.1:9464")]
    listen: SocketAddr,

    /// Durable consumer name; sinks sharing it share the work.
    #[arg(long, env = "CT_METRICS_SINK_CONSUMER", default_value = ct_metrics_sink::DEFAULT_CONSUMER)]
    consumer: String,

    /// Seconds before an unacknowledged event is delivered again.
    #[arg(long, env = "CT_METRICS_SINK_ACK_WAIT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    ack_wait_secs: u64,

    /// Most events written with one disk sync.
    #[arg(long, env = "CT_METRICS_SINK_BATCH", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = ct_service::parse_args();
    let flags = [
        Flag::given(key::NATS_URL, "--nats-url", args.nats_url.as_ref()),
        Flag::given(key::METRICS_FILE, "--metrics-file", args.metrics_file.as_ref().map(|p| p.display())),
    ];
    let settings = args.config.load(Service::MetricsSink, flags).settings;
    let _telemetry = ct_telemetry::init_at("ct-metrics-sink", &settings.log_level);
    let stream = StreamSettings::from_env().unwrap_or_else(|err| {
        eprintln!("ct-metrics-sink: {err}");
        std::process::exit(64);
    });
    let mut consumer = ConsumerSettings::new(stream, args.consumer);
    consumer.ack_wait = Duration::from_secs(args.ack_wait_secs);
    let nats_login = ct_events::NatsLogin::load(settings.nats_user.as_deref(), settings.nats_password_file.as_deref())
        .unwrap_or_else(|err| {
            eprintln!("ct-metrics-sink: {err}");
            std::process::exit(64);
        });
    let config = ct_metrics_sink::Config {
        nats_url: settings.nats_url,
        nats_login,
        metrics_file: settings.metrics_file,
        consumer,
        batch_size: args.batch as usize,
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let addr = listener.local_addr().context("could not read the bound address")?;
    tracing::info!("listening on {addr}");

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_service::cancel_on_signal(shutdown.clone()));
    ct_metrics_sink::run(listener, config, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
