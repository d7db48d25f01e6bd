use std::time::Duration;

use clap::Parser;
use ct_events::{ConsumerSettings, StreamSettings};
use ct_notifier::{
    DEFAULT_CONSOLE_EVENTS, DEFAULT_SLACK_EVENTS, DEFAULT_WEBHOOK_EVENTS, RetryPolicy, Settings,
};
use tokio_util::sync::CancellationToken;

/// Sends claude-temporal events to the console, Slack and signed webhooks.
#[derive(Parser)]
#[command(name = "ct-notifier", version)]
struct Args {
    #[arg(long, env = "NATS_URL", default_value = ct_events::DEFAULT_NATS_URL)]
    nats_url: String,

    /// Backends, comma-separated: console, slack, webhook.
    #[arg(long = "types", env = "NOTIFICATION_TYPE", default_value = "console")]
    types: String,

    /// Slack incoming-webhook URL (a credential: never logged).
    #[arg(long, env = "SLACK_WEBHOOK_URL", hide_env_values = true)]
    slack_webhook_url: Option<String>,

    /// Channel to post to instead of the webhook's own.
    #[arg(long, env = "SLACK_CHANNEL")]
    slack_channel: Option<String>,

    /// Generic webhook URL (never logged).
    #[arg(long, env = "NOTIFICATION_WEBHOOK_URL", hide_env_values = true)]
    webhook_url: Option<String>,

    /// Standard Webhooks signing secret, whsec_<base64> (never logged).
    #[arg(long, env = "NOTIFICATION_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,

    /// Events the console shows: types, families (stage.*), * and !exclusions.
    #[arg(long, env = "NOTIFY_CONSOLE_EVENTS", default_value = DEFAULT_CONSOLE_EVENTS)]
    console_events: String,

    /// Events sent to Slack.
    #[arg(long, env = "NOTIFY_SLACK_EVENTS", default_value = DEFAULT_SLACK_EVENTS)]
    slack_events: String,

    /// Events sent to the webhook.
    #[arg(long, env = "NOTIFY_WEBHOOK_EVENTS", default_value = DEFAULT_WEBHOOK_EVENTS)]
    webhook_events: String,

    /// Attempts per event and backend before it is dead-lettered.
    #[arg(long, env = "NOTIFY_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,

    /// Backoff before the second attempt, doubling after each failure.
    #[arg(long, env = "NOTIFY_RETRY_INITIAL_MS", default_value_t = 1000)]
    retry_initial_ms: u64,

    /// Longest backoff between attempts.
    #[arg(long, env = "NOTIFY_RETRY_MAX_MS", default_value_t = 60_000)]
    retry_max_ms: u64,

    /// A longer Retry-After than this dead-letters the event instead of waiting.
    #[arg(long, env = "NOTIFY_RETRY_AFTER_MAX_SECS", default_value_t = 300)]
    retry_after_max_secs: u64,

    /// Timeout of one HTTP attempt.
    #[arg(long, env = "NOTIFY_HTTP_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    http_timeout_ms: u64,

    /// Durable consumer name; notifiers sharing it share the work.
    #[arg(long, env = "CT_NOTIFIER_CONSUMER", default_value = ct_notifier::DEFAULT_CONSUMER)]
    consumer: String,

    /// Seconds before an unacknowledged event is delivered again.
    #[arg(long, env = "CT_NOTIFIER_ACK_WAIT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    ack_wait_secs: u64,
    /// Serve delivery counters per backend as Prometheus /metrics on this address.
    #[arg(long, env = "CT_NOTIFIER_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a crypto provider of its own (no aws-lc).
    let _ = rustls::crypto::ring::default_provider().install_default();
    ct_telemetry::init("ct-notifier");
    let args: Args = ct_telemetry::parse_args();
    let settings = Settings {
        types: args.types,
        slack_webhook_url: args.slack_webhook_url,
        slack_channel: args.slack_channel,
        webhook_url: args.webhook_url,
        webhook_secret: args.webhook_secret,
        console_events: args.console_events,
        slack_events: args.slack_events,
        webhook_events: args.webhook_events,
    };
    let (backends, stream) = match (settings.backends(), StreamSettings::from_env()) {
        (Ok(backends), Ok(stream)) => (backends, stream),
        (Err(err), _) => usage_error(&err),
        (_, Err(err)) => usage_error(&err),
    };
    let mut config = ct_notifier::Config::new(args.nats_url, backends);
    config.consumer = ConsumerSettings::new(stream, args.consumer);
    config.consumer.ack_wait = Duration::from_secs(args.ack_wait_secs);
    config.retry = RetryPolicy {
        max_attempts: args.max_attempts,
        initial_delay: Duration::from_millis(args.retry_initial_ms),
        max_delay: Duration::from_millis(args.retry_max_ms),
        max_retry_after: Duration::from_secs(args.retry_after_max_secs),
    };
    config.http_timeout = Duration::from_millis(args.http_timeout_ms);
    config.metrics_listen = args.metrics_listen;

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_telemetry::cancel_on_signal(shutdown.clone()));
    ct_notifier::run(config, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

fn usage_error(err: &dyn std::fmt::Display) -> ! {
    eprintln!("ct-notifier: {err}");
    std::process::exit(64);
}
