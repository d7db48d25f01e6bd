//! The plain types of the domain, shared by the CLI, the worker and the executor: what a
//! workflow is asked to do and what it reports, spend and budgets, prices, what the git
//! activities report, and the built-in stage templates. No I/O and nothing of Temporal.
//!
//! Everything here crosses a process boundary (Temporal payloads, `--json`
//! output), so field names are part of the public contract: keep them stable.

pub mod budget;
pub mod builds;
pub mod capped;
mod command;
mod develop;
pub mod git;
pub mod integration;
mod iterate;
mod parallel;
pub mod pricing;
pub mod spend;
mod status;
pub mod templates;

pub use command::SlashCommand;
pub use develop::{AgentSettings, ApprovalDecision, DevelopInput, StagePlan};
pub use iterate::{IterateCarry, IterateInput, IterationProgress, MAX_ITERATIONS};
pub use parallel::{FeaturePlan, ParallelInput};
pub use status::{RunState, StageState, StageStatus, TestBaseline, UsageLimitWait, WorkflowStatus};

/// The Temporal task queue the worker polls unless configured otherwise.
pub const DEFAULT_TASK_QUEUE: &str = "claude-temporal";
