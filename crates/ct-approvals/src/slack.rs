//! Slack's interaction requests (a click on Approve or Reject in a message): a form post whose
//! `payload` field is JSON, signed with the Slack app's signing secret. The signature is
//! `v0=` + hex HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}`; requests older or
//! newer than five minutes are refused, so a captured request cannot be replayed later.

use serde::Deserialize;

use crate::Verdict;

/// How far a request's timestamp may be from now, as Slack's documentation asks.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// The Slack app's signing secret.
pub struct SigningSecret(ring::hmac::Key);

impl SigningSecret {
    pub fn new(secret: &[u8]) -> Self {
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    #[error("the request has no valid X-Slack-Request-Timestamp")]
    NoTimestamp,
    #[error(
        "the request's timestamp is {skew_secs} s away from now (at most {MAX_SKEW_SECS} s): refused as a possible replay"
    )]
    Stale { skew_secs: i64 },
    #[error("the request's X-Slack-Signature does not match the signing secret")]
    BadSignature,
    #[error("the request holds no interaction payload Slack would send: {0}")]
    Malformed(String),
    #[error("the clicked action is not a claude-temporal approval button")]
    NotOurs,
}

/// A request whose signature and age held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// When Slack says it sent the request (seconds since the Unix epoch).
    pub sent_unix: i64,
    /// The request's HMAC: the same for the same timestamp and body, so a replay is known by it.
    pub tag: Vec<u8>,
}

/// Checks the request's signature and age; only then may its body be read. Both headers are
/// read strictly (decimal digits; `v0=` and 64 lowercase or uppercase hex digits), so one
/// request has one spelling and a replay cannot pass as new by respelling it.
pub fn verify(
    secret: &SigningSecret,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<Verified, SlackError> {
    let sent = decimal(timestamp).ok_or(SlackError::NoTimestamp)?;
    let skew_secs = (now_unix - sent).abs();
    if skew_secs > MAX_SKEW_SECS {
        return Err(SlackError::Stale { skew_secs });
    }
    let tag = signature.strip_prefix("v0=").and_then(hex).ok_or(SlackError::BadSignature)?;
    let mut signed = format!("v0:{sent}:").into_bytes();
    signed.extend_from_slice(body);
    ring::hmac::verify(&secret.0, &signed, &tag).map_err(|_| SlackError::BadSignature)?;
    Ok(Verified { sent_unix: sent, tag })
}

/// The `v0=` signature Slack would send for `body` at `timestamp` (for tests and tools that
/// stand in for Slack).
pub fn signature(secret: &SigningSecret, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("v0:{timestamp}:").into_bytes();
    signed.extend_from_slice(body);
    let tag = ring::hmac::sign(&secret.0, &signed);
    format!("v0={}", tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Seconds as Slack writes them: decimal digits only (no sign, no spaces), at most 12.
fn decimal(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// An HMAC-SHA256 tag in hex: exactly 64 hex digits.
fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// A click on one of our buttons, as a verified request tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    /// The Slack user who clicked (`U…`), checked against the approvers.
    pub user_id: String,
    pub user_name: String,
    /// What the clicked button says it does.
    pub verdict: Verdict,
    /// The button's value: an approval link's token (see [`crate::link`]), so the decision it
    /// carries is the stack's, not whatever a message posted to the channel claims.
    pub token: String,
    /// Where the message is updated with the outcome.
    pub response_url: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: User,
    #[serde(default)]
    actions: Vec<Action>,
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Action {
    #[serde(default)]
    action_id: String,
    #[serde(default)]
    value: String,
}

/// The click a verified interaction request (`application/x-www-form-urlencoded`, `payload=`)
/// carries.
pub fn click(body: &[u8]) -> Result<Click, SlackError> {
    let payload = form_urlencoded::parse(body)
        .find(|(name, _)| name == "payload")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| SlackError::Malformed("no payload field".to_owned()))?;
    let payload: Payload = serde_json::from_str(&payload).map_err(|err| SlackError::Malformed(err.to_string()))?;
    if payload.kind != "block_actions" {
        return Err(SlackError::Malformed(format!("an interaction of type {}", payload.kind)));
    }
    let action = payload.actions.into_iter().next().ok_or(SlackError::NotOurs)?;
    let verdict = [Verdict::Approve, Verdict::Reject]
        .into_iter()
        .find(|verdict| action.action_id == action_id(*verdict))
        .ok_or(SlackError::NotOurs)?;
    let user_name = if payload.user.username.is_empty() { payload.user.name } else { payload.user.username };
    Ok(Click { user_id: payload.user.id, user_name, verdict, token: action.value, response_url: payload.response_url })
}

/// The `action_id` of a button for `verdict`.
pub fn action_id(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approve => "ct-approve",
        Verdict::Reject => "ct-reject",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(verdict: Verdict) -> Vec<u8> {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": { "id": "U123", "username": "ann" },
            "response_url": "https://hooks.slack.com/actions/T/1/x",
            "actions": [{ "action_id": action_id(verdict), "value": "a-link-token" }]
        });
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    #[test]
    fn a_request_signed_with_the_secret_within_five_minutes_verifies() {
        let secret = SigningSecret::new(b"8f742231b10e8888abcd99yyyzzz85a5");
        let body = body(Verdict::Approve);
        let signed = signature(&secret, 1_000, &body);
        let verified = verify(&secret, "1000", &signed, &body, 1_000 + MAX_SKEW_SECS).unwrap();
        assert_eq!((verified.sent_unix, verified.tag.len()), (1_000, 32));
        assert_eq!(verify(&secret, "1000", &signed, &body, 1_000 + 360), Err(SlackError::Stale { skew_secs: 360 }));
        let mut changed = body.clone();
        changed.push(b'x');
        assert_eq!(verify(&secret, "1000", &signed, &changed, 1_000), Err(SlackError::BadSignature));
        assert_eq!(verify(&secret, "1001", &signed, &body, 1_000), Err(SlackError::BadSignature));
        assert_eq!(verify(&SigningSecret::new(b"other"), "1000", &signed, &body, 1_000), Err(SlackError::BadSignature));
        assert_eq!(verify(&secret, "soon", &signed, &body, 1_000), Err(SlackError::NoTimestamp));
        assert_eq!(verify(&secret, "1000", "v0=zz", &body, 1_000), Err(SlackError::BadSignature));
        // One request, one spelling: no sign, no spaces, no signs inside the hex.
        assert_eq!(verify(&secret, "+1000", &signed, &body, 1_000), Err(SlackError::NoTimestamp));
        assert_eq!(verify(&secret, " 1000", &signed, &body, 1_000), Err(SlackError::NoTimestamp));
        let respelled = format!("v0=+{}", &signed[4..]);
        assert_eq!(verify(&secret, "1000", &respelled, &body, 1_000), Err(SlackError::BadSignature));
    }

    /// The example in Slack's documentation of request signing.
    #[test]
    fn slacks_documented_example_verifies() {
        let secret = SigningSecret::new(b"8f742231b10e8888abcd99yyyzzz85a5");
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert!(verify(&secret, "1531420618", signature, body, 1_531_420_618).is_ok());
    }

    #[test]
    fn a_click_on_our_button_is_read_and_anything_else_refused() {
        let click = click(&body(Verdict::Reject)).unwrap();
        assert_eq!((click.user_id.as_str(), click.user_name.as_str()), ("U123", "ann"));
        assert_eq!((click.verdict, click.token.as_str()), (Verdict::Reject, "a-link-token"));
        assert!(matches!(super::click(b"payload=%7B%7D"), Err(SlackError::Malformed(_))));
        assert!(matches!(super::click(b"text=hello"), Err(SlackError::Malformed(_))));
    }
}
