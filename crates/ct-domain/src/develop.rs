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
    /// Fail a stage on any failing test, also one that failed before the first stage; by
    /// default a stage fails only on tests it broke or added failing (see `TestBaseline`).
    #[serde(default)]
    pub strict_tests: bool,
    /// What the whole workflow may spend, in USD (`--budget-usd`); none: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// The fraction of a limit at which `budget.warning` goes out.
    #[serde(default = "default_warn_at")]
    pub budget_warn_at: f64,
    /// The Slack users (ids, `U…`) who may decide this workflow's gates with Slack's buttons,
    /// instead of the gateway's `CT_SLACK_APPROVERS`; empty: those.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack_approvers: Vec<String>,
}

pub(crate) fn default_warn_at() -> f64 {
    crate::budget::DEFAULT_WARN_AT
}

impl DevelopInput {
    /// The workflow's budget, when it or any stage has a limit.
    pub fn budget(&self) -> Option<crate::budget::Budget> {
        let limited = self.budget_usd.is_some() || self.stages.iter().any(|stage| stage.budget_usd.is_some());
        limited.then(|| crate::budget::Budget::new(self.budget_usd, self.budget_warn_at))
    }
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
    /// The stage's own agent settings; each one left unset falls back to the workflow's
    /// [`AgentSettings`]. Skipped when unset so plans without overrides serialize as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// What this stage's agent may spend, in USD, all attempts together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// What the stage will likely cost, from its earlier runs; a stage whose estimate does
    /// not fit in its budget waits before it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<crate::budget::CostEstimate>,
}

impl StagePlan {
    /// The agent settings of this stage's run: its own where it sets them, else the workflow's.
    pub fn agent_settings(&self, workflow: &AgentSettings) -> AgentSettings {
        AgentSettings {
            model: self.model.clone().unwrap_or_else(|| workflow.model.clone()),
            max_turns: self.max_turns.unwrap_or(workflow.max_turns),
            timeout_secs: self.timeout_secs.unwrap_or(workflow.timeout_secs),
            max_output_tokens: self.max_output_tokens.unwrap_or(workflow.max_output_tokens),
            heartbeat_timeout_secs: workflow.heartbeat_timeout_secs,
        }
    }
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
    /// How long a run may go without a heartbeat before Temporal gives it to another executor;
    /// 0 (inputs from before it existed) leaves the default.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub heartbeat_timeout_secs: u64,
}

fn is_zero(secs: &u64) -> bool {
    *secs == 0
}

/// Payload of the approve and reject signals. Naming the stage makes an early or
/// stale signal harmless: it only counts for the gate that is open for that stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApprovalDecision {
    pub stage: String,
    /// The approver's comment, or the reason for a rejection.
    pub comment: String,
    /// Who decided (`ann (claude-temporal CLI)`, `Slack user U123 (ann)`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_recorded_before_stage_settings_existed_still_reads() {
        let old = r#"{"name":"scaffold","prompt":"Stage: scaffold","requires_approval":false,"run_tests":true}"#;
        let plan: StagePlan = serde_json::from_str(old).unwrap();
        assert_eq!(plan.model, None);
        assert!(!plan.critical_path);
        let again = serde_json::to_string(&plan).unwrap();
        assert!(!again.contains("max_turns"), "unset overrides stay out of the payload: {again}");
    }

    #[test]
    fn stage_settings_override_the_workflow_s_one_by_one() {
        let workflow = AgentSettings {
            model: "claude-sonnet-4-5".to_owned(),
            max_turns: 30,
            timeout_secs: 1800,
            max_output_tokens: 0,
            heartbeat_timeout_secs: 45,
        };
        let plan = StagePlan {
            name: "docs".to_owned(),
            prompt: "p".to_owned(),
            requires_approval: false,
            run_tests: false,
            critical_path: false,
            model: Some("claude-haiku-4-5".to_owned()),
            max_turns: None,
            timeout_secs: Some(300),
            max_output_tokens: None,
            budget_usd: None,
            estimate: None,
        };
        assert_eq!(
            plan.agent_settings(&workflow),
            AgentSettings {
                model: "claude-haiku-4-5".to_owned(),
                max_turns: 30,
                timeout_secs: 300,
                max_output_tokens: 0,
                heartbeat_timeout_secs: 45,
            }
        );
    }
}
