//! The notifier: a durable consumer of claude-temporal events that fans them
//! out to the console, a Slack incoming webhook and a generic webhook signed
//! per the Standard Webhooks spec, in any combination, each with its own
//! event filter.
//!
//! Delivery is at-least-once: a message is acked only after every matching
//! backend accepted it or it was dead-lettered for that backend
//! (`ct.deadletter.<backend>.<workflow>.<type>`, see [`DEADLETTER_STREAM`]).
//! Within a process a backend never gets the same event id twice; across a
//! restart a redelivery can repeat one, which webhook receivers recognise by
//! `webhook-id` (the event id). Webhook URLs and secrets are never logged.

mod backend;
mod config;
mod deadletter;
mod dispatch;
mod error;
mod filter;
mod links;
mod metrics;
mod recent;
mod render;
mod retry;
mod secret;

use std::time::Duration;

use ct_events::{ConsumerSettings, EventConsumer, StreamSettings};
use tokio_util::sync::CancellationToken;

use backend::{Backend, Console, HttpClient, Slack, Webhook};
pub use config::{BackendConfig, ConfigError, backends};
pub use deadletter::{DEADLETTER_PREFIX, DEADLETTER_STREAM};
pub use error::Error;
pub use filter::{EventFilter, FilterError};
pub use links::ApprovalLinks;
pub use retry::RetryPolicy;
pub use secret::{SecretError, SecretUrl, WebhookSecret};

/// Durable consumer name unless configured otherwise.
pub const DEFAULT_CONSUMER: &str = "ct-notifier";

#[derive(Debug)]
pub struct Config {
    pub nats_url: String,
    /// Who to log in to NATS as (compose: a user that may only read the events and write
    /// dead letters).
    pub nats_login: Option<ct_events::NatsLogin>,
    pub consumer: ConsumerSettings,
    pub backends: Vec<BackendConfig>,
    pub retry: RetryPolicy,
    /// Per HTTP attempt, connecting included.
    pub http_timeout: Duration,
    /// Where delivery counters are served as Prometheus `/metrics`; none when unset. Bound by
    /// the caller, so its port is known (and a bad address refused) before the notifier runs.
    pub metrics_listener: Option<std::net::TcpListener>,
    /// Signs the approve/reject links of approval requests (webhook, and the console when asked)
    /// and the decisions of Slack's buttons; none: no links and no buttons.
    pub approval_links: Option<ApprovalLinks>,
}

impl Config {
    pub fn new(nats_url: impl Into<String>, backends: Vec<BackendConfig>) -> Self {
        Self {
            nats_url: nats_url.into(),
            nats_login: None,
            consumer: ConsumerSettings::new(StreamSettings::default(), DEFAULT_CONSUMER),
            backends,
            retry: RetryPolicy::default(),
            http_timeout: Duration::from_secs(10),
            metrics_listener: None,
            approval_links: None,
        }
    }
}

/// Consumes and delivers until `shutdown`. NATS may be down at start or go
/// away meanwhile: consuming waits for it. An event being delivered when
/// `shutdown` comes is left unacked and is delivered again later.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let http = HttpClient::new(config.http_timeout).map_err(Error::Http)?;
    for backend in &config.backends {
        match backend {
            BackendConfig::Console { filter, .. } => tracing::info!(%filter, "backend console"),
            BackendConfig::Slack { url, filter, .. } => {
                tracing::info!(%url, %filter, "backend slack")
            }
            BackendConfig::Webhook { url, filter, .. } => {
                tracing::info!(%url, %filter, "backend webhook")
            }
        }
    }
    let metrics = std::sync::Arc::new(metrics::DeliveryMetrics::new());
    if let Some(listener) = config.metrics_listener {
        let (metrics, shutdown) = (metrics.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(err) = metrics::serve(listener, metrics, shutdown).await {
                tracing::error!(%err, "cannot serve /metrics; delivering without it");
            }
        });
    }
    let links = config.approval_links.map(std::sync::Arc::new);
    let routes = config.backends.into_iter().map(|backend| route(backend, &http, links.clone())).collect();
    let client = ct_events::connect(&config.nats_url, config.nats_login.as_ref(), "ct-notifier").await?;
    let ack_wait = config.consumer.ack_wait;
    let mut consumer = EventConsumer::new(client, config.consumer);
    let mut dispatcher = dispatch::Dispatcher {
        routes,
        retry: config.retry,
        dead_letters: deadletter::DeadLetters::new(consumer.jetstream().clone()),
        ack_wait,
        metrics,
    };

    'consuming: loop {
        let batch = tokio::select! {
            () = shutdown.cancelled() => break,
            batch = consumer.next_batch(64) => batch,
        };
        for message in batch {
            tokio::select! {
                () = shutdown.cancelled() => break 'consuming,
                () = dispatcher.handle(message) => {}
            }
        }
    }
    consumer.close().await;
    Ok(())
}

fn route(backend: BackendConfig, http: &HttpClient, links: Option<std::sync::Arc<ApprovalLinks>>) -> dispatch::Route {
    match backend {
        BackendConfig::Console { filter, show_links } => {
            let links = links.filter(|_| show_links);
            dispatch::Route::new(Backend::Console(Console { links }), filter)
        }
        BackendConfig::Slack { url, channel, filter } => {
            dispatch::Route::new(Backend::Slack(Slack { http: http.clone(), url, channel, links }), filter)
        }
        BackendConfig::Webhook { url, secret, filter } => {
            dispatch::Route::new(Backend::Webhook(Webhook { http: http.clone(), url, secret, links }), filter)
        }
    }
}
