//! Decisions on approval gates from outside a shell, verified before anything they say is
//! believed: approval links signed with a key of the stack's (one gate, one decision, an
//! expiry), and Slack's interaction requests, signed with the Slack app's signing secret.
//! Plain functions of bytes, keys and the current time; the HTTP door that uses them is the
//! gateway's.

pub mod link;
pub mod slack;

use serde::{Deserialize, Serialize};

/// What a link or a button decides.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    /// The word commands and Update ids use: `approve`, `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
        }
    }
}

/// A decision on the gate of `stage` of `workflow_id`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GateDecision {
    pub workflow_id: String,
    pub stage: String,
    pub verdict: Verdict,
}

impl GateDecision {
    /// The id of the workflow Update that carries it: the one `claude-temporal approve` uses, so
    /// a gate is decided once whichever way (a retried or replayed request gets the first answer).
    pub fn update_id(&self) -> String {
        format!("{}/{}", self.verdict.as_str(), self.stage)
    }
}
