//! The `data` payload of each event type.
//!
//! Every payload names its workflow, so a subscriber that reads only `data`
//! still knows what it is about. Fields are added, never renamed or removed:
//! subscribers in other languages read them by name. Unknown fields are
//! ignored when reading, so an older consumer accepts a newer producer.

use serde::{Deserialize, Serialize};

/// `workflow.started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowStarted {
    pub workflow_id: String,
    /// `develop`, `iterate`, `parallel`, …: lets metrics and notifications
    /// tell workflow shapes apart.
    pub workflow_kind: String,
    pub project_path: String,
    #[serde(default)]
    pub features: Vec<String>,
    pub template: String,
    /// The planned stage names, in order.
    #[serde(default)]
    pub stages: Vec<String>,
}

/// `workflow.completed`, `workflow.failed` and `workflow.cancelled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowFinished {
    pub workflow_id: String,
    pub workflow_kind: String,
    pub total_tokens: u64,
    pub total_cost_usd: f64,
    pub duration_ms: u64,
    /// Why it failed or was cancelled; absent on success.
    pub error: Option<String>,
}

/// `stage.started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageStarted {
    pub workflow_id: String,
    pub workflow_kind: String,
    pub stage: String,
    /// 1 for the first try; higher when the activity is retried.
    pub attempt: u32,
}

/// `stage.completed` and `stage.failed`: what one stage cost and changed.
/// A failed stage carries the same figures (its tokens were spent all the
/// same) plus `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageOutcome {
    pub workflow_id: String,
    pub workflow_kind: String,
    pub stage: String,
    /// The model the agent ran with, when it reported one.
    pub model: Option<String>,
    pub tokens: TokenUsage,
    pub cost_usd: f64,
    pub duration_ms: u64,
    #[serde(default)]
    pub files_modified: Vec<String>,
    /// The stage changed more files than `files_modified` lists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub files_truncated: bool,
    pub lines_added: u64,
    pub lines_removed: u64,
    /// Absent when the stage ran no tests.
    pub tests: Option<TestCounts>,
    pub error: Option<String>,
}

/// Token counts as the agent CLI reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
}

impl TokenUsage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TestCounts {
    pub passed: u32,
    pub failed: u32,
    #[serde(default)]
    pub skipped: u32,
}

impl TestCounts {
    /// Tests pass when none failed; skipped tests do not count against it.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }
}

/// `approval.requested`: a stage waits for a human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequested {
    pub workflow_id: String,
    /// The run waiting: decisions sent from the event (Slack buttons, signed links) name it,
    /// so they cannot decide a later run's gate under the same workflow id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    pub stage: String,
    /// What the reviewer is asked to look at.
    pub summary: Option<String>,
    /// Spent by the workflow so far, so the reviewer sees what continuing means.
    pub cost_so_far_usd: f64,
    /// How long the gate stays open before `approval.timed_out`, if bounded.
    pub timeout_secs: Option<u64>,
    /// What the stages after this one will likely cost, from their earlier runs; absent when
    /// none of them ran before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_rest_usd: Option<f64>,
}

/// `approval.granted` and `approval.rejected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub workflow_id: String,
    pub stage: String,
    pub comment: Option<String>,
    /// Who decided, when the decision said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
}

/// `approval.timed_out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalTimedOut {
    pub workflow_id: String,
    pub stage: String,
    pub waited_secs: u64,
}

/// `agent.progress`: one step of the agent (a tool use or a line of text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentProgress {
    pub workflow_id: String,
    pub stage: String,
    /// The tool the agent called (`Write`, `Bash`, …); absent for plain text.
    pub tool: Option<String>,
    pub message: String,
}

/// `agent.stopping`: the workflow is being cancelled and has asked Temporal to stop the agent
/// of `stage`. The executor running it hears of it at once (instead of at its next heartbeat)
/// and confirms with Temporal before it stops the agent, so the event alone stops nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStopping {
    pub workflow_id: String,
    pub stage: String,
}

/// `conflict.predicted`: merging two feature branches would conflict in `files` (an in-memory
/// merge of their commits, before anything is merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictPredicted {
    pub workflow_id: String,
    pub first: String,
    pub second: String,
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub files_truncated: bool,
}

/// `integration.started`: the features' branches are merged into `branch` (from `base`) in
/// `order`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationStarted {
    pub workflow_id: String,
    pub branch: String,
    pub base: String,
    pub order: Vec<String>,
}

/// `feature.merged`: `feature` is in the integration branch at `commit`; `outcome` says how
/// (`merged`, `merged after resolving 1 file`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMerged {
    pub workflow_id: String,
    pub feature: String,
    pub integration_branch: String,
    pub commit: String,
    pub outcome: String,
}

/// `conflict.resolved`: an agent resolved the conflicts `feature`'s merge had in `files`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictResolved {
    pub workflow_id: String,
    pub feature: String,
    pub files: Vec<String>,
}

/// `feature.held_back`: `feature` is not in the integration branch, for `reason`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureHeldBack {
    pub workflow_id: String,
    pub feature: String,
    pub reason: String,
}

/// `integration.completed`: the integration branch ends at `commit` with `merged`, without
/// `held_back`; `landed` names the user's branch when it was fast-forwarded to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationCompleted {
    pub workflow_id: String,
    pub branch: String,
    pub commit: String,
    pub merged: Vec<String>,
    pub held_back: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<String>,
}

/// `cost.updated`: a stage's figures. While its agent runs, its executor sends them as each
/// model response ends (`running`, at most one a second); the workflow sends the final ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostUpdated {
    pub workflow_id: String,
    pub stage: String,
    pub model: Option<String>,
    pub tokens: TokenUsage,
    pub stage_cost_usd: f64,
    pub total_cost_usd: f64,
    /// The figures of an agent run still going.
    #[serde(default)]
    pub running: bool,
    /// False when a response came from a model the executor's price table lacks: the costs
    /// then leave that out (tokens are still counted). Final figures are the CLI's, always priced.
    #[serde(default = "priced")]
    pub priced: bool,
}

fn priced() -> bool {
    true
}

/// `tests.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestsCompleted {
    pub workflow_id: String,
    pub stage: String,
    /// `pytest`, `jest`, `cargo`, `go`, …
    pub framework: String,
    #[serde(flatten)]
    pub counts: TestCounts,
    pub duration_ms: u64,
    /// Names of failing tests (the producer bounds the list).
    #[serde(default)]
    pub failures: Vec<String>,
}

/// `snapshot.created` and `snapshot.restored`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub workflow_id: String,
    /// The stage the snapshot guards, when it guards one.
    pub stage: Option<String>,
    /// The git commit holding the snapshot.
    pub commit: String,
    pub reason: Option<String>,
}

/// `budget.warning`: a limit is nearly used up (its warning fraction reached), once per limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetWarning {
    pub workflow_id: String,
    /// The stage whose figures reached it.
    pub stage: String,
    /// `workflow` or `stage`.
    pub scope: String,
    pub limit_usd: f64,
    pub spent_usd: f64,
    /// The configured fraction that was reached.
    pub warn_at: f64,
}

/// `budget.exhausted`: a stage's agent was stopped at its budget (or the stage cannot start
/// within it), and the workflow waits for `claude-temporal budget ID --add USD`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetExhausted {
    pub workflow_id: String,
    pub stage: String,
    /// `workflow` or `stage`.
    pub scope: String,
    pub limit_usd: f64,
    pub spent_usd: f64,
    /// Whether a running agent was stopped (else the stage had not started).
    pub stopped_run: bool,
    /// The stage's estimate, when it is what does not fit in what is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_usd: Option<f64>,
    /// How long the workflow waits before it fails.
    pub timeout_secs: u64,
}

/// `budget.raised`: `budget --add` raised a limit and the waiting stage goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetRaised {
    pub workflow_id: String,
    pub stage: String,
    /// `workflow` or `stage`.
    pub scope: String,
    /// The new limit.
    pub limit_usd: f64,
    pub spent_usd: f64,
}
