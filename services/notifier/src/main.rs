use std::time::Duration;

use clap::Parser;
use ct_config::{Flag, Service, key};
use ct_events::{ConsumerSettings, StreamSettings};
use ct_notifier::RetryPolicy;
use tokio_util::sync::CancellationToken;

/// Sends claude-temporal events to the console, Slack and signed webhooks.
///
/// Settings come from the same layers as the CLI's (defaults, CLAUDE_TEMPORAL_ENV preset,
/// config file, .env, environment, these flags); `--print-config` shows them. The webhook URLs
/// and the signing secret have no flags, so they never show in `ps`: set SLACK_WEBHOOK_URL,
/// NOTIFICATION_WEBHOOK_URL and NOTIFICATION_WEBHOOK_SECRET, or their keys in the config file.
#[derive(Parser)]
#[command(name = "ct-notifier", version)]
struct Args {
    #[command(flatten)]
    config: ct_config::ConfigArgs,

    /// NATS server holding the events [env: NATS_URL].
    #[arg(long)]
    nats_url: Option<String>,

    /// Backends, comma-separated: console, slack, webhook [env: NOTIFICATION_TYPE].
    #[arg(long = "types")]
    types: Option<String>,

    /// Channel to post to instead of the Slack webhook's own [env: SLACK_CHANNEL].
    #[arg(long)]
    slack_channel: Option<String>,

    /// Events the console shows: types, families (stage.*), * and !exclusions
    /// [env: NOTIFY_CONSOLE_EVENTS].
    #[arg(long)]
    console_events: Option<String>,

    /// Events sent to Slack [env: NOTIFY_SLACK_EVENTS].
    #[arg(long)]
    slack_events: Option<String>,

    /// Events sent to the webhook [env: NOTIFY_WEBHOOK_EVENTS].
    #[arg(long)]
    webhook_events: Option<String>,

    /// Attempts per event and backend before it is dead-lettered [env: NOTIFY_MAX_ATTEMPTS].
    #[arg(long)]
    max_attempts: Option<String>,

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
    /// File with the key approval links are signed with, the gateway's; approval requests to
    /// the webhook (and the console, with NOTIFY_CONSOLE_LINKS=on) then carry approve/reject
    /// links, and those to Slack Approve/Reject buttons [env: CT_LINK_KEY_FILE].
    #[arg(long)]
    link_key_file: Option<String>,

    /// Where people reach the gateway: the start of those links [env: CT_GATEWAY_URL].
    #[arg(long)]
    gateway_url: Option<String>,

    /// Serve delivery counters per backend as Prometheus /metrics on this address.
    #[arg(long, env = "CT_NOTIFIER_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a crypto provider of its own (no aws-lc).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Args = ct_service::parse_args();
    let flags = [
        Flag::given(key::NATS_URL, "--nats-url", args.nats_url.as_ref()),
        Flag::given(key::NOTIFICATION_TYPE, "--types", args.types.as_ref()),
        Flag::given(key::SLACK_CHANNEL, "--slack-channel", args.slack_channel.as_ref()),
        Flag::given(key::CONSOLE_EVENTS, "--console-events", args.console_events.as_ref()),
        Flag::given(key::SLACK_EVENTS, "--slack-events", args.slack_events.as_ref()),
        Flag::given(key::WEBHOOK_EVENTS, "--webhook-events", args.webhook_events.as_ref()),
        Flag::given(key::NOTIFY_MAX_ATTEMPTS, "--max-attempts", args.max_attempts.as_ref()),
        Flag::given(key::LINK_KEY_FILE, "--link-key-file", args.link_key_file.as_ref()),
        Flag::given(key::GATEWAY_URL, "--gateway-url", args.gateway_url.as_ref()),
    ];
    let configured = args.config.load(Service::Notifier, flags).settings;
    let _telemetry = ct_telemetry::init_at("ct-notifier", &configured.log_level);
    let (backends, stream) = match (ct_notifier::backends(&configured.notification), StreamSettings::from_env()) {
        (Ok(backends), Ok(stream)) => (backends, stream),
        (Err(err), _) => usage_error(&err),
        (_, Err(err)) => usage_error(&err),
    };
    let mut config = ct_notifier::Config::new(configured.nats_url.clone(), backends);
    config.nats_login =
        ct_events::NatsLogin::load(configured.nats_user.as_deref(), configured.nats_password_file.as_deref())
            .unwrap_or_else(|err| usage_error(&err));
    config.consumer = ConsumerSettings::new(stream, args.consumer);
    config.consumer.ack_wait = Duration::from_secs(args.ack_wait_secs);
    config.retry = RetryPolicy {
        max_attempts: configured.notification.max_attempts,
        initial_delay: Duration::from_millis(args.retry_initial_ms),
        max_delay: Duration::from_millis(args.retry_max_ms),
        max_retry_after: Duration::from_secs(args.retry_after_max_secs),
    };
    config.http_timeout = Duration::from_millis(args.http_timeout_ms);
    config.approval_links = configured.gateway.link_key_file.as_deref().map(|file| {
        let key = ct_approvals::read_key_file(file)
            .map_err(|err| err.to_string())
            .and_then(|bytes| {
                ct_approvals::link::LinkKey::new(&bytes).map_err(|err| format!("{}: {err}", file.display()))
            })
            .unwrap_or_else(|err| usage_error(&err));
        ct_notifier::ApprovalLinks::new(key, &configured.gateway.url)
    });
    config.metrics_listener = match args.metrics_listen.map(std::net::TcpListener::bind).transpose() {
        Ok(listener) => listener,
        Err(err) => {
            let listen = args.metrics_listen.map(|a| a.to_string()).unwrap_or_default();
            usage_error(&format!("cannot listen on {listen} for /metrics: {err}"))
        }
    };

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_service::cancel_on_signal(shutdown.clone()));
    ct_notifier::run(config, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

fn usage_error(err: &dyn std::fmt::Display) -> ! {
    eprintln!("ct-notifier: {err}");
    std::process::exit(64);
}
