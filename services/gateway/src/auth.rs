//! Who is signed in to the dashboard. `claude-temporal ui` prints a one-time sign-in link
//! (`/login/<token>`): opening it shows a button (so a link preview signs nobody in), and its
//! POST takes the link's nonce once and sets the session cookie: signed, `HttpOnly`,
//! `SameSite=Strict`, `Secure` when the gateway is reached over HTTPS. Pages without a session
//! get the sign-in page; forms carry the session's CSRF token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ct_approvals::link::LinkKey;
use ct_approvals::session::{self, SessionClaim};
use ct_approvals::unix_now;

use crate::Gateway;
use crate::page::{escape, page};

const COOKIE: &str = "ct_session";
/// Sign-in links remembered as used: more than any team signs in within their ten minutes.
const MAX_USED_LOGINS: usize = 10_000;

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

/// A signed-in request: its session, and the CSRF token its pages' forms carry.
pub(crate) struct Signed {
    pub(crate) session: SessionClaim,
    pub(crate) csrf: String,
}

/// The signed-in session of a request, or the page that says how to sign in.
pub(crate) fn signed_in(gateway: &Gateway, headers: &HeaderMap) -> Result<Signed, Box<Response>> {
    let Some(key) = &gateway.link_key else { return Err(Box::new(no_key())) };
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')));
    let Some(cookie) = cookie else { return Err(Box::new(sign_in_page(None))) };
    match session::verify_session(key, cookie, unix_now()) {
        Ok(claim) => {
            let csrf = session::csrf_token(key, &claim);
            Ok(Signed { session: claim, csrf })
        }
        Err(err) => Err(Box::new(sign_in_page(Some(&err.to_string())))),
    }
}

/// Whether a browser's POST comes from a page of this gateway: its `Origin`, when it sends one
/// (every browser does on a POST), names the host the request is for. Clients that are not
/// browsers send none and are judged by their tokens alone.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let origin = origin.to_str().unwrap_or_default();
    let origin_host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    !host.is_empty() && origin_host == Some(host)
}

pub(crate) fn cross_site() -> Response {
    page(StatusCode::FORBIDDEN, "Refused", "<p>This form was posted from another site.</p>")
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

fn login_claim(gateway: &Gateway, key: &LinkKey, token: &str) -> Result<session::LoginClaim, Box<Response>> {
    let refused = |why: String| {
        tracing::info!(why, "a sign-in link was refused");
        Box::new(page(StatusCode::FORBIDDEN, "This link signs nobody in", &format!("<p>{}</p>", escape(&why))))
    };
    let claim = session::verify_login(key, token, unix_now()).map_err(|err| refused(err.to_string()))?;
    // The nonces taken before a restart are forgotten: links made before it are not taken.
    if claim.issued_unix < gateway.started_unix {
        return Err(refused(
            "this sign-in link was made before the gateway last started: run `claude-temporal ui` for a new one"
                .to_owned(),
        ));
    }
    Ok(claim)
}

pub(crate) async fn login_page(State(gateway): State<Arc<Gateway>>, Path(token): Path<String>) -> Response {
    let Some(key) = &gateway.link_key else { return no_key() };
    let claim = match login_claim(&gateway, key, &token) {
        Ok(claim) => claim,
        Err(page) => return *page,
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

pub(crate) async fn login(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let Some(key) = &gateway.link_key else { return no_key() };
    let claim = match login_claim(&gateway, key, &token) {
        Ok(claim) => claim,
        Err(page) => return *page,
    };
    let now = unix_now();
    if !gateway.used_logins.take(&claim.nonce, claim.expires_unix, now) {
        return page(
            StatusCode::CONFLICT,
            "This link signs nobody in",
            "<p>This sign-in link was used already: run <code>claude-temporal ui</code> for a new one.</p>",
        );
    }
    let (session, cookie) = session::start_session(key, &claim.user, now);
    tracing::info!(user = %session.user, "signed in to the dashboard");
    with_cookie(Redirect::to("/").into_response(), &cookie, session::SESSION_LIFETIME.as_secs(), gateway.https)
}

/// `POST /logout`: the session's cookie is dropped (the session itself lasts until it expires
/// or the key changes: it is signed, not stored).
pub(crate) async fn logout(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, form: Bytes) -> Response {
    let Ok(signed) = signed_in(&gateway, &headers) else { return Redirect::to("/").into_response() };
    let csrf = form_urlencoded::parse(&form).find(|(name, _)| name == "csrf").map(|(_, v)| v.into_owned());
    if !same_origin(&headers) || !csrf_holds(&gateway, &signed.session, csrf.as_deref().unwrap_or_default()) {
        return cross_site();
    }
    with_cookie(Redirect::to("/").into_response(), "", 0, gateway.https)
}

/// `response` setting the session cookie to `value` for `max_age_secs` (0: dropped).
fn with_cookie(mut response: Response, value: &str, max_age_secs: u64, https: bool) -> Response {
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    let cookie = HeaderValue::from_str(&cookie).expect("a cookie of base64url, digits and ASCII words");
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_from_another_site_is_told_apart() {
        let headers = |origin: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8788"));
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            }
            headers
        };
        assert!(same_origin(&headers(Some("http://127.0.0.1:8788"))));
        assert!(same_origin(&headers(None)), "not a browser: its tokens decide");
        assert!(!same_origin(&headers(Some("http://evil.example"))));
        assert!(!same_origin(&headers(Some("http://127.0.0.1:8233"))), "another port is another origin");
        assert!(!same_origin(&headers(Some("null"))));
    }

    #[test]
    fn a_sign_in_link_is_taken_once() {
        let used = UsedLogins::default();
        assert!(used.take("n1", 100, 0));
        assert!(!used.take("n1", 100, 50));
        assert!(used.take("n2", 100, 50));
    }
}
