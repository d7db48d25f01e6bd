use serde::{Deserialize, Serialize};

use crate::git::Snapshot;
use crate::{AgentSettings, WorkflowStatus};

/// The most iterations one iterate workflow may run (`--max-iterations`). A long loop continues
/// as a new Temporal run whenever Temporal suggests it, carrying its whole status (one stage per
/// iteration); this bound keeps that status well inside one Temporal payload (2 MiB).
pub const MAX_ITERATIONS: u32 = 500;

/// Input of the iterate workflow: run the agent on one issue until the project's tests pass.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IterateInput {
    /// Absolute path of the git work tree the agent changes.
    pub project_path: String,
    /// What to fix or build, as the user wrote it.
    pub issue: String,
    pub max_iterations: u32,
    /// Wait before the second iteration; doubled before each later one, up to `backoff_max_secs`.
    pub backoff_initial_secs: u64,
    pub backoff_max_secs: u64,
    pub agent: AgentSettings,
    pub test_timeout_secs: u64,
    /// What the whole workflow may spend, in USD; none: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// The fraction of the budget at which `budget.warning` goes out.
    #[serde(default = "crate::develop::default_warn_at")]
    pub budget_warn_at: f64,
    /// How long a run stopped at the budget waits for `budget --add` before the loop fails.
    #[serde(default = "default_budget_wait")]
    pub budget_wait_secs: u64,
    /// Set by the workflow alone, when its loop continues as a new run: where the loop was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried: Option<Box<IterateCarry>>,
}

/// What an iterate workflow hands the run it continues as (continue-as-new), so that the loop
/// goes on where it was and the status reads as one workflow's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct IterateCarry {
    /// The status so far: every iteration's stage, the totals, the budget (lists shortened,
    /// see [`WorkflowStatus::compacted`]).
    pub status: WorkflowStatus,
    /// The iteration the new run starts with.
    pub next: u32,
    /// The snapshot taken before each iteration so far, in order (without their file lists).
    pub snapshots: Vec<Snapshot>,
    /// (iteration, failing tests) of the best tested iteration.
    pub best: Option<(u32, u32)>,
    /// The model the last agent run used.
    pub model: Option<String>,
    /// The iteration whose result the work tree holds.
    pub tree_is: u32,
    /// The last iteration's failing tests, as the next prompt shows them.
    pub feedback: Option<String>,
    /// A cancel leaves the cancelled iteration's edits in place.
    pub keep_changes: bool,
    /// When the workflow's first run started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
}

fn default_budget_wait() -> u64 {
    3600
}

impl IterateInput {
    /// The wait before iteration `next` (2 or later): initial × 2^(next-2), capped.
    pub fn backoff_secs(&self, next: u32) -> u64 {
        let doublings = next.saturating_sub(2).min(32);
        self.backoff_initial_secs.saturating_mul(1u64 << doublings).min(self.backoff_max_secs)
    }
}

/// Where an iterate workflow's loop is, in its status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct IterationProgress {
    /// The iteration running, or the last one run (1-based).
    pub current: u32,
    pub max: u32,
    /// The iteration with the fewest failing tests so far; its state is what is kept.
    pub best: Option<u32>,
    /// Why the loop ended, once it has.
    pub stop_reason: Option<String>,
    /// How many times the loop continued as a new Temporal run, to keep each run's history short.
    #[serde(default, skip_serializing_if = "crate::status::is_zero")]
    pub continued: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let input = IterateInput {
            project_path: String::new(),
            issue: String::new(),
            max_iterations: 10,
            backoff_initial_secs: 3,
            backoff_max_secs: 20,
            agent: AgentSettings::default(),
            test_timeout_secs: 1,
            budget_usd: None,
            budget_warn_at: 0.8,
            budget_wait_secs: 60,
            carried: None,
        };
        let waits: Vec<u64> = (2..=6).map(|n| input.backoff_secs(n)).collect();
        assert_eq!(waits, [3, 6, 12, 20, 20]);
        assert_eq!(input.backoff_secs(200), 20, "no overflow far out");
    }
}
