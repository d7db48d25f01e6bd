//! Signing in to the dashboard: the CLI makes a one-time login token (signed with the stack's
//! key, a random nonce, a few minutes to use it), the gateway turns it into a session cookie
//! (signed, with a random id and an expiry), and every form posted in a session carries a CSRF
//! token derived from the session's id, so another site cannot post one for the user.

use std::time::Duration;

use ring::rand::SecureRandom as _;
use serde::{Deserialize, Serialize};

use crate::link::LinkKey;
use crate::token::{self, Broken};

const LOGIN_PURPOSE: &str = "dashboard-login";
const SESSION_PURPOSE: &str = "dashboard-session";
const CSRF_PURPOSE: &str = "dashboard-csrf";

/// How long a login link works.
pub const LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long a session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// What a login link says: who signs in, and a nonce that is taken once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginClaim {
    pub user: String,
    pub nonce: String,
    /// When the CLI made it: a gateway takes only links made since it started, so a link used
    /// before a restart (which forgets the nonces taken) does not sign in again.
    pub issued_unix: i64,
    pub expires_unix: i64,
}

/// A signed-in session: who, which session, until when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionClaim {
    pub user: String,
    pub id: String,
    pub expires_unix: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("this sign-in link is not one of this stack's (cut, changed, or signed with another key)")]
    BadLogin,
    #[error("this sign-in link expired: run `claude-temporal ui` for a new one")]
    LoginExpired,
    #[error("the session is not one of this stack's or it was changed: sign in again")]
    BadSession,
    #[error("the session expired: sign in again (`claude-temporal ui`)")]
    SessionExpired,
}

/// A login link's token for `user`, valid from `now_unix` for [`LOGIN_LIFETIME`].
pub fn login_token(key: &LinkKey, user: &str, now_unix: i64) -> String {
    let claim = LoginClaim {
        user: user.to_owned(),
        nonce: random_id(),
        issued_unix: now_unix,
        expires_unix: now_unix + LOGIN_LIFETIME.as_secs() as i64,
    };
    token::seal(key, LOGIN_PURPOSE, &claim)
}

pub fn verify_login(key: &LinkKey, token: &str, now_unix: i64) -> Result<LoginClaim, SessionError> {
    let claim: LoginClaim = token::open(key, LOGIN_PURPOSE, token).map_err(|_: Broken| SessionError::BadLogin)?;
    if now_unix > claim.expires_unix {
        return Err(SessionError::LoginExpired);
    }
    Ok(claim)
}

/// A new session for `user` and its cookie value.
pub fn start_session(key: &LinkKey, user: &str, now_unix: i64) -> (SessionClaim, String) {
    let claim = SessionClaim {
        user: user.to_owned(),
        id: random_id(),
        expires_unix: now_unix + SESSION_LIFETIME.as_secs() as i64,
    };
    let cookie = token::seal(key, SESSION_PURPOSE, &claim);
    (claim, cookie)
}

pub fn verify_session(key: &LinkKey, cookie: &str, now_unix: i64) -> Result<SessionClaim, SessionError> {
    let claim: SessionClaim =
        token::open(key, SESSION_PURPOSE, cookie).map_err(|_: Broken| SessionError::BadSession)?;
    if now_unix > claim.expires_unix {
        return Err(SessionError::SessionExpired);
    }
    Ok(claim)
}

/// The CSRF token of `session`'s forms.
pub fn csrf_token(key: &LinkKey, session: &SessionClaim) -> String {
    let tag = ring::hmac::sign(key.hmac(), &csrf_input(session));
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is `session`'s CSRF token (compared in constant time).
pub fn csrf_holds(key: &LinkKey, session: &SessionClaim, given: &str) -> bool {
    let Some(tag) = hex(given) else { return false };
    ring::hmac::verify(key.hmac(), &csrf_input(session), &tag).is_ok()
}

fn csrf_input(session: &SessionClaim) -> Vec<u8> {
    [CSRF_PURPOSE.as_bytes(), b"\n", session.id.as_bytes()].concat()
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// 128 random bits, as hex.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("the system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::new(&[5; 32]).unwrap()
    }

    #[test]
    fn a_login_link_works_for_ten_minutes_and_only_as_a_login() {
        let token = login_token(&key(), "ann", 1_000);
        let claim = verify_login(&key(), &token, 1_000 + 600).unwrap();
        assert_eq!(claim.user, "ann");
        assert_eq!(verify_login(&key(), &token, 1_000 + 601), Err(SessionError::LoginExpired));
        assert_eq!(verify_session(&key(), &token, 1_000), Err(SessionError::BadSession), "not a session");
        assert_ne!(login_token(&key(), "ann", 1_000), token, "a fresh nonce each time");
    }

    #[test]
    fn a_session_holds_until_it_expires_and_its_csrf_token_is_its_own() {
        let (session, cookie) = start_session(&key(), "ann", 0);
        assert_eq!(verify_session(&key(), &cookie, 3600).unwrap(), session);
        assert_eq!(verify_session(&key(), &cookie, 12 * 3600 + 1), Err(SessionError::SessionExpired));
        assert_eq!(verify_login(&key(), &cookie, 0), Err(SessionError::BadLogin), "not a login");
        let csrf = csrf_token(&key(), &session);
        assert!(csrf_holds(&key(), &session, &csrf));
        let (other, _) = start_session(&key(), "ann", 0);
        assert!(!csrf_holds(&key(), &other, &csrf), "another session's token");
        assert!(!csrf_holds(&key(), &session, ""));
        let changed = format!("{}{}", if csrf.starts_with('0') { '1' } else { '0' }, &csrf[1..]);
        assert!(!csrf_holds(&key(), &session, &changed), "one digit changed");
        assert!(!csrf_holds(&key(), &session, &format!("+{}", &csrf[1..])), "not hex");
    }
}
