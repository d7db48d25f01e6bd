//! The gateway: the one inbound HTTP door for people. Approval links signed by the stack
//! (`/decide/<token>`: a confirmation page, then the decision) and Slack's approval buttons
//! (`/slack/interactions`, verified with the app's signing secret, the clicking user checked
//! against the approvers). Every decision goes to the workflow as its approve/reject Update
//! under the gate's own Update id, so a gate is decided once however many clicks, retries or
//! replays reach it, and it names who decided. It also serves the web dashboard (`dashboard`),
//! to people signed in with a link the CLI makes (`auth`).

mod auth;
mod dashboard;
mod decide;
mod links;
mod page;
mod replay;
mod slack;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use ct_approvals::link::LinkKey;
use ct_approvals::slack::SigningSecret;
use reqwest::Url;
use temporalio_client::Client;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The most of a request body read: a Slack interaction payload is a few KiB.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest a request may take, body included: a decision waits at most 20 s on Temporal,
/// and a client that sends its body slowly holds nothing longer than this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests handled at once; more wait their turn.
const MAX_CONCURRENT_REQUESTS: usize = 256;
/// Slack decisions going on behind their answered clicks at once; more are turned away.
const MAX_SLACK_DECISIONS_IN_FLIGHT: usize = 32;
/// Dashboard pages following their workflow's events at once; more are turned away.
const MAX_EVENT_STREAMS: usize = 64;
/// Stage diffs read at once; more are turned away.
const MAX_DIFFS_AT_ONCE: usize = 2;

/// What the handlers share.
pub struct Gateway {
    client: Client,
    /// Signs and checks approval links, sign-in links, sessions and CSRF tokens.
    link_key: Option<LinkKey>,
    slack: Option<SlackApp>,
    used_logins: auth::UsedLogins,
    /// When this process started: sign-in links made before it are not taken.
    started_unix: i64,
    /// People reach the gateway over HTTPS (a proxy in front of it): cookies are `Secure`.
    https: bool,
    /// Work going on after its request was answered (Slack decisions): waited for at shutdown.
    tasks: TaskTracker,
    /// JetStream on NATS: the dashboard follows workflows' events there.
    events: async_nats::jetstream::Context,
    /// Event streams open at once (each holds a consumer on the server).
    live_streams: Arc<Semaphore>,
    /// Diffs read at once (each holds a blocking thread while libgit2 reads); more are turned away.
    diffs: Arc<Semaphore>,
    /// Cancelled when the gateway stops: open event streams end, so the server can.
    stopping: CancellationToken,
}

/// The Slack app whose buttons the gateway answers.
struct SlackApp {
    secret: SigningSecret,
    /// Slack user ids allowed to decide.
    approvers: HashSet<String>,
    /// Where outcomes are posted (`response_url`s must be under it).
    response_prefix: Url,
    http: reqwest::Client,
    seen: replay::SeenRequests,
    in_flight: Arc<Semaphore>,
}

/// How the gateway is set up.
pub struct Options {
    pub link_key: Option<LinkKey>,
    pub slack: Option<SigningSecret>,
    /// Slack user ids allowed to decide.
    pub approvers: HashSet<String>,
    /// The only place a click's `response_url` may point (Slack's `https://hooks.slack.com/`),
    /// so a request cannot make the gateway post elsewhere.
    pub response_prefix: Url,
    /// Whether people reach it over HTTPS.
    pub https: bool,
    /// NATS, for the workflows' events on the dashboard.
    pub nats: async_nats::Client,
}

impl Gateway {
    pub fn new(client: Client, options: Options) -> Arc<Self> {
        let Options { link_key, slack, approvers, response_prefix, https, nats } = options;
        let slack = slack.map(|secret| SlackApp {
            secret,
            approvers,
            response_prefix,
            seen: replay::SeenRequests::default(),
            in_flight: Arc::new(Semaphore::new(MAX_SLACK_DECISIONS_IN_FLIGHT)),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client with no TLS settings of its own"),
        });
        Arc::new(Self {
            client,
            link_key,
            slack,
            used_logins: auth::UsedLogins::default(),
            started_unix: ct_approvals::unix_now(),
            https,
            tasks: TaskTracker::new(),
            events: async_nats::jetstream::new(nats),
            live_streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
            diffs: Arc::new(Semaphore::new(MAX_DIFFS_AT_ONCE)),
            stopping: CancellationToken::new(),
        })
    }

    /// Cancelled when the gateway is to stop; cancelling it ends the open event streams.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Waits (up to `grace`) for decisions still going on behind answered requests.
    pub async fn drain(&self, grace: Duration) {
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            tracing::warn!(left = self.tasks.len(), "stopped with decisions still going on");
        }
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/decide/{token}", get(links::confirm).post(links::decide))
            .route("/slack/interactions", post(slack::interaction))
            .route("/login/{token}", get(auth::login_page).post(auth::login))
            .route("/logout", post(auth::logout))
            .merge(dashboard::routes())
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            // The timeout is outermost: a request waiting for a slot is timed out too.
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(MAX_CONCURRENT_REQUESTS))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
            // After the limits: a busy gateway still answers its health check.
            .route("/healthz", get(|| async { "ok\n" }))
            .with_state(self)
    }
}
