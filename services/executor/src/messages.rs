//! What a run is asked to do, what it reports while it runs, and how it ended: the executor's
//! own types. The `run_agent` activity turns a task into a [`RunRequest`] and a [`RunResult`]
//! into the workflow's `AgentReport` (ct-contracts); only a [`Checkpoint`] leaves the process,
//! into NATS for another executor (of any version) to resume from, as the object store
//! metadata `checkpoint_store.rs` writes: keep its fields.

use ct_contracts::RefusedAccess;
use ct_domain::spend::Tokens;
use ct_git::TreeChanges;

/// One run of the agent CLI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRequest {
    pub run_id: String,
    /// Absolute; inside the executor's workspace roots.
    pub project_path: String,
    pub prompt: String,
    /// Empty: the executor's default model.
    pub model: String,
    /// 0: the executor's default.
    pub max_turns: u32,
    /// 0: the executor's default; the executor's maximum caps it.
    pub timeout_ms: u64,
    /// 0: the CLI's default.
    pub max_output_tokens: u32,
    /// Continue a lost attempt's conversation instead of starting over.
    pub resume: Option<Checkpoint>,
}

/// What a run sends while it runs: progress, checkpoints, and one result at the end (none when
/// it was stopped).
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    Progress(Progress),
    Checkpoint(Checkpoint),
    Result(Box<RunResult>),
}

/// What the agent is doing, from its stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The CLI began its session.
    Started { session_id: String, model: String },
    /// The agent called a tool: its name and a one-line summary of the call.
    ToolUse { name: String, summary: String },
    /// Text the agent wrote.
    Text(String),
    /// The run's figures after a model response.
    Usage(UsageSoFar),
}

/// A run's figures so far, live from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageSoFar {
    pub tokens: Tokens,
    /// `None` when the model has no price in the table.
    pub cost_usd: Option<f64>,
    pub model: String,
    /// Model responses so far (earlier attempts' included when resumed).
    pub responses: u32,
}

/// Where a lost attempt can be resumed from: the conversation up to a tool result, and the work
/// tree as it was then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub session_id: String,
    /// The conversation file, relative to the run's HOME.
    pub transcript_path: String,
    /// The conversation (JSONL), redacted.
    pub transcript: Vec<u8>,
    /// The work tree at the checkpoint, as a tree id.
    pub tree: String,
    /// The work tree before the run began, so the resumed run reports every change.
    pub before_tree: String,
    pub responses: u32,
}

/// Why a run failed, in terms of what the workflow does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The model endpoint refused the credentials: retrying cannot help.
    Auth,
    /// An API error or overload worth another attempt.
    Transient,
    MaxTurns,
    Timeout,
    /// The agent or the CLI failed otherwise.
    Agent,
    /// The account's usage limit refused the run until it resets.
    UsageLimit,
}

impl FailureKind {
    /// The name spans give it (`error.type`).
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Auth => "auth",
            FailureKind::Transient => "transient",
            FailureKind::MaxTurns => "max_turns",
            FailureKind::Timeout => "timeout",
            FailureKind::Agent => "agent",
            FailureKind::UsageLimit => "usage_limit",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// Redacted, and says what to do where something can be done.
    pub message: String,
}

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunResult {
    /// `None` when the run succeeded.
    pub failure: Option<Failure>,
    /// The agent's final message, redacted.
    pub result_text: String,
    /// The CLI's result line: whether it called the run an error, its subtype and why it ended
    /// (in the "agent finished" log line, for whoever reads why a run ended).
    pub is_error: bool,
    pub subtype: String,
    pub terminal_reason: String,
    pub session_id: String,
    pub num_turns: u32,
    /// As the CLI's result line reported them; `None` without one.
    pub usage: Option<Tokens>,
    pub total_cost_usd: f64,
    /// A signal death counts as 128 + the signal; -1 when the status is unknown.
    pub exit_code: i32,
    /// What the run changed in the work tree; `None` when it could not be measured.
    pub changes: Option<TreeChanges>,
    pub duration_ms: u64,
    /// The HTTP status of the API error that ended the run; 0 for none.
    pub api_error_status: u32,
    pub model: String,
    /// How the run was confined.
    pub confinement: String,
    /// Accesses the confinement refused.
    pub refused: Vec<RefusedAccess>,
    /// When a usage limit resets, in seconds since the Unix epoch; 0 when unknown.
    pub usage_limit_resets_at: u64,
}

impl RunResult {
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }
}
