//! Who is signed in to the dashboard. `claude-temporal ui` prints a one-time sign-in link
//! (`/login/<token>`): opening it shows a button (so a link preview signs nobody in), and its
//! POST takes the link's nonce once and sets the session cookie: signed, `HttpOnly`,
//! `SameSite=Strict`, `Secure` when the gateway is reached over HTTPS. Pages without a session
//! get the sign-in page; forms carry the session's CSRF token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ct_approvals::link::LinkKey;
use ct_approvals::session::{self, SessionClaim};

use crate::Gateway;
use crate::page::{escape, page};

const COOKIE: &str = "ct_session";
/// Sign-in links remembered as used: more than any team signs in within their ten minutes.
const MAX_USED_LOGINS: usize = 10_000;

pub(crate) fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Nonces of sign-in links already taken, with their expiry.
#[derive(Default)]
pub(crate) struct UsedLogins(Mutex<HashMap<String, i64>>);

impl UsedLogins {
    /// Takes `nonce`: false when it was taken before, or too many are remembered to tell.
    fn take(&self, nonce: &str, expires_unix: i64, now: i64) -> bool {
        let mut used = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if used.contains_key(nonce) {
            return false;
        }
        if used.len() >= MAX_USED_LOGINS {
            used.retain(|_, expires| *expires >= now);
            if used.len() >= MAX_USED_LOGINS {
                return false;
            }
        }
        used.insert(nonce.to_owned(), expires_unix);
        true
    }
}

/// The signed-in session of a request, or the page that says how to sign in.
pub(crate) fn signed_in(gateway: &Gateway, headers: &HeaderMap) -> Result<(SessionClaim, String), Response> {
    let Some(key) = &gateway.link_key else { return Err(no_key()) };
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')));
    let Some(cookie) = cookie else { return Err(sign_in_page(None)) };
    match session::verify_session(key, cookie, now_unix()) {
        Ok(claim) => {
            let csrf = session::csrf_token(key, &claim);
            Ok((claim, csrf))
        }
        Err(err) => Err(sign_in_page(Some(&err.to_string()))),
    }
}

/// Whether a posted form's CSRF token is the session's.
pub(crate) fn csrf_holds(gateway: &Gateway, session: &SessionClaim, given: &str) -> bool {
    gateway.link_key.as_ref().is_some_and(|key| session::csrf_holds(key, session, given))
}

fn sign_in_page(why: Option<&str>) -> Response {
    let why = why.map(|why| format!("<p>{}</p>", escape(why))).unwrap_or_default();
    page(
        StatusCode::UNAUTHORIZED,
        "Sign in",
        &format!(
            "{why}<p>The dashboard shows nothing to anyone not signed in. Run \
             <code>claude-temporal ui</code> where the stack runs and open the link it prints.</p>"
        ),
    )
}

fn no_key() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "The dashboard is off",
        "<p>This gateway has no link key (CT_LINK_KEY_FILE): nobody can sign in.</p>",
    )
}

fn login_claim(key: &LinkKey, token: &str) -> Result<session::LoginClaim, Response> {
    session::verify_login(key, token, now_unix()).map_err(|err| {
        tracing::info!(%err, "a sign-in link was refused");
        page(StatusCode::FORBIDDEN, "This link signs nobody in", &format!("<p>{}</p>", escape(&err.to_string())))
    })
}

pub(crate) async fn login_page(State(gateway): State<Arc<Gateway>>, Path(token): Path<String>) -> Response {
    let Some(key) = &gateway.link_key else { return no_key() };
    let claim = match login_claim(key, &token) {
        Ok(claim) => claim,
        Err(page) => return page,
    };
    page(
        StatusCode::OK,
        "Sign in",
        &format!(
            "<p>Sign in to the claude-temporal dashboard as <b>{}</b>?</p>\
             <form method=\"post\"><p><button type=\"submit\">Sign in</button></p></form>",
            escape(&claim.user)
        ),
    )
}

pub(crate) async fn login(State(gateway): State<Arc<Gateway>>, Path(token): Path<String>) -> Response {
    let Some(key) = &gateway.link_key else { return no_key() };
    let claim = match login_claim(key, &token) {
        Ok(claim) => claim,
        Err(page) => return page,
    };
    let now = now_unix();
    if !gateway.used_logins.take(&claim.nonce, claim.expires_unix, now) {
        return page(
            StatusCode::CONFLICT,
            "This link signs nobody in",
            "<p>This sign-in link was used already: run <code>claude-temporal ui</code> for a new one.</p>",
        );
    }
    let (session, cookie) = session::start_session(key, &claim.user, now);
    tracing::info!(user = %session.user, "signed in to the dashboard");
    let secure = if gateway.https { "; Secure" } else { "" };
    let set_cookie = format!(
        "{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        session::SESSION_LIFETIME.as_secs()
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&set_cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_link_is_taken_once() {
        let used = UsedLogins::default();
        assert!(used.take("n1", 100, 0));
        assert!(!used.take("n1", 100, 50));
        assert!(used.take("n2", 100, 50));
    }
}
