//! Slack's approval buttons: `POST /slack/interactions`. The request is verified (signature,
//! age) before its body is read; the clicking user must be an approver. Slack is answered at
//! once (it wants an answer within 3 s); the decision goes on behind, and its outcome (who
//! decided, or why nothing was) replaces the message through the click's `response_url`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ct_approvals::Verdict;
use ct_approvals::slack::{self, Click};

use crate::decide::{Outcome, decide};
use crate::{Gateway, SlackApp};

pub(crate) async fn interaction(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(app) = &gateway.slack else {
        return (StatusCode::NOT_FOUND, "this gateway has no Slack signing secret\n").into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let checked =
        slack::verify(&app.secret, header("x-slack-request-timestamp"), header("x-slack-signature"), &body, now);
    if let Err(err) = checked {
        tracing::warn!(%err, "Slack request refused");
        return (StatusCode::UNAUTHORIZED, format!("{err}\n")).into_response();
    }
    let click = match slack::click(&body) {
        Ok(click) => click,
        Err(err) => return (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response(),
    };
    if !app.approvers.contains(&click.user_id) {
        tracing::warn!(user = %click.user_id, workflow = %click.decision.workflow_id, "a Slack user who is no approver clicked");
        let text = format!("<@{}> may not decide claude-temporal approvals; nothing was decided.", click.user_id);
        tokio::spawn(respond(gateway.clone(), click, text, false));
        return StatusCode::OK.into_response();
    }
    tokio::spawn(async move {
        let by = format!("Slack user {} ({})", click.user_id, click.user_name);
        let outcome = decide(&gateway.client, &click.decision, by, String::new()).await;
        let (text, replace) = match outcome {
            Outcome::Decided { stage } => {
                let verb = match click.decision.verdict {
                    Verdict::Approve => "approved",
                    Verdict::Reject => "rejected",
                };
                (format!("Stage `{stage}` of `{}` {verb} by <@{}>.", click.decision.workflow_id, click.user_id), true)
            }
            Outcome::Refused(why) | Outcome::Unknown(why) => (format!("Nothing was decided: {why}"), false),
        };
        respond(gateway, click, text, replace).await;
    });
    StatusCode::OK.into_response()
}

/// Posts `text` to the click's `response_url` (replacing the message, or beside it), when it
/// points where Slack's do.
async fn respond(gateway: Arc<Gateway>, click: Click, text: String, replace_original: bool) {
    let Some(app): Option<&SlackApp> = gateway.slack.as_ref() else { return };
    let Some(url) = click.response_url.filter(|url| url.starts_with(&app.response_prefix)) else {
        tracing::warn!("a Slack click without a response_url of Slack's: the outcome is not shown there");
        return;
    };
    let message = serde_json::json!({
        "replace_original": replace_original,
        "response_type": if replace_original { "in_channel" } else { "ephemeral" },
        "text": text,
    });
    if let Err(err) = app.http.post(&url).json(&message).send().await.and_then(|r| r.error_for_status()) {
        tracing::warn!(%err, "could not update the Slack message");
    }
}
