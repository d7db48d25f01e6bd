//! The gateway: the one inbound HTTP door for people. Approval links signed by the stack
//! (`/decide/<token>`: a confirmation page, then the decision) and Slack's approval buttons
//! (`/slack/interactions`, verified with the app's signing secret, the clicking user checked
//! against the approvers). Every decision goes to the workflow as its approve/reject Update
//! under the gate's own Update id, so a gate is decided once however many clicks, retries or
//! replays reach it, and it names who decided.

mod decide;
mod links;
mod page;
mod slack;

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use ct_approvals::link::LinkKey;
use ct_approvals::slack::SigningSecret;
use temporalio_client::Client;

/// The most of a request body read: a Slack interaction payload is a few KiB.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers share.
pub struct Gateway {
    client: Client,
    link_key: Option<LinkKey>,
    slack: Option<SlackApp>,
}

/// The Slack app whose buttons the gateway answers.
struct SlackApp {
    secret: SigningSecret,
    /// Slack user ids allowed to decide.
    approvers: HashSet<String>,
    /// Where outcomes are posted (`response_url`s must start with it).
    response_prefix: String,
    http: reqwest::Client,
}

impl Gateway {
    /// `response_prefix`: the only place a click's `response_url` may point (Slack's
    /// `https://hooks.slack.com/`), so a request cannot make the gateway post elsewhere.
    pub fn new(
        client: Client,
        link_key: Option<LinkKey>,
        slack: Option<SigningSecret>,
        approvers: HashSet<String>,
        response_prefix: String,
    ) -> Arc<Self> {
        let slack = slack.map(|secret| SlackApp {
            secret,
            approvers,
            response_prefix,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client with no TLS settings of its own"),
        });
        Arc::new(Self { client, link_key, slack })
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/decide/{token}", get(links::confirm).post(links::decide))
            .route("/slack/interactions", post(slack::interaction))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self)
    }
}
