//! Activities: each one is a gRPC call to a service that does the real work.
//! They heartbeat while the call runs so a cancel or a dead worker is noticed
//! within seconds, and they classify failures so Temporal retries only what
//! retrying can fix.

mod agent;
mod events;
mod failure;
mod tests;
mod workspace;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tonic::transport::{Channel, Endpoint};

pub use events::{EVENT_SOURCE, EmitEvent, EventActivities};
pub use failure::NON_RETRYABLE_ERROR_TYPES;
pub use workspace::{CommitTask, RemoveWorktreeTask, RestoreTask, SnapshotTask, WorkspaceActivities, WorktreesTask};

/// The activities' connections. Channels connect lazily and reconnect on their
/// own, so a service that starts after the worker is picked up when it comes up.
pub struct StageActivities {
    executor: Channel,
    test_runner: Channel,
    /// Where the agent's progress goes as `agent.progress` events.
    events: ct_events::Publisher,
}

impl StageActivities {
    pub fn new(executor: Endpoint, test_runner: Endpoint, events: ct_events::Publisher) -> Self {
        Self {
            executor: executor.connect_lazy(),
            test_runner: test_runner.connect_lazy(),
            events,
        }
    }
}

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
}

/// What a successful agent run reports back to the workflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AgentReport {
    pub attempt: u32,
    pub session_id: String,
    pub num_turns: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
    pub files_changed: Vec<String>,
    pub lines_added: u64,
    pub lines_removed: u64,
    pub result_text: String,
    pub model: String,
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
    /// (test name, output excerpt)
    pub failures: Vec<(String, String)>,
    pub duration_ms: u64,
    pub exit_code: i32,
    pub timed_out: bool,
    pub output_tail: String,
}

impl TestReport {
    /// Green means the runner finished in time, nothing failed and it exited cleanly.
    pub fn is_green(&self) -> bool {
        !self.timed_out && self.failed == 0 && self.exit_code == 0
    }
}

#[activities]
impl StageActivities {
    /// Runs the coding agent once through the executor.
    #[activity]
    pub async fn run_agent(
        self: Arc<Self>,
        ctx: ActivityContext,
        task: AgentTask,
    ) -> Result<AgentReport, ActivityError> {
        if ctx.info().attempt > 1
            && let Some(reference) = &task.restore_on_retry
        {
            let restored = workspace::restore(task.project_path.clone(), reference.clone()).await?;
            tracing::info!(
                run_id = %task.run_id,
                snapshot = %reference,
                written = restored.written.len(),
                removed = restored.removed.len(),
                "restored the stage's snapshot before retrying"
            );
        }
        agent::run(self.executor.clone(), &self.events, &ctx, task).await
    }

    /// Runs the project's tests through the test-runner.
    #[activity]
    pub async fn run_tests(
        self: Arc<Self>,
        ctx: ActivityContext,
        task: TestTask,
    ) -> Result<TestReport, ActivityError> {
        tests::run(self.test_runner.clone(), &ctx, task).await
    }
}
