use serde::{Deserialize, Serialize};

use crate::AgentSettings;

/// Input of the parallel workflow: one agent per feature, each in its own worktree on
/// branch `feature-<i>-<slug>` made from HEAD, all at once or `max_concurrent` at a time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ParallelInput {
    /// Absolute path of the user's git work tree; it is never changed.
    pub project_path: String,
    pub features: Vec<FeaturePlan>,
    /// Leave the worktrees in place at the end (the branches stay either way).
    pub keep_worktrees: bool,
    pub agent: AgentSettings,
    pub test_timeout_secs: u64,
    /// As `DevelopInput::strict_tests`.
    #[serde(default)]
    pub strict_tests: bool,
    /// Features that run at once; the others wait their turn, in order. 0: all at once.
    #[serde(default)]
    pub max_concurrent: u32,
    /// Integrate the features' branches into one once they are done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrate: Option<crate::integration::IntegrateOptions>,
}

/// One feature, with its prompt already rendered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeaturePlan {
    pub name: String,
    pub prompt: String,
}
