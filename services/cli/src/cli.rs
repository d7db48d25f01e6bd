//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::dev::DevArgs;

/// Durable, observable coding-agent workflows on Temporal.
///
/// Exit codes: 0 success; 1 the workflow failed, was rejected or cancelled;
/// 2 bad input; 3 unknown workflow id; 4 Temporal (or the worker) unreachable.
#[derive(Debug, Parser)]
#[command(name = "claude-temporal", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub temporal: TemporalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct TemporalArgs {
    /// Temporal frontend address (host:port).
    #[arg(long, global = true, env = "TEMPORAL_ADDRESS", default_value = "127.0.0.1:7233")]
    pub temporal_address: String,
    #[arg(long, global = true, env = "TEMPORAL_NAMESPACE", default_value = "default")]
    pub namespace: String,
    #[arg(long, global = true, env = "TEMPORAL_TASK_QUEUE", default_value = ct_domain::DEFAULT_TASK_QUEUE)]
    pub task_queue: String,
    /// Base URL of the Temporal Web UI, for links.
    #[arg(long, global = true, env = "TEMPORAL_UI_BASE_URL", default_value = "http://127.0.0.1:8233")]
    pub ui_base_url: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the develop workflow on a git project and print its id.
    Start(StartArgs),
    /// Show a workflow's stages, tokens, cost and what it waits for.
    Status(IdArgs),
    /// Approve the stage a workflow is waiting on.
    Approve(ApproveArgs),
    /// Reject the stage a workflow is waiting on; the workflow fails with the reason.
    Reject(RejectArgs),
    /// Wait for a workflow to end, showing progress; exits 0 only if it completed.
    Result(IdArgs),
    /// List recent workflows.
    List(ListArgs),
    /// Cancel a running workflow; its agent is stopped within seconds.
    Cancel(CancelArgs),
    /// Run the local stack: Temporal dev server, NATS, worker, executor, test-runner.
    Dev(DevArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Path of the git work tree the agent works in.
    pub project: PathBuf,
    /// Features to build; each stage's prompt names them.
    #[arg(long, num_args = 1.., value_name = "FEATURE")]
    pub features: Vec<String>,
    /// Stage template.
    #[arg(long, default_value = "llm-wrapper")]
    pub template: String,
    /// Workflow id (default: develop-<project>-<time>).
    #[arg(long)]
    pub id: Option<String>,
    /// Seconds an approval gate waits before the workflow fails.
    #[arg(long, env = "APPROVAL_TIMEOUT", default_value_t = 3600)]
    pub approval_timeout: u64,
    /// Model for the agent (default: the executor's).
    #[arg(long, env = "CLAUDE_MODEL", default_value = "")]
    pub model: String,
    /// Turn limit of each agent run (0: the executor's default).
    #[arg(long, env = "CLAUDE_MAX_TURNS", default_value_t = 0)]
    pub max_turns: u32,
    /// Seconds one agent run may take.
    #[arg(long, env = "CLAUDE_TIMEOUT", default_value_t = 1800)]
    pub agent_timeout: u64,
    /// Cap on output tokens per model response (0: the CLI's default).
    #[arg(long, env = "CLAUDE_MAX_TOKENS", default_value_t = 0)]
    pub max_output_tokens: u32,
    /// Seconds one run of the project's tests may take.
    #[arg(long, env = "TEST_TIMEOUT", default_value_t = 600)]
    pub test_timeout: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Workflow id.
    pub id: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    pub id: String,
    #[arg(long, default_value = "")]
    pub comment: String,
    /// The stage to approve (default: the one awaiting approval).
    #[arg(long)]
    pub stage: Option<String>,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    pub id: String,
    #[arg(long, default_value = "rejected by reviewer")]
    pub reason: String,
    /// The stage to reject (default: the one awaiting approval).
    #[arg(long)]
    pub stage: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    pub id: String,
    #[arg(long, default_value = "cancelled from the command line")]
    pub reason: String,
}
