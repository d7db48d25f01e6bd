//! Integrating feature branches into one branch: what the integration is asked to do, what it
//! reports per feature, the order the branches go in, and the prompts of the agent runs that
//! resolve conflicts and fix the tests a combination broke.

use serde::{Deserialize, Serialize};

use crate::git::PredictedConflict;
use crate::{AgentSettings, StageStatus};

/// Agent runs that fix tests a merge broke, per feature, unless asked otherwise.
pub const DEFAULT_FIX_ATTEMPTS: u32 = 2;

/// The most fixing runs a feature may be given.
pub const MAX_FIX_ATTEMPTS: u32 = 10;

/// How the branches are integrated; `parallel --integrate` and `integrate` share it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IntegrateOptions {
    /// The integration branch to create (default `integration/<workflow id>`).
    #[serde(default)]
    pub into: Option<String>,
    /// Merge in the order given instead of fewest predicted conflicts first.
    #[serde(default)]
    pub as_given: bool,
    /// Agent runs that may fix the tests a feature's merge broke.
    pub fix_attempts: u32,
    /// Fast-forward the user's branch to the integration branch at the end, when the user's
    /// HEAD is still where the features started and the work tree is clean.
    #[serde(default)]
    pub land: bool,
}

impl Default for IntegrateOptions {
    fn default() -> Self {
        Self { into: None, as_given: false, fix_attempts: DEFAULT_FIX_ATTEMPTS, land: false }
    }
}

/// One branch to integrate, and what it was made for (shown to a resolving agent).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IntegrateBranch {
    pub branch: String,
    pub goal: String,
}

/// Input of the integrate workflow (`integrate PROJECT BRANCH…`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntegrateInput {
    /// Absolute path of the user's git work tree; touched only by `land`.
    pub project_path: String,
    pub branches: Vec<IntegrateBranch>,
    pub options: IntegrateOptions,
    /// Leave the integration worktree in place at the end (the branch stays either way).
    #[serde(default)]
    pub keep_worktree: bool,
    pub agent: AgentSettings,
    pub test_timeout_secs: u64,
    #[serde(default)]
    pub strict_tests: bool,
}

/// Where an integration stands, in the workflow's status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IntegrationStatus {
    /// The integration branch.
    pub branch: String,
    /// Its worktree, while it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    /// The commit the features started from, where the integration branch starts.
    pub base: String,
    /// The integration branch's last commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// One entry per branch, in the order they are merged.
    pub features: Vec<IntegratedFeature>,
    /// The agent runs of the integration (resolving and fixing), each as a stage with its
    /// spend; the workflow's totals include them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<StageStatus>,
    /// What `--land` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landing: Option<Landing>,
    /// Why the integration stopped before its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One branch of an integration and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IntegratedFeature {
    pub branch: String,
    pub outcome: FeatureOutcome,
    /// Files whose conflict an agent resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_files: Vec<String>,
    /// Agent runs that fixed (or tried to fix) the tests the merge broke.
    #[serde(default)]
    pub fix_attempts: u32,
    /// Why it was held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The integration branch's commit once it was merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl IntegratedFeature {
    pub fn pending(branch: &str) -> Self {
        Self {
            branch: branch.to_owned(),
            outcome: FeatureOutcome::Pending,
            resolved_files: Vec::new(),
            fix_attempts: 0,
            reason: None,
            commit: None,
        }
    }

    /// `merged`, `merged after resolving 2 files`, `held back: …`, as a person reads it.
    pub fn describe(&self) -> String {
        match self.outcome {
            FeatureOutcome::Pending => "waiting".to_owned(),
            FeatureOutcome::Merging => "merging".to_owned(),
            FeatureOutcome::HeldBack => format!("held back: {}", self.reason.as_deref().unwrap_or("no reason given")),
            FeatureOutcome::Merged => {
                let mut said = "merged".to_owned();
                if !self.resolved_files.is_empty() {
                    let n = self.resolved_files.len();
                    said.push_str(&format!(" after resolving {n} file{}", if n == 1 { "" } else { "s" }));
                }
                if self.fix_attempts > 0 {
                    said.push_str(if self.resolved_files.is_empty() {
                        " after fixing tests"
                    } else {
                        " and fixing tests"
                    });
                }
                said
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FeatureOutcome {
    Pending,
    Merging,
    Merged,
    HeldBack,
}

/// What `--land` did with the user's checkout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Landing {
    /// The user's branch was fast-forwarded to the integration branch.
    Landed { branch: String, commit: String },
    /// Nothing was touched; `command` merges it by hand.
    Refused { reason: String, command: String },
}

/// The branches in the order they are merged: as given, or fewest predicted conflicts first
/// (ties keep the order given).
pub fn merge_order(branches: &[String], predicted: &[PredictedConflict], as_given: bool) -> Vec<String> {
    let mut ordered: Vec<(usize, &String)> = branches
        .iter()
        .map(|branch| {
            let conflicts = predicted.iter().filter(|c| &c.first == branch || &c.second == branch).count();
            (if as_given { 0 } else { conflicts }, branch)
        })
        .collect();
    ordered.sort_by_key(|(conflicts, _)| *conflicts);
    ordered.into_iter().map(|(_, branch)| branch.clone()).collect()
}

/// The integration branch a workflow makes unless told a name: `integration/<workflow id>`,
/// with what a branch name cannot hold replaced.
pub fn integration_branch(workflow_id: &str) -> String {
    let id: String = workflow_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_".contains(c) { c } else { '-' })
        .take(100)
        .collect();
    format!("integration/{}", id.trim_matches('-'))
}

/// The prompt of the run that resolves a merge's conflicts, in the integration worktree.
/// The `Resolve:` line names the branch being merged, so a scripted model can tell runs apart.
pub fn resolve_prompt(merging: &IntegrateBranch, merged: &[IntegrateBranch], files: &[String]) -> String {
    let earlier = if merged.is_empty() {
        "nothing else yet".to_owned()
    } else {
        merged.iter().map(|b| format!("`{}` ({})", b.branch, b.goal)).collect::<Vec<_>>().join(", ")
    };
    format!(
        "Stage: resolve\nResolve: {branch}\nThe current directory is a git worktree of an integration branch \
         that already holds {earlier}. Merging branch `{branch}` ({goal}) into it conflicted in these files, \
         which now hold both sides between git's conflict markers (<<<<<<< HEAD is the integration branch, \
         >>>>>>> {branch} is the branch being merged):\n{list}\nResolve every conflict so that both goals \
         are met: edit the files until no conflict marker is left, keep what each side needs, and keep \
         the project's tests passing. Change nothing else. Do not commit: the workflow commits the merge.",
        branch = merging.branch,
        goal = merging.goal,
        list = files.iter().map(|f| format!("- {f}")).collect::<Vec<_>>().join("\n"),
    )
}

/// The prompt of a run that fixes the tests a merge broke.
pub fn fix_prompt(merging: &IntegrateBranch, failures: &[String], summary: &str) -> String {
    let failing = if failures.is_empty() {
        summary.to_owned()
    } else {
        failures.iter().map(|f| format!("- {f}")).collect::<Vec<_>>().join("\n")
    };
    format!(
        "Stage: fix\nFix: {branch}\nThe current directory is a git worktree of an integration branch. \
         Since branch `{branch}` ({goal}) was merged into it, these tests fail, though each branch passed \
         them alone:\n{failing}\nFix the code so that the tests pass and every branch's goal is still met. \
         Do not delete or weaken tests. Do not commit: the workflow commits your fix.",
        branch = merging.branch,
        goal = merging.goal,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(first: &str, second: &str) -> PredictedConflict {
        PredictedConflict { first: first.into(), second: second.into(), files: vec![], files_truncated: false }
    }

    #[test]
    fn branches_with_fewest_predicted_conflicts_go_first_ties_as_given() {
        let branches: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let predicted = [conflict("a", "b"), conflict("a", "c")];
        assert_eq!(merge_order(&branches, &predicted, false), ["d", "b", "c", "a"]);
        assert_eq!(merge_order(&branches, &predicted, true), branches);
    }

    #[test]
    fn default_branch_names_hold_only_what_a_ref_may() {
        assert_eq!(integration_branch("parallel-app-20261206 x/y..z"), "integration/parallel-app-20261206-x-y--z");
    }

    #[test]
    fn outcomes_read_as_the_issue_says() {
        let mut feature = IntegratedFeature::pending("f");
        feature.outcome = FeatureOutcome::Merged;
        assert_eq!(feature.describe(), "merged");
        feature.resolved_files = vec!["a.py".into(), "b.py".into()];
        assert_eq!(feature.describe(), "merged after resolving 2 files");
        feature.resolved_files.clear();
        feature.fix_attempts = 1;
        assert_eq!(feature.describe(), "merged after fixing tests");
        feature.outcome = FeatureOutcome::HeldBack;
        feature.reason = Some("conflict in a.py not resolved".into());
        assert_eq!(feature.describe(), "held back: conflict in a.py not resolved");
    }
}
