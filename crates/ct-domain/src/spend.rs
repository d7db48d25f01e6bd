//! What an agent run has used so far, as its executor reports it while it runs: the agent
//! activity's heartbeat details, read by `status` and published as `cost.updated`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    #[serde(default)]
    pub cache_read: u64,
    #[serde(default)]
    pub cache_write: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }
}

impl std::ops::AddAssign for Tokens {
    fn add_assign(&mut self, other: Self) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }
}

/// The running attempt's figures, counted from the agent's stream as each model response ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveSpend {
    pub attempt: u32,
    /// The model of the last response.
    pub model: String,
    pub tokens: Tokens,
    /// `None` while some response came from a model the price table does not know.
    pub cost_usd: Option<f64>,
    /// Model responses so far.
    pub responses: u32,
    /// The agent's conversation (Claude Code's session id), once it has started.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_id: String,
    /// The attempt continues an earlier attempt's conversation from its last checkpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
}

/// How an attempt of an agent run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Completed,
    /// The agent failed (an API error, a crash, a timeout); its CLI reported the figures.
    Failed,
    /// Its executor died, lost Temporal or was stopped: the figures are the last ones its
    /// heartbeats carried.
    Lost,
    /// The workflow was cancelled while it ran: the figures of the responses that had ended.
    Cancelled,
    /// Stopped at the model response that took the run past its budget: the figures of the
    /// responses that had ended, that one included.
    OverBudget,
}

/// What one finished attempt of an agent run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptSpend {
    pub attempt: u32,
    pub outcome: AttemptOutcome,
    pub tokens: Tokens,
    pub cost_usd: f64,
    /// False when part of the attempt ran on a model the price table lacks: `cost_usd` then
    /// leaves that part out.
    #[serde(default = "priced")]
    pub priced: bool,
    /// The attempt's conversation (Claude Code's session id), when it got that far.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_id: String,
    /// The attempt continued an earlier attempt's conversation (the same `session_id`) from
    /// its last checkpoint, on the work tree as it was then, instead of starting over.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
}

fn priced() -> bool {
    true
}

impl AttemptSpend {
    /// An attempt that ended with `outcome` before its CLI could report: its live figures.
    pub fn from_live(live: &LiveSpend, outcome: AttemptOutcome) -> Self {
        Self {
            attempt: live.attempt,
            outcome,
            tokens: live.tokens,
            cost_usd: live.cost_usd.unwrap_or(0.0),
            priced: live.cost_usd.is_some(),
            session_id: live.session_id.clone(),
            resumed: live.resumed,
        }
    }

    /// An attempt lost with its executor, from the last figures its heartbeats carried.
    pub fn lost(live: &LiveSpend) -> Self {
        Self::from_live(live, AttemptOutcome::Lost)
    }
}

/// What an agent run's heartbeats carry: the attempts before the running one (Temporal hands
/// the last heartbeat to the next attempt, so the list survives retries and lost executors),
/// and the running one's figures so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunHeartbeat {
    #[serde(default)]
    pub earlier: Vec<AttemptSpend>,
    #[serde(default)]
    pub current: Option<LiveSpend>,
}

impl RunHeartbeat {
    /// Every attempt these details know of, the running one counted as lost: what the next
    /// attempt inherits when this one died without a word.
    pub fn into_attempts(self) -> Vec<AttemptSpend> {
        let mut attempts = self.earlier;
        attempts.extend(self.current.as_ref().map(AttemptSpend::lost));
        attempts
    }
}

/// The sum of `attempts`' tokens and cost.
pub fn total(attempts: &[AttemptSpend]) -> (Tokens, f64) {
    attempts.iter().fold((Tokens::default(), 0.0), |(mut tokens, cost), attempt| {
        tokens += attempt.tokens;
        (tokens, cost + attempt.cost_usd)
    })
}
