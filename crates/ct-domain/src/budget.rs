//! Budgets: what a workflow, and each of its stages, may spend; when to warn; and the wait a
//! run stopped at its budget is in until someone raises it.

use serde::{Deserialize, Serialize};

/// The fraction of a limit at which `budget.warning` goes out, unless configured.
pub const DEFAULT_WARN_AT: f64 = 0.8;

/// Which limit a figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    /// The whole workflow's (`--budget-usd`).
    Workflow,
    /// One stage's (`budget_usd` in its template entry).
    Stage,
}

impl BudgetScope {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetScope::Workflow => "workflow",
            BudgetScope::Stage => "stage",
        }
    }
}

/// A workflow's budget as it stands: its limits (as raised so far), and the wait a stopped run
/// is in. Present in the status of every workflow that has a limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// What the whole workflow may spend, in USD; `None` when only stages have limits.
    pub limit_usd: Option<f64>,
    /// The fraction of a limit at which `budget.warning` goes out.
    pub warn_at: f64,
    /// The limits a warning went out for (`workflow`, `stage:<name>`), each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warned: Vec<String>,
    /// How many times `budget --add` raised a limit; a wait ends when it changes.
    #[serde(default)]
    pub raises: u32,
    /// While the workflow waits for more budget: what stopped and what to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<BudgetWait>,
}

/// A stage's likely cost before it runs: the median of its earlier runs in the metrics file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    pub usd: f64,
    /// How many earlier runs it is the median of.
    pub runs: u32,
}

/// Why the workflow waits for budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetWait {
    pub stage: String,
    pub scope: BudgetScope,
    pub limit_usd: f64,
    /// What the limit counts so far (the workflow's total, or the stage's).
    pub spent_usd: f64,
    /// Whether the stage's agent was stopped at the response that crossed the limit, or the
    /// stage has not started (its estimate, or what is left, does not cover it).
    pub stopped_run: bool,
    /// The stage's estimate, when it is what does not fit in what is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_usd: Option<f64>,
    /// How long the wait lasts before the workflow fails (the approval timeout).
    pub timeout_secs: u64,
}

/// The limit a stage's agent run is stopped at: the most the run (all its attempts) may reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunLimit {
    pub scope: BudgetScope,
    /// The limit itself, for messages.
    pub limit_usd: f64,
    /// What the run may spend before it crosses that limit.
    pub allowance_usd: f64,
}

impl Budget {
    pub fn new(limit_usd: Option<f64>, warn_at: f64) -> Self {
        Self { limit_usd, warn_at, ..Self::default() }
    }

    /// The tighter of the workflow's limit (less what the other stages spent) and the stage's.
    pub fn run_limit(&self, spent_elsewhere_usd: f64, stage_limit_usd: Option<f64>) -> Option<RunLimit> {
        let workflow = self.limit_usd.map(|limit| RunLimit {
            scope: BudgetScope::Workflow,
            limit_usd: limit,
            allowance_usd: limit - spent_elsewhere_usd,
        });
        let stage =
            stage_limit_usd.map(|limit| RunLimit { scope: BudgetScope::Stage, limit_usd: limit, allowance_usd: limit });
        match (workflow, stage) {
            (Some(w), Some(s)) => Some(if s.allowance_usd < w.allowance_usd { s } else { w }),
            (w, s) => w.or(s),
        }
    }

    /// The limits `spent` has reached the warning fraction of and no warning went out for yet,
    /// marked as warned: `(scope, limit, spent)`.
    pub fn take_warnings(
        &mut self,
        workflow_spent_usd: f64,
        stage: &str,
        stage_limit_usd: Option<f64>,
        stage_spent_usd: f64,
    ) -> Vec<(BudgetScope, f64, f64)> {
        let candidates = [
            (BudgetScope::Workflow, "workflow".to_owned(), self.limit_usd, workflow_spent_usd),
            (BudgetScope::Stage, format!("stage:{stage}"), stage_limit_usd, stage_spent_usd),
        ];
        let mut due = Vec::new();
        for (scope, key, limit, spent) in candidates {
            let Some(limit) = limit else { continue };
            if spent >= limit * self.warn_at && !self.warned.contains(&key) {
                self.warned.push(key);
                due.push((scope, limit, spent));
            }
        }
        due
    }
}

/// What `claude-temporal budget ID --add USD` sends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetRaise {
    pub add_usd: f64,
    /// How many raises the sender saw before this one ([`Budget::raises`]): the raise is refused
    /// when another went in since, so a request sent twice raises once. `None` (senders older
    /// than this field) skips the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_raises: Option<u32>,
}

/// What the workflow answers a raise with: the limit it raised and its new value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetRaised {
    pub scope: BudgetScope,
    /// The stage whose limit was raised, for a stage's.
    pub stage: Option<String>,
    pub limit_usd: f64,
    /// Whether a stopped run was waiting for it (and now goes on).
    pub resumed: bool,
}

/// Checks a budget amount from a flag, a file or an Update.
pub fn check_amount(usd: f64) -> Result<f64, String> {
    if usd.is_finite() && usd > 0.0 {
        Ok(usd)
    } else {
        Err(format!("a budget must be a positive number of US dollars, not {usd}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tighter_limit_stops_the_run() {
        let budget = Budget::new(Some(1.0), DEFAULT_WARN_AT);
        let limit = budget.run_limit(0.7, Some(0.5)).unwrap();
        assert_eq!((limit.scope, limit.allowance_usd), (BudgetScope::Workflow, 1.0 - 0.7));
        let limit = budget.run_limit(0.1, Some(0.5)).unwrap();
        assert_eq!((limit.scope, limit.allowance_usd), (BudgetScope::Stage, 0.5));
        assert_eq!(Budget::new(None, DEFAULT_WARN_AT).run_limit(3.0, None), None);
    }

    #[test]
    fn each_limit_warns_once_at_its_fraction() {
        let mut budget = Budget::new(Some(1.0), 0.8);
        assert!(budget.take_warnings(0.5, "build", Some(0.5), 0.39).is_empty());
        assert_eq!(
            budget.take_warnings(0.85, "build", Some(0.5), 0.4),
            vec![(BudgetScope::Workflow, 1.0, 0.85), (BudgetScope::Stage, 0.5, 0.4),]
        );
        assert!(budget.take_warnings(0.95, "build", Some(0.5), 0.45).is_empty());
        assert_eq!(budget.take_warnings(0.95, "docs", Some(0.1), 0.2).len(), 1);
    }

    #[test]
    fn amounts_must_be_positive_dollars() {
        assert_eq!(check_amount(0.25), Ok(0.25));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(check_amount(bad).is_err(), "{bad}");
        }
    }
}
