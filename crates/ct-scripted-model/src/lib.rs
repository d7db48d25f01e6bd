//! A stand-in for the Anthropic Messages API that answers from a scenario file, so the real
//! Claude Code CLI runs its real tools (Write, Edit, Bash) against a model whose every answer
//! and token count is known in advance.
//!
//! The CLI only calls `POST /v1/messages?beta=true`, always streamed. A scenario is a list of
//! scripts; a request is answered by the first script whose `match` occurs in the text of its
//! first user message (a script without `match` is the fallback), at the turn equal to the
//! number of assistant messages in the request (`role: "system"` entries do not count):
//!
//! ```json
//! {"scripts": [{
//!   "name": "scaffold",
//!   "match": "Stage: scaffold",
//!   "turns": [
//!     {"text": "Creating the package.",
//!      "tool_uses": [{"name": "Write",
//!                     "input": {"file_path": "{cwd}/pkg/__init__.py", "content": ""}}],
//!      "usage": {"input_tokens": 1200, "output_tokens": 300,
//!                "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}},
//!     {"text": "Done.", "usage": {"input_tokens": 1500, "output_tokens": 40},
//!      "fail_first": {"status": 529, "times": 1}, "delay_ms": 100}
//!   ]
//! }]}
//! ```
//!
//! `{cwd}` in tool inputs becomes the directory the CLI reports ("Primary working directory:").
//! A turn with tool uses stops with `tool_use`, else `end_turn`; past the last turn the answer
//! is a plain `end_turn` text. `fail_first` answers the first `times` requests of that turn
//! with the HTTP status and Anthropic's error body; `delay_ms` waits before answering.

mod reply;
mod request;
mod scenario;
mod server;

use std::io;
use std::path::PathBuf;

pub use scenario::{FailFirst, Scenario, Script, ToolUse, Turn, Usage};
pub use server::{RecordedRequest, ScriptedModel, serve};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read scenario file {path}: {source}")]
    ReadScenario { path: PathBuf, source: io::Error },
    #[error("scenario file {path} is not a valid scenario: {source}")]
    ParseScenario { path: PathBuf, source: serde_json::Error },
    #[error("scenario JSON is not a valid scenario: {0}")]
    ParseScenarioJson(serde_json::Error),
    #[error("invalid scenario ({origin}): {reason}")]
    InvalidScenario { origin: String, reason: String },
    #[error("scripted model server failed: {0}")]
    Serve(io::Error),
}
