//! Decisions on approval gates from outside a shell, verified before anything they say is
//! believed: approval links signed with a key of the stack's (one gate, one decision, an
//! expiry), Slack's interaction requests, signed with the Slack app's signing secret, and the
//! dashboard's sign-in links, sessions and CSRF tokens, signed with the stack's key.
//! Plain functions of bytes, keys and the current time; the HTTP door that uses them is the
//! gateway's.

pub mod link;
pub mod session;
pub mod slack;
mod token;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch now: what expiries are compared with.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A key file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the key file {}: {source}", path.display())]
pub struct KeyFileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The key a file holds: its bytes less the whitespace around them (an editor's newline), so
/// every process reading the file (gateway, notifier, CLI) signs and checks with the same key.
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let bytes = std::fs::read(path).map_err(|source| KeyFileError { path: path.to_owned(), source })?;
    Ok(bytes.trim_ascii().to_vec())
}

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

/// A decision on the gate of `stage` of one run of `workflow_id`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GateDecision {
    pub workflow_id: String,
    /// The run whose gate it is: a later run reusing the workflow id has gates of its own,
    /// which this decision must not reach.
    pub run_id: String,
    pub stage: String,
    pub verdict: Verdict,
}

impl GateDecision {
    /// The id of the workflow Update that carries it: the one `claude-temporal approve` uses, so
    /// a gate is decided once whichever way (a retried or replayed request gets the first answer;
    /// Update ids are per run, and the run is named when the Update is sent).
    pub fn update_id(&self) -> String {
        format!("{}/{}", self.verdict.as_str(), self.stage)
    }
}
