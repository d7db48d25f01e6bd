//! Signed approval links: `GET /decide/<token>` shows what the link decides and asks to confirm
//! (so a link preview or a prefetch decides nothing); `POST` decides. A link that is changed,
//! signed by another stack or expired is refused with a message; a link whose gate is closed
//! (it was used, or decided another way) decides nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ct_approvals::link::{self, LinkClaim, LinkError};
use ct_approvals::{GateDecision, Verdict};

use crate::Gateway;
use crate::auth::{cross_site, same_origin};
use crate::decide::{ANYONE, MAX_COMMENT_CHARS, Outcome, closed, decide as send};
use crate::page::{escape, page};

pub(crate) async fn confirm(State(gateway): State<Arc<Gateway>>, Path(token): Path<String>) -> Response {
    let claim = match verified(&gateway, &token) {
        Ok(claim) => claim,
        Err(refusal) => return refusal.page(),
    };
    let decision = &claim.decision;
    if let Some(outcome) = closed(&gateway.client, decision).await {
        return outcome_page(&outcome, decision);
    }
    let verb = verb(decision.verdict);
    let body = format!(
        "<p>{verb} stage <b>{stage}</b> of workflow <b>{id}</b>?</p>\
         <form method=\"post\"><p><label>Comment (optional)<br><textarea name=\"comment\" rows=\"3\" \
         maxlength=\"{MAX_COMMENT_CHARS}\"></textarea></label></p><p><button type=\"submit\">{verb}</button></p></form>",
        stage = escape(&decision.stage),
        id = escape(&decision.workflow_id),
    );
    page(StatusCode::OK, &format!("{verb} {}", decision.stage), &body)
}

pub(crate) async fn decide(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(token): Path<String>,
    form: Bytes,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let claim = match verified(&gateway, &token) {
        Ok(claim) => claim,
        Err(refusal) => return refusal.page(),
    };
    let comment: String = form_urlencoded::parse(&form)
        .find(|(name, _)| name == "comment")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let decision = &claim.decision;
    let by = format!("a signed {} link, from {}", decision.verdict.as_str(), peer.ip());
    let outcome = send(&gateway.client, decision, by, comment, ANYONE).await;
    outcome_page(&outcome, decision)
}

/// The page telling what became of a decision (or why none can be taken).
fn outcome_page(outcome: &Outcome, decision: &GateDecision) -> Response {
    match outcome {
        Outcome::Decided => {
            let done = match decision.verdict {
                Verdict::Approve => "approved: the workflow goes on",
                Verdict::Reject => "rejected: the workflow stops there",
            };
            let body = format!(
                "<p>Stage <b>{}</b> of <b>{}</b> is {done}.</p>",
                escape(&decision.stage),
                escape(&decision.workflow_id)
            );
            page(StatusCode::OK, "Decided", &body)
        }
        Outcome::Refused(why) => page(StatusCode::CONFLICT, "Nothing was decided", &format!("<p>{}</p>", escape(why))),
        Outcome::Unknown(why) => page(StatusCode::BAD_GATEWAY, "Not known yet", &format!("<p>{}</p>", escape(why))),
    }
}

/// Why a link decides nothing.
struct Refusal {
    status: StatusCode,
    title: &'static str,
    why: String,
}

impl Refusal {
    fn page(&self) -> Response {
        page(self.status, self.title, &format!("<p>{}</p>", escape(&self.why)))
    }
}

/// The link's claim, or why it is refused.
fn verified(gateway: &Gateway, token: &str) -> Result<LinkClaim, Refusal> {
    let Some(key) = &gateway.link_key else {
        return Err(Refusal {
            status: StatusCode::NOT_FOUND,
            title: "Links are off",
            why: "This gateway has no link key: approval links are not accepted here.".to_owned(),
        });
    };
    let now = ct_approvals::unix_now();
    link::verify(key, token, now).map_err(|err| {
        let status = match err {
            LinkError::Expired { .. } => StatusCode::GONE,
            _ => StatusCode::FORBIDDEN,
        };
        tracing::info!(%err, "approval link refused");
        Refusal { status, title: "This link does not decide anything", why: err.to_string() }
    })
}

fn verb(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approve => "Approve",
        Verdict::Reject => "Reject",
    }
}
