use serde::{Deserialize, Serialize};

/// Input of the develop workflow. The CLI resolves the template into concrete
/// stages before starting, so the workflow itself does no I/O and a running
/// workflow keeps the plan it was started with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DevelopInput {
    /// Absolute path of the git work tree the agent changes.
    pub project_path: String,
    pub features: Vec<String>,
    /// Name of the template the stages came from, for display.
    pub template: String,
    pub stages: Vec<StagePlan>,
    /// How long an approval gate waits before the workflow fails.
    pub approval_timeout_secs: u64,
    pub agent: AgentSettings,
    /// Limit for one run of the project's tests.
    pub test_timeout_secs: u64,
}

/// One stage, with its prompt already rendered for this run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StagePlan {
    pub name: String,
    pub prompt: String,
    /// The workflow stops after this stage until someone approves or rejects it.
    pub requires_approval: bool,
    /// Whether the project's tests run after the agent.
    pub run_tests: bool,
    /// A critical stage is snapshotted before it runs and rolled back when it fails.
    #[serde(default)]
    pub critical_path: bool,
}

/// How every agent run of a workflow is configured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AgentSettings {
    /// Model passed to the agent CLI; empty leaves the executor's default.
    pub model: String,
    /// 0 leaves the executor's default.
    pub max_turns: u32,
    /// Wall-clock limit of one agent run; also the activity's start-to-close timeout.
    pub timeout_secs: u64,
    /// 0 leaves the CLI's default.
    pub max_output_tokens: u32,
}

/// Payload of the approve and reject signals. Naming the stage makes an early or
/// stale signal harmless: it only counts for the gate that is open for that stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApprovalDecision {
    pub stage: String,
    /// The approver's comment, or the reason for a rejection.
    pub comment: String,
}
