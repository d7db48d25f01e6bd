//! Slack's approval buttons: `POST /slack/interactions`. The request is verified (signature,
//! age, not seen before) before its body is read; the button's value must be a decision the
//! stack signed (so a message someone else posts to the channel carries none), for the verdict
//! the button names; the clicking user must be an approver. Slack is answered at once (it wants
//! an answer within 3 s); the decision goes on behind, and its outcome (who decided, or why
//! nothing was) replaces the message through the click's `response_url`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ct_approvals::link;
use ct_approvals::slack::{self, Click};
use ct_approvals::{GateDecision, Verdict};
use ct_domain::WorkflowStatus;
use reqwest::Url;

use crate::decide::{Outcome, decide};
use crate::replay::Seen;
use crate::{Gateway, SlackApp};

pub(crate) async fn interaction(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(app) = &gateway.slack else {
        return (StatusCode::NOT_FOUND, "this gateway has no Slack signing secret\n").into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = ct_approvals::unix_now();
    let verified = match slack::verify(
        &app.secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
    ) {
        Ok(verified) => verified,
        Err(err) => {
            tracing::warn!(%err, "Slack request refused");
            return (StatusCode::UNAUTHORIZED, format!("{err}\n")).into_response();
        }
    };
    match app.seen.record(&verified, now) {
        Seen::New => {}
        Seen::Replayed => {
            tracing::warn!("a Slack request came again: refused as a replay");
            return (StatusCode::CONFLICT, "this request was taken already: refused as a replay\n").into_response();
        }
        Seen::Full => return busy(),
    }
    let click = match slack::click(&body) {
        Ok(click) => click,
        Err(err) => return (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response(),
    };
    let decision = match signed_decision(&gateway, &click, now) {
        Ok(decision) => decision,
        Err(why) => {
            tracing::info!(user = %click.user_id, why, "a Slack click carried no decision of this stack's");
            return (StatusCode::FORBIDDEN, format!("{why}\n")).into_response();
        }
    };
    // Slack wants its answer within 3 s: the decision goes on behind, a bounded number at once.
    let Ok(permit) = app.in_flight.clone().try_acquire_owned() else {
        return busy();
    };
    let task = gateway.clone();
    gateway.tasks.spawn(async move {
        let _permit = permit;
        let (text, replace) = outcome_text(&task, &click, &decision).await;
        respond(&task, &click, text, replace).await;
    });
    StatusCode::OK.into_response()
}

/// The decision the clicked button carries, once its signature, expiry and verdict hold.
fn signed_decision(gateway: &Gateway, click: &Click, now: i64) -> Result<GateDecision, String> {
    let Some(key) = &gateway.link_key else {
        return Err("this gateway has no link key: it cannot check the buttons' decisions".to_owned());
    };
    let claim = link::verify_button(key, &click.token, now).map_err(|err| err.to_string())?;
    if claim.decision.verdict != click.verdict {
        return Err("the button's decision is not the one its label says".to_owned());
    }
    Ok(claim.decision)
}

fn busy() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "too many approval clicks at once; click again in a moment\n").into_response()
}

/// What the message says after the click, and whether it replaces the request (a decision) or
/// stands beside it (a refusal, shown to the clicker only).
async fn outcome_text(gateway: &Gateway, click: &Click, decision: &GateDecision) -> (String, bool) {
    let configured = gateway.slack.as_ref().map(|app| &app.approvers);
    let user = &click.user_id;
    // The workflow's own list when it was started with one, else the gateway's.
    let may_decide = |status: &WorkflowStatus| {
        let allowed = if status.slack_approvers.is_empty() {
            configured.is_some_and(|approvers| approvers.contains(user))
        } else {
            status.slack_approvers.contains(user)
        };
        if allowed {
            Ok(())
        } else {
            Err(format!("Slack user {user} may not decide the gates of workflow `{}`", decision.workflow_id))
        }
    };
    let by = format!("Slack user {} ({})", click.user_id, click.user_name);
    match decide(&gateway.client, decision, by, String::new(), &may_decide).await {
        Outcome::Decided => {
            let verb = match decision.verdict {
                Verdict::Approve => "approved",
                Verdict::Reject => "rejected",
            };
            let (stage, id) = (mrkdwn(&decision.stage), mrkdwn(&decision.workflow_id));
            (format!("Stage `{stage}` of `{id}` {verb} by <@{}>.", click.user_id), true)
        }
        Outcome::Refused(why) | Outcome::Unknown(why) => (format!("Nothing was decided: {}", mrkdwn(&why)), false),
    }
}

/// Text as Slack's mrkdwn shows it, not runs it (`<!channel>`, links).
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Posts `text` to the click's `response_url` (replacing the message, or beside it), when it
/// points where Slack's do.
async fn respond(gateway: &Gateway, click: &Click, text: String, replace_original: bool) {
    let Some(app): Option<&SlackApp> = gateway.slack.as_ref() else { return };
    let Some(url) = click.response_url.as_deref().and_then(|url| within(url, &app.response_prefix)) else {
        tracing::warn!("a Slack click without a response_url of Slack's: the outcome is not shown there");
        return;
    };
    let message = serde_json::json!({
        "replace_original": replace_original,
        "response_type": if replace_original { "in_channel" } else { "ephemeral" },
        "text": text,
    });
    if let Err(err) = app.http.post(url).json(&message).send().await.and_then(|r| r.error_for_status()) {
        tracing::warn!(err = %err.without_url(), "could not update the Slack message");
    }
}

/// `url` when it is under `prefix`: the same scheme, host and port, and a path below the
/// prefix's. Compared parsed, so `https://hooks.slack.com.evil.example/` or a user-info trick
/// does not pass as Slack's.
fn within(url: &str, prefix: &Url) -> Option<Url> {
    let url = Url::parse(url).ok()?;
    let same_origin = url.scheme() == prefix.scheme()
        && url.host_str() == prefix.host_str()
        && url.port_or_known_default() == prefix.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none();
    (same_origin && url.path().starts_with(prefix.path())).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_under_slacks_prefix_are_posted_to() {
        let prefix = Url::parse("https://hooks.slack.com/").unwrap();
        assert!(within("https://hooks.slack.com/actions/T1/2/x", &prefix).is_some());
        for url in [
            "https://hooks.slack.com.evil.example/actions",
            "https://evil.example/https://hooks.slack.com/",
            "https://user@hooks.slack.com/actions",
            "http://hooks.slack.com/actions",
            "https://hooks.slack.com:8443/actions",
            "not a url",
        ] {
            assert!(within(url, &prefix).is_none(), "{url}");
        }
        let local = Url::parse("http://127.0.0.1:9000/slack/").unwrap();
        assert!(within("http://127.0.0.1:9000/slack/response/1", &local).is_some());
        assert!(within("http://127.0.0.1:9000/other", &local).is_none());
    }
}
