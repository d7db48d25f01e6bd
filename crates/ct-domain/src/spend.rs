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
}
