use serde::{Deserialize, Serialize};

/// What `status --json` prints and the workflow's status query returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct WorkflowStatus {
    pub workflow_id: String,
    /// The run that answered: a workflow id is reused by a later run, a run id never is, so a
    /// decision meant for this run's gate names it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    pub state: RunState,
    pub project_path: String,
    pub features: Vec<String>,
    pub template: String,
    pub current_stage: Option<String>,
    pub stages: Vec<StageStatus>,
    pub total_tokens: u64,
    pub total_cost_usd: f64,
    /// Git snapshots taken so far (filled once snapshots exist).
    pub snapshots: Vec<String>,
    /// The stage whose approval gate is open, if any.
    pub awaiting_approval: Option<String>,
    /// Why the workflow failed or was cancelled.
    pub error: Option<String>,
    /// Iterate workflows only: which iteration runs, and which is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<crate::IterationProgress>,
    /// The OpenTelemetry trace the run's spans are in (32 hex digits), when tracing is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The project's tests as they were before the first stage, when they were run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_baseline: Option<TestBaseline>,
    /// Parallel workflows: the pairs of feature branches whose merge would conflict, once the
    /// features are done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicted_conflicts: Vec<crate::git::PredictedConflict>,
    /// The W3C `traceparent` of the workflow's span: commands on the workflow (approve, reject,
    /// cancel) put their spans under it, so they are in the workflow's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The build the workflow is pinned to: it runs to its end there, with that build's
    /// executors and test-runners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// The workflow's budget, when it or a stage has one: limits, and what a wait is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::budget::Budget>,
    /// Who may decide the gates with Slack's buttons, when the workflow was started with its
    /// own list (`start --slack-approvers`); empty: the gateway's `CT_SLACK_APPROVERS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack_approvers: Vec<String>,
    /// While a stage's agent waits for the account's usage limit to reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limit: Option<UsageLimitWait>,
    /// Parallel workflows with `--integrate`, and integrate workflows: the integration branch
    /// and what became of each feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<crate::integration::IntegrationStatus>,
}

/// A stage's agent run refused by the account's usage limit, waiting on a timer for its reset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsageLimitWait {
    pub stage: String,
    /// When the run is scheduled again (RFC 3339, UTC): the reset, plus a few seconds.
    pub until: String,
    /// What the agent CLI said.
    pub message: String,
}

/// The project's tests before any stage ran: which already failed. A stage's tests then fail
/// it only for tests outside this set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TestBaseline {
    pub passed: u32,
    pub failed: u32,
    /// The failing tests' names, as the test runner reports them.
    pub failing: Vec<String>,
}

/// Files listed per stage in a status a workflow carries into its next run.
const CARRIED_FILES: usize = 5;
/// Failing tests listed per stage, and bytes of its error, in a carried status.
const CARRIED_FAILURES: usize = 3;
const CARRIED_ERROR_BYTES: usize = 256;
/// Bytes kept of each listed path or test name in a carried status.
const CARRIED_NAME_BYTES: usize = 128;
/// A workflow result past this size is returned compacted: Temporal refuses one over 2 MiB.
const RESULT_BYTES: usize = 1024 * 1024;

impl WorkflowStatus {
    /// This status with every stage's lists and error text shortened (and marked so), to be
    /// carried into a continued run: [`crate::MAX_ITERATIONS`] stages of it stay far below one
    /// Temporal payload. Figures, states and names are kept whole.
    pub fn compacted(&self) -> WorkflowStatus {
        let mut status = self.clone();
        for stage in &mut status.stages {
            stage.files_truncated |= crate::capped::keep_first(&mut stage.files_changed, CARRIED_FILES);
            for path in &mut stage.files_changed {
                stage.files_truncated |= crate::capped::keep_start(path, CARRIED_NAME_BYTES);
            }
            crate::capped::keep_first(&mut stage.preexisting_failures, CARRIED_FAILURES);
            for name in &mut stage.preexisting_failures {
                crate::capped::keep_start(name, CARRIED_NAME_BYTES);
            }
            if let Some(error) = &mut stage.error {
                crate::capped::keep_start(error, CARRIED_ERROR_BYTES);
            }
        }
        status
    }

    /// This status as a workflow's result: whole, unless it is too large for one payload (an
    /// iterate loop of hundreds of iterations that each changed many files), then compacted.
    pub fn as_result(self) -> WorkflowStatus {
        let size = serde_json::to_vec(&self).map_or(usize::MAX, |bytes| bytes.len());
        if size > RESULT_BYTES { self.compacted() } else { self }
    }

    /// Recomputes the totals from the stages, so they can never drift apart.
    pub fn refresh_totals(&mut self) {
        let runs = self.integration.iter().flat_map(|integration| &integration.runs);
        let stages = || self.stages.iter().chain(runs.clone());
        self.total_tokens = stages().map(StageStatus::total_tokens).sum();
        self.total_cost_usd = stages().map(|stage| stage.cost_usd).sum();
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    #[default]
    Running,
    AwaitingApproval,
    /// A run was stopped at its budget (or a stage cannot start within it): waits for
    /// `budget --add`.
    AwaitingBudget,
    Completed,
    Failed,
    Cancelled,
    /// Reported by the CLI when Temporal ended the run without the workflow's say.
    Terminated,
    TimedOut,
}

impl RunState {
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Running | Self::AwaitingApproval | Self::AwaitingBudget)
    }
}

pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct StageStatus {
    pub name: String,
    pub state: StageState,
    /// Attempts the stage's agent made (1 = first try); runs lost with their executor (killed,
    /// cut off from Temporal, shut down) are not its attempts and count in `lost_runs`.
    pub attempts: u32,
    /// Runs lost with their executor and run again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lost_runs: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// As priced by the agent CLI.
    pub cost_usd: f64,
    pub tests_passed: Option<u32>,
    pub tests_failed: Option<u32>,
    pub duration_ms: u64,
    /// The first files the stage's agent changed (see `files_truncated`).
    pub files_changed: Vec<String>,
    /// The agent changed more files than `files_changed` lists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub files_truncated: bool,
    pub lines_added: u64,
    pub lines_removed: u64,
    /// The work tree before and after the stage's agent run: its diff (the dashboard shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<crate::git::StageTrees>,
    pub error: Option<String>,
    pub approval_comment: Option<String>,
    /// Who approved the stage at its gate, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The executor the stage's agent ran on (its Temporal worker identity,
    /// `executor:<host>:<pid>@<control address>`); while it runs, the one running it.
    #[serde(default)]
    pub executor_id: Option<String>,
    /// The build of the executor that ran the completed run (its `CT_BUILD_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_build: Option<String>,
    /// The build of the test-runner that ran the stage's last tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_runner_build: Option<String>,
    /// While the stage's work waits in its task queue for a free executor or test-runner:
    /// for how long, in milliseconds. Filled in by `status` from Temporal, not by the workflow.
    #[serde(default)]
    pub queued_ms: Option<u64>,
    /// Parallel workflows only: the feature's branch, and its worktree while it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    /// Tests failing after this stage that already failed before the first one: reported, not
    /// blamed on the stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preexisting_failures: Vec<String>,
    /// While the stage's agent runs: its figures so far, from the executor's heartbeats (the
    /// token and cost fields then include them). Filled in by `status`, not by the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::spend::LiveSpend>,
    /// Every finished attempt of the stage's agent run with what it used; the stage's token
    /// and cost fields are their sum, failed and lost attempts included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempt_history: Vec<crate::spend::AttemptSpend>,
    /// What the stage's agent may spend, all attempts together, as raised so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// What the stage will likely cost, from its earlier runs in the metrics file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<crate::budget::CostEstimate>,
    /// The conversation of the stage's agent (Claude Code's session id) that produced its
    /// result; each attempt's is in `attempt_history`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_id: String,
}

impl StageStatus {
    pub fn pending(name: &str) -> Self {
        Self { name: name.to_owned(), ..Self::default() }
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    #[default]
    Pending,
    /// Scheduled, waiting in a task queue for a free slot.
    Queued,
    Running,
    Testing,
    AwaitingApproval,
    /// Its agent was stopped at the budget, or it cannot start within it.
    AwaitingBudget,
    Completed,
    Failed,
    Cancelled,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worst a carried iterate status can be: every iteration changed the most files a
    /// report lists and failed with a long error.
    #[test]
    fn what_a_continued_run_of_the_most_iterations_is_handed_fits_one_payload() {
        let stage = StageStatus {
            name: "iteration-500".to_owned(),
            files_changed: (0..crate::capped::MAX_LISTED_PATHS)
                .map(|n| format!("src/{}/module_{n:04}.rs", "deep/".repeat(60)))
                .collect(),
            preexisting_failures: (0..100).map(|n| format!("tests/test_{n}.py::{}", "case_".repeat(100))).collect(),
            error: Some("x".repeat(64 * 1024)),
            attempt_history: vec![
                crate::spend::AttemptSpend {
                    attempt: 1,
                    outcome: crate::spend::AttemptOutcome::Completed,
                    tokens: crate::spend::Tokens::default(),
                    cost_usd: 0.25,
                    priced: true,
                    session_id: "s".repeat(36),
                    resumed: false,
                };
                2
            ],
            ..StageStatus::default()
        };
        let status = WorkflowStatus {
            workflow_id: "w".repeat(100),
            stages: vec![stage; crate::MAX_ITERATIONS as usize],
            snapshots: (0..crate::MAX_ITERATIONS).map(|n| format!("{n}: {}", "w".repeat(200))).collect(),
            ..WorkflowStatus::default()
        };
        let compacted = status.compacted();
        // All that a continued iterate run is handed, with long names everywhere.
        let snapshot = crate::git::Snapshot {
            number: 500,
            reference: crate::git::snapshot_ref(&status.workflow_id, 500),
            commit: "c".repeat(40),
            stage: "iteration-500".to_owned(),
            created_unix: 1,
            files: Vec::new(),
            files_truncated: true,
        };
        let input = crate::IterateInput {
            project_path: "/p".repeat(100),
            issue: "i".repeat(16 * 1024),
            max_iterations: crate::MAX_ITERATIONS,
            backoff_initial_secs: 1,
            backoff_max_secs: 1,
            agent: crate::AgentSettings::default(),
            test_timeout_secs: 1,
            budget_usd: None,
            budget_warn_at: 0.8,
            budget_wait_secs: 1,
            carried: Some(Box::new(crate::IterateCarry {
                status: compacted.clone(),
                next: crate::MAX_ITERATIONS,
                snapshots: vec![snapshot; crate::MAX_ITERATIONS as usize],
                feedback: Some("f".repeat(20 * 1024)),
                ..crate::IterateCarry::default()
            })),
        };
        let size = serde_json::to_vec(&input).unwrap().len();
        assert!(size < 3 * 1024 * 1024 / 2, "{size} bytes: Temporal refuses a payload over 2 MiB");
        let first = &compacted.stages[0];
        assert_eq!((first.files_changed.len(), first.files_truncated), (CARRIED_FILES, true));
        assert_eq!(first.error.as_ref().unwrap().len(), CARRIED_ERROR_BYTES);
        assert_eq!(compacted.stages.len(), status.stages.len());
    }
}
