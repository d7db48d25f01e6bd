//! Inputs and outputs of the activities, as they travel in Temporal payloads (JSON).
//! New fields carry `#[serde(default)]` so results recorded by older builds still decode.

use serde::{Deserialize, Serialize};

/// One agent run, as the workflow asks for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentTask {
    pub run_id: String,
    pub project_path: String,
    pub prompt: String,
    pub settings: ct_domain::AgentSettings,
    /// Snapshot to put the work tree back to before a retry, so that a failed attempt's
    /// half-done edits never reach the next one.
    #[serde(default)]
    pub restore_on_retry: Option<String>,
    /// Attempts spent by earlier schedulings of this run (whose executors were lost): a run
    /// scheduled again counts on from them, and restores the snapshot on its first attempt.
    #[serde(default)]
    pub earlier_attempts: u32,
    /// How many of its attempts the agent may fail: the one that fails past them fails for good
    /// (runs lost with their executor do not count); 0 leaves it to the retry policy.
    #[serde(default)]
    pub failures_allowed: u32,
    /// What those earlier attempts used, so that the run's figures keep counting them.
    #[serde(default)]
    pub earlier_spend: Vec<ct_domain::spend::AttemptSpend>,
    /// What the workflow had spent before this run, so that the executor's live `cost.updated`
    /// events can give the workflow's total too.
    #[serde(default)]
    pub spent_before_usd: f64,
    /// The budget the run is stopped at: the executor ends the agent at the model response
    /// that takes the run (earlier attempts included) past its allowance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<ct_domain::budget::RunLimit>,
    /// The stage's snapshot, taken by the run itself before its first attempt and put back
    /// before any other: no snapshot activity, so one round trip through Temporal less per
    /// stage. When set, it replaces `restore_on_retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotTask>,
    /// Only in the rolling-upgrade test's second build (feature `upgrade-rehearsal`): an input
    /// its executors require and no other build sends, the way a real contract change would.
    #[cfg(feature = "upgrade-rehearsal")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<String>,
}

impl AgentTask {
    /// The stage (or feature branch) the run is for: its id is `<workflow id>/<stage>`.
    pub fn stage(&self) -> &str {
        self.run_id.rsplit_once('/').map_or(&self.run_id, |(_, stage)| stage)
    }
}

/// What a successful agent run reports back to the workflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AgentReport {
    pub attempt: u32,
    /// The attempts before this one that failed or were lost, with what they used; the
    /// figures below are this attempt's alone.
    #[serde(default)]
    pub earlier: Vec<ct_domain::spend::AttemptSpend>,
    pub session_id: String,
    /// This attempt continued a lost attempt's conversation from its last checkpoint.
    #[serde(default)]
    pub resumed: bool,
    pub num_turns: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
    /// The first [`ct_domain::capped::MAX_LISTED_PATHS`] files the run changed.
    pub files_changed: Vec<String>,
    /// `files_changed` lists only the first of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub files_truncated: bool,
    pub lines_added: u64,
    pub lines_removed: u64,
    /// The agent's final message: its first [`ct_domain::capped::MAX_RESULT_TEXT`] bytes.
    pub result_text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub result_truncated: bool,
    pub model: String,
    /// The executor that ran the successful attempt (its Temporal worker identity).
    #[serde(default)]
    pub executor_id: String,
    /// That executor's build (its `CT_BUILD_ID`).
    #[serde(default)]
    pub executor_build: String,
    /// How the run was confined: `landlock-v<N>` or `none`.
    #[serde(default)]
    pub confinement: String,
    /// Accesses the confinement refused during the run (the first
    /// [`ct_domain::capped::MAX_LISTED_REFUSALS`]).
    #[serde(default)]
    pub refused: Vec<RefusedAccess>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused_truncated: bool,
    /// The work tree before and after the run, when both were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<ct_domain::git::StageTrees>,
    /// The snapshot the task asked for, as the run took (or found) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<ct_domain::git::Snapshot>,
}

/// One tool use the sandbox stopped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RefusedAccess {
    /// Write, Edit, Bash, ...
    pub tool: String,
    /// The path or command line it tried.
    pub target: String,
    /// The error the tool got.
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestTask {
    pub run_id: String,
    pub project_path: String,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TestReport {
    pub framework: String,
    pub command: String,
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    /// (test name, output excerpt) of the first failures; `failed` counts them all.
    pub failures: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failures_truncated: bool,
    pub duration_ms: u64,
    pub exit_code: i32,
    pub timed_out: bool,
    /// The end of what the run printed.
    pub output_tail: String,
    /// The run printed more than `output_tail` holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    /// The test-runner that ran them (its Temporal worker identity).
    #[serde(default)]
    pub runner_id: String,
    /// That test-runner's build (its `CT_BUILD_ID`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner_build: String,
    /// How the tests were confined: `landlock-v<N>` or `none`.
    #[serde(default)]
    pub confinement: String,
}

impl TestReport {
    /// Green means the runner finished in time, nothing failed and it exited cleanly.
    pub fn is_green(&self) -> bool {
        !self.timed_out && self.failed == 0 && self.exit_code == 0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotTask {
    pub project_path: String,
    pub workflow_id: String,
    pub number: u32,
    pub stage: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestoreTask {
    pub project_path: String,
    /// A snapshot ref (or any commit-ish whose tree to restore).
    pub reference: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorktreesTask {
    pub project_path: String,
    pub workflow_id: String,
    pub features: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommitTask {
    pub worktree_path: String,
    pub message: String,
}

/// Feature branches of a project, to find which pairs would conflict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConflictsTask {
    pub project_path: String,
    pub branches: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RemoveWorktreeTask {
    pub project_path: String,
    pub worktree_path: String,
}

/// The integration branch to make for a workflow, from where `branches` forked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntegrationWorktreeTask {
    pub project_path: String,
    pub workflow_id: String,
    pub branch: String,
    pub branches: Vec<String>,
}

/// Merging `branch` into the integration worktree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MergeTask {
    pub worktree_path: String,
    pub branch: String,
    pub message: String,
}

/// Committing a conflicted merge of commit `theirs` once `files` were resolved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConcludeTask {
    pub worktree_path: String,
    pub theirs: String,
    pub files: Vec<String>,
    pub message: String,
}

/// Moving the integration branch back to `commit`, work tree and index with it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResetTask {
    pub worktree_path: String,
    pub commit: String,
}

/// Fast-forwarding the user's branch to `branch` if it is still at `base` and clean.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LandTask {
    pub project_path: String,
    pub branch: String,
    pub base: String,
}
