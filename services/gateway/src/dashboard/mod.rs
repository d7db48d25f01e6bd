//! The web dashboard: the workflows, one workflow's stages with their figures, files, diffs and
//! cost, live while it runs, its events as they happen, and its open gate with Approve and Reject. Server-rendered; its one
//! stylesheet and one script are in the binary. Every page needs a session (`auth`).

mod chart;
mod diff;
mod events;
mod list;
mod workflow;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

use crate::Gateway;
use crate::auth::Signed;
use crate::page::{escape, html_response};

const STYLESHEET: &str = include_str!("../../assets/dashboard.css");
const SCRIPT: &str = include_str!("../../assets/live.js");

pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/", get(list::workflows))
        .route("/workflows/{id}", get(workflow::page))
        .route("/workflows/{id}/status.json", get(workflow::status_json))
        .route("/workflows/{id}/events", get(events::stream))
        .route("/workflows/{id}/stages/{number}/diff", get(diff::page))
        .route("/workflows/{id}/decide", post(workflow::decide))
        .route("/assets/dashboard.css", get(|| async { asset("text/css; charset=utf-8", STYLESHEET) }))
        .route("/assets/live.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A dashboard page for the signed-in `who`, with the script that keeps it live when `live`.
fn layout(status: StatusCode, title: &str, who: &Signed, body_html: &str, live: bool) -> Response {
    let script = if live { "<script src=\"/assets/live.js\" defer></script>" } else { "" };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · claude-temporal</title><link rel=\"stylesheet\" href=\"/assets/dashboard.css\">{script}</head>\
         <body><header><a href=\"/\">claude-temporal</a><span class=\"who\">{user}</span>\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Sign out</button></form></header>\
         <main><h1>{title}</h1>{body_html}</main></body></html>",
        title = escape(title),
        user = escape(&who.session.user),
        csrf = escape(&who.csrf),
    );
    html_response(
        status,
        html,
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
}

/// What a workflow id keeps as it is in a URL path: letters, digits, `-` and `_`. Everything
/// else is escaped, `.` too, so an id of `..` stays a segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// A workflow id as one URL path segment.
fn path_segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, SEGMENT).to_string()
}

/// Dollars as the CLI shows them.
fn dollars(usd: f64) -> String {
    format!("${usd:.4}")
}

/// A duration in milliseconds, briefly.
fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{:.1} s", ms as f64 / 1000.0),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// A state as its JSON name, for its label and its CSS class.
fn state_name<T: serde::Serialize>(state: &T) -> String {
    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_workflow_id_stays_one_path_segment() {
        assert_eq!(super::path_segment("develop-app_1"), "develop-app_1");
        assert_eq!(super::path_segment("../a/b?c#d é"), "%2E%2E%2Fa%2Fb%3Fc%23d%20%C3%A9");
    }
}
