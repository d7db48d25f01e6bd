//! Slack incoming webhooks, with a Block Kit message: a header, the facts as
//! fields, the next command, Approve and Reject buttons on approval requests (the
//! gateway takes the clicks, checking the clicker against its approvers), and the
//! event's type and id as context.

use ct_events::CloudEvent;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use std::sync::Arc;

use ct_approvals::Verdict;
use ct_approvals::slack;

use super::{DeliveryError, HttpClient};
use crate::links::{ApprovalLinks, LinkPair};
use crate::render::{Notice, notice};
use crate::secret::SecretUrl;

pub(crate) struct Slack {
    pub(crate) http: HttpClient,
    pub(crate) url: SecretUrl,
    /// Overrides the webhook's default channel (legacy webhooks honour it).
    pub(crate) channel: Option<String>,
    /// Signs the buttons' decisions; without it approval requests carry no buttons.
    pub(crate) links: Option<Arc<ApprovalLinks>>,
}

impl Slack {
    pub(crate) async fn deliver(&self, event: &CloudEvent) -> Result<(), DeliveryError> {
        let buttons = self.links.as_ref().and_then(|links| links.button_tokens(event));
        let message = message(event, &notice(event), self.channel.as_deref(), buttons);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // A Value holds only strings and arrays here: serializing cannot fail.
        let body = serde_json::to_vec(&message).expect("a Slack message serializes");
        self.http.post(&self.url, headers, body).await
    }
}

/// Block Kit limits: header text 150 characters, at most 10 fields.
fn message(event: &CloudEvent, notice: &Notice, channel: Option<&str>, buttons: Option<LinkPair>) -> Value {
    let fields: Vec<Value> = notice
        .facts
        .iter()
        .take(10)
        .map(|(label, value)| json!({ "type": "mrkdwn", "text": format!("*{label}*\n{}", escape(value)) }))
        .collect();
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": truncate(&notice.title, 150), "emoji": true }
        }),
        json!({ "type": "section", "fields": fields }),
    ];
    if let Some(next) = &notice.next_step {
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": format!("*Next:* `{}`", escape(next)) }
        }));
    }
    if let Some(tokens) = buttons {
        blocks.push(approval_buttons(tokens));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": format!("{} · {} · event {}", event.event_type(), event.time.format("%Y-%m-%d %H:%M:%S UTC"), event.id)
        }]
    }));
    let mut message = json!({
        // Shown in notifications and by clients without Block Kit.
        "text": escape(&format!("{}: {}", notice.title, event.workflow_id())),
        "blocks": blocks,
    });
    if let Some(channel) = channel {
        message["channel"] = channel.into();
    }
    message
}

/// Approve and Reject: each button's value is its decision's signed token, which the gateway
/// verifies when Slack sends the click back (a message posted to the channel by anyone else
/// cannot carry a decision the stack did not sign).
fn approval_buttons(tokens: LinkPair) -> Value {
    json!({
        "type": "actions",
        "block_id": "ct-approval",
        "elements": [
            {
                "type": "button",
                "action_id": slack::action_id(Verdict::Approve),
                "style": "primary",
                "text": { "type": "plain_text", "text": "Approve" },
                "value": tokens.approve,
            },
            {
                "type": "button",
                "action_id": slack::action_id(Verdict::Reject),
                "style": "danger",
                "text": { "type": "plain_text", "text": "Reject" },
                "value": tokens.reject,
                "confirm": {
                    "title": { "type": "plain_text", "text": "Reject this stage?" },
                    "text": { "type": "plain_text", "text": "The workflow stops at this stage." },
                    "confirm": { "type": "plain_text", "text": "Reject" },
                    "deny": { "type": "plain_text", "text": "Cancel" },
                },
            },
        ]
    })
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max - 1) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use ct_events::EventData;
    use ct_events::data::ApprovalRequested;

    use super::*;

    #[test]
    fn an_approval_message_has_header_fields_next_command_and_context() {
        let event = CloudEvent::new(
            "/t",
            EventData::ApprovalRequested(ApprovalRequested {
                workflow_id: "develop-demo".into(),
                run_id: "run-1".into(),
                stage: "implement".into(),
                summary: Some("adds <script> & more".into()),
                cost_so_far_usd: 1.25,
                timeout_secs: None,
                estimate_rest_usd: None,
            }),
        );
        let links = ApprovalLinks::new(ct_approvals::link::LinkKey::new(&[1; 32]).unwrap(), "http://gw");
        let message = message(&event, &notice(&event), Some("#builds"), links.button_tokens(&event));
        assert_eq!(message["channel"], "#builds");
        assert_eq!(message["text"], "Approval needed: implement: develop-demo");
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        let fields = blocks[1]["fields"].as_array().unwrap();
        assert!(fields.iter().any(|f| f["text"] == "*Cost so far*\n$1.2500"));
        assert!(fields.iter().any(|f| f["text"] == "*Summary*\nadds &lt;script&gt; &amp; more"));
        let next = blocks[2]["text"]["text"].as_str().unwrap();
        assert!(next.contains("claude-temporal approve develop-demo"), "{next}");
        assert_eq!(blocks[3]["type"], "actions");
        let buttons = blocks[3]["elements"].as_array().unwrap();
        let key = ct_approvals::link::LinkKey::new(&[1; 32]).unwrap();
        let decisions: Vec<ct_approvals::GateDecision> = buttons
            .iter()
            .map(|b| ct_approvals::link::verify_button(&key, b["value"].as_str().unwrap(), 0).unwrap().decision)
            .collect();
        assert_eq!(buttons[0]["action_id"], "ct-approve");
        assert_eq!(decisions[0].update_id(), "approve/implement");
        assert_eq!(buttons[1]["action_id"], "ct-reject");
        assert_eq!(decisions[1].update_id(), "reject/implement");
        assert!(decisions.iter().all(|d| d.workflow_id == "develop-demo" && d.run_id == "run-1"));
        assert_eq!(blocks[4]["type"], "context");
    }

    #[test]
    fn long_titles_are_cut_to_the_header_limit() {
        assert_eq!(truncate(&"a".repeat(200), 150).chars().count(), 150);
        assert_eq!(truncate("short", 150), "short");
    }
}
