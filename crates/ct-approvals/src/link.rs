//! Signed approval links: a token (see `token`) whose claim is one decision on one gate of one
//! run, with an expiry, signed under the stack's link key.

use serde::{Deserialize, Serialize};

use crate::GateDecision;
use crate::token::{self, Broken};

/// The shortest link key accepted: HMAC-SHA256's own output size.
pub const MIN_KEY_BYTES: usize = 32;

/// Signs and checks links.
pub struct LinkKey(ring::hmac::Key);

impl LinkKey {
    pub fn new(secret: &[u8]) -> Result<Self, LinkError> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(LinkError::ShortKey { bytes: secret.len() });
        }
        Ok(Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret)))
    }
}

impl LinkKey {
    pub(crate) fn hmac(&self) -> &ring::hmac::Key {
        &self.0
    }
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// Writes a new random link key to `file` (mode 0600, as text: 64 hex digits).
pub fn create_key_file(file: &std::path::Path) -> Result<(), crate::KeyFileError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    use ring::rand::SecureRandom as _;

    let failed = |source| crate::KeyFileError { path: file.to_owned(), source };
    let mut bytes = [0u8; MIN_KEY_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| failed(std::io::Error::other("the system's random source failed")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    // A new file only: an existing key is never replaced (links signed with it would die).
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file).map_err(failed)?;
    out.write_all(hex.as_bytes()).map_err(failed)
}

/// What a link says: the decision, and until when it may be taken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkClaim {
    #[serde(flatten)]
    pub decision: GateDecision,
    /// Seconds since the Unix epoch after which the link is refused.
    pub expires_unix: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "the link key holds {bytes} bytes; it needs at least {MIN_KEY_BYTES} (make one with `head -c 32 /dev/urandom | base64 > FILE`)"
    )]
    ShortKey { bytes: usize },
    #[error("this is not an approval link (it was cut or changed): ask for a new one")]
    Malformed,
    #[error("this approval link was not signed by this stack (or was changed): ask for a new one")]
    BadSignature,
    #[error("this approval link expired; `claude-temporal status {workflow_id}` shows whether the gate is still open")]
    Expired { workflow_id: String },
}

/// A link token's purpose: what it is signed for.
const LINK: &str = "approval-link";
/// A Slack button's: its value is readable by everyone in the channel, so it must not work as a
/// link, which skips the Slack approvers.
const SLACK_BUTTON: &str = "slack-button";

/// The link token for `claim`.
pub fn sign(key: &LinkKey, claim: &LinkClaim) -> String {
    token::seal(key, LINK, claim)
}

/// The claim of link `token`, once its signature holds and it has not expired at `now_unix`.
pub fn verify(key: &LinkKey, token: &str, now_unix: i64) -> Result<LinkClaim, LinkError> {
    verify_for(LINK, key, token, now_unix)
}

/// The value of a Slack button that decides as `claim` says.
pub fn sign_button(key: &LinkKey, claim: &LinkClaim) -> String {
    token::seal(key, SLACK_BUTTON, claim)
}

/// The claim of a Slack button's value, as [`verify`] checks a link's.
pub fn verify_button(key: &LinkKey, token: &str, now_unix: i64) -> Result<LinkClaim, LinkError> {
    verify_for(SLACK_BUTTON, key, token, now_unix)
}

fn verify_for(purpose: &str, key: &LinkKey, token: &str, now_unix: i64) -> Result<LinkClaim, LinkError> {
    let claim: LinkClaim = token::open(key, purpose, token).map_err(|broken| match broken {
        Broken::Malformed => LinkError::Malformed,
        Broken::BadSignature => LinkError::BadSignature,
    })?;
    // A decision must name its run: one that does not would reach whichever run holds the id.
    if claim.decision.run_id.is_empty() || claim.decision.workflow_id.is_empty() {
        return Err(LinkError::Malformed);
    }
    if now_unix > claim.expires_unix {
        return Err(LinkError::Expired { workflow_id: claim.decision.workflow_id });
    }
    Ok(claim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    use crate::Verdict;

    #[test]
    fn a_slack_button_is_no_link_and_a_link_no_button() {
        let key = LinkKey::new(&[3; 32]).unwrap();
        let decision = GateDecision {
            workflow_id: "w".to_owned(),
            run_id: "r".to_owned(),
            stage: "s".to_owned(),
            verdict: Verdict::Approve,
        };
        let claim = LinkClaim { decision, expires_unix: 100 };
        assert_eq!(verify(&key, &sign_button(&key, &claim), 0), Err(LinkError::BadSignature));
        assert_eq!(verify_button(&key, &sign(&key, &claim), 0), Err(LinkError::BadSignature));
        assert_eq!(verify_button(&key, &sign_button(&key, &claim), 0), Ok(claim));
    }

    fn key() -> LinkKey {
        LinkKey::new(&[7u8; 32]).unwrap()
    }

    fn claim(expires_unix: i64) -> LinkClaim {
        LinkClaim {
            decision: GateDecision {
                workflow_id: "develop-app-1".into(),
                run_id: "run-1".into(),
                stage: "core-implementation".into(),
                verdict: Verdict::Approve,
            },
            expires_unix,
        }
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let token = sign(&key(), &claim(1_000));
        assert_eq!(verify(&key(), &token, 1_000).unwrap(), claim(1_000));
        assert_eq!(
            verify(&key(), &token, 1_001).unwrap_err(),
            LinkError::Expired { workflow_id: "develop-app-1".into() }
        );
    }

    #[test]
    fn a_changed_claim_or_another_key_is_refused() {
        let token = sign(&key(), &claim(1_000));
        let (_, tag) = token.split_once('.').unwrap();
        let mut rejected = claim(1_000);
        rejected.decision.verdict = Verdict::Reject;
        let forged_body =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&rejected).unwrap());
        assert_eq!(verify(&key(), &format!("{forged_body}.{tag}"), 0), Err(LinkError::BadSignature));
        let other = LinkKey::new(&[8u8; 32]).unwrap();
        assert_eq!(verify(&other, &token, 0), Err(LinkError::BadSignature));
        assert_eq!(verify(&key(), "no-dot-here", 0), Err(LinkError::Malformed));
        let mut no_run = claim(1_000);
        no_run.decision.run_id.clear();
        assert_eq!(verify(&key(), &sign(&key(), &no_run), 0), Err(LinkError::Malformed), "a decision names its run");
        assert!(verify(&key(), &format!("{token}x"), 0).is_err());
    }

    #[test]
    fn a_created_key_file_is_private_long_enough_and_never_replaced() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("ct-approvals-key-{}", std::process::id()));
        let file = dir.join("link.key");
        let _ = std::fs::remove_dir_all(&dir);
        create_key_file(&file).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        let first = crate::read_key_file(&file).unwrap();
        assert!(LinkKey::new(&first).is_ok(), "{} bytes", first.len());
        assert!(create_key_file(&file).is_err(), "an existing key stays");
        assert_eq!(crate::read_key_file(&file).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_short_key_is_refused_with_advice() {
        let err = LinkKey::new(b"short").unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
    }

    #[test]
    fn the_update_id_names_the_gate_and_the_verdict() {
        assert_eq!(claim(0).decision.update_id(), "approve/core-implementation");
    }
}
