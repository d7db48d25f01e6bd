//! Approve and reject links for approval requests: signed with the stack's link key, each for
//! one gate of one run and one verdict, expiring when the gate times out (or after a day), and
//! taken by the gateway behind a confirmation page. The console and the webhook carry them;
//! Slack carries buttons instead, which the gateway checks against its approvers.

use chrono::Duration;
use ct_approvals::link::{self, LinkClaim, LinkKey};
use ct_approvals::{GateDecision, Verdict};
use ct_events::{CloudEvent, EventData};

/// How long a link works when its gate has no timeout.
const UNBOUNDED_GATE_LINK_HOURS: i64 = 24;
/// Gates that stay open longer than this (thirty days) get links for a day, as unbounded ones.
const MAX_LINK_SECS: i64 = 30 * 24 * 3600;

/// Makes links to the gateway at `gateway_url`.
#[derive(Debug)]
pub struct ApprovalLinks {
    key: LinkKey,
    gateway_url: String,
}

/// The two links (or tokens) of one approval request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkPair {
    pub(crate) approve: String,
    pub(crate) reject: String,
}

impl ApprovalLinks {
    pub fn new(key: LinkKey, gateway_url: &str) -> Self {
        Self { key, gateway_url: gateway_url.trim_end_matches('/').to_owned() }
    }

    /// The links of an approval request that names its run; none for other events (and for
    /// requests from a worker too old to name the run: a link must not reach a later run).
    pub(crate) fn for_event(&self, event: &CloudEvent) -> Option<LinkPair> {
        let tokens = self.signed(event, link::sign)?;
        let url = |token: String| format!("{}/decide/{token}", self.gateway_url);
        Some(LinkPair { approve: url(tokens.approve), reject: url(tokens.reject) })
    }

    /// The values of the Slack buttons of an approval request's two decisions, so a button's
    /// decision is the stack's own (and no link: the gateway checks its clicker).
    pub(crate) fn button_tokens(&self, event: &CloudEvent) -> Option<LinkPair> {
        self.signed(event, link::sign_button)
    }

    /// The tokens of an approval request's two decisions, signed by `sign`.
    fn signed(&self, event: &CloudEvent, sign: fn(&LinkKey, &LinkClaim) -> String) -> Option<LinkPair> {
        let EventData::ApprovalRequested(request) = &event.data else { return None };
        let approve = gate_decision(event, Verdict::Approve)?;
        // The gate closes at its timeout; a link need not outlive it.
        let lasts = request
            .timeout_secs
            .and_then(|secs| i64::try_from(secs).ok())
            .filter(|&secs| secs <= MAX_LINK_SECS)
            .map_or(Duration::hours(UNBOUNDED_GATE_LINK_HOURS), Duration::seconds);
        let expires_unix = (event.time + lasts).timestamp();
        let sign = |decision: GateDecision| sign(&self.key, &LinkClaim { decision, expires_unix });
        let reject = GateDecision { verdict: Verdict::Reject, ..approve.clone() };
        Some(LinkPair { approve: sign(approve), reject: sign(reject) })
    }
}

/// The decision `verdict` would take on the gate an approval request opened, when the request
/// names its run.
fn gate_decision(event: &CloudEvent, verdict: Verdict) -> Option<GateDecision> {
    let EventData::ApprovalRequested(request) = &event.data else { return None };
    (!request.run_id.is_empty()).then(|| GateDecision {
        workflow_id: request.workflow_id.clone(),
        run_id: request.run_id.clone(),
        stage: request.stage.clone(),
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use ct_events::data::ApprovalRequested;

    use super::*;

    fn request(run_id: &str, timeout_secs: Option<u64>) -> CloudEvent {
        CloudEvent::new(
            "/t",
            EventData::ApprovalRequested(ApprovalRequested {
                workflow_id: "develop-demo".into(),
                run_id: run_id.into(),
                stage: "implement".into(),
                summary: None,
                cost_so_far_usd: 0.0,
                timeout_secs,
                estimate_rest_usd: None,
            }),
        )
    }

    fn claim(url: &str) -> LinkClaim {
        let token = url.strip_prefix("http://gw.test/decide/").expect("a link to the gateway");
        link::verify(&LinkKey::new(&[9; 32]).unwrap(), token, 0).expect("signed with the key")
    }

    #[test]
    fn a_request_gets_one_link_per_verdict_for_its_gate_until_it_times_out() {
        let links = ApprovalLinks::new(LinkKey::new(&[9; 32]).unwrap(), "http://gw.test/");
        let event = request("run-7", Some(3600));
        let pair = links.for_event(&event).unwrap();
        let (approve, reject) = (claim(&pair.approve), claim(&pair.reject));
        assert_eq!(approve.decision.update_id(), "approve/implement");
        assert_eq!(reject.decision.update_id(), "reject/implement");
        assert_eq!(
            (approve.decision.workflow_id.as_str(), approve.decision.run_id.as_str()),
            ("develop-demo", "run-7")
        );
        assert_eq!(approve.expires_unix, event.time.timestamp() + 3600);
        let unbounded = request("run-7", None);
        let pair = links.for_event(&unbounded).unwrap();
        assert_eq!(claim(&pair.approve).expires_unix, unbounded.time.timestamp() + 24 * 3600);
        let a_year = request("run-7", Some(u64::MAX));
        let pair = links.for_event(&a_year).unwrap();
        assert_eq!(claim(&pair.approve).expires_unix, a_year.time.timestamp() + 24 * 3600, "no link for ever");
    }

    #[test]
    fn no_links_without_a_run_or_for_other_events() {
        let links = ApprovalLinks::new(LinkKey::new(&[9; 32]).unwrap(), "http://gw.test");
        assert_eq!(links.for_event(&request("", Some(60))), None);
        let started = CloudEvent::new(
            "/t",
            EventData::StageStarted(ct_events::data::StageStarted {
                workflow_id: "w".into(),
                workflow_kind: "develop".into(),
                stage: "s".into(),
                attempt: 1,
            }),
        );
        assert_eq!(links.for_event(&started), None);
    }
}
