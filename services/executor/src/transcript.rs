//! Reading the CLI's stream-json output: progress for the client while it runs (redacted),
//! the tool uses the sandbox refused, the final `result` line for the totals.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use crate::messages::Progress;
use claude_codes::io::{RateLimitStatus, ResultMessage};
use claude_codes::{ClaudeOutput, ContentBlock};
use ct_confine::Redactor;
use serde_json::Value;

use crate::meter::Meter;
use crate::refused::Refusals;
use crate::summary::{summarize_tool_input, truncate};
use crate::tool_spans::ToolSpans;

/// Longest agent text forwarded as progress, in characters.
const TEXT_LIMIT: usize = 500;
/// How many recent texts are kept for failure messages.
const TEXTS_KEPT: usize = 20;

/// What has been learnt from the lines read so far.
#[derive(Debug)]
pub(crate) struct Transcript {
    redactor: Arc<Redactor>,
    pub(crate) session_id: String,
    pub(crate) model: String,
    /// The final `result` line; totals come only from here because `assistant` lines repeat
    /// the same message's usage once per content block.
    pub(crate) result: Option<ResultMessage>,
    /// The last texts the agent wrote and stdout lines that were not stream-json, kept for
    /// failure messages (a usage limit arrives as text).
    pub(crate) texts: VecDeque<String>,
    pub(crate) refusals: Refusals,
    tools: ToolSpans,
    pub(crate) meter: Meter,
    /// When a usage limit that rejected a request resets (Unix seconds), from the CLI's
    /// `rate_limit_event` lines.
    pub(crate) usage_limit_resets_at: Option<u64>,
    /// The last line that gave the agent a tool's result (its `uuid`), until the run takes it
    /// as the moment for a checkpoint. A subagent's tool results do not count: the agent's
    /// own conversation only goes on once the subagent's tool returns.
    pub(crate) tool_result_at: Option<String>,
    /// Grows whenever the agent begins a tool call: when its block starts streaming (well
    /// before the tool can run) and again when the whole call arrives.
    pub(crate) tool_steps: u32,
}

impl Transcript {
    pub(crate) fn new(redactor: Arc<Redactor>, meter: Meter) -> Transcript {
        Transcript {
            redactor,
            session_id: String::new(),
            model: String::new(),
            result: None,
            texts: VecDeque::new(),
            refusals: Refusals::default(),
            tools: ToolSpans::default(),
            meter,
            usage_limit_resets_at: None,
            tool_result_at: None,
            tool_steps: 0,
        }
    }

    fn redact(&self, text: String) -> String {
        self.redactor.redact_owned(text)
    }

    /// Takes in one stdout line and returns the progress it carries. Lines that are not
    /// stream-json (or are of a kind this crate version does not know) are skipped: the CLI
    /// adds message types between releases and a run must not fail on one.
    pub(crate) fn observe(&mut self, line: &str, project: &Path) -> Vec<Progress> {
        let line = line.trim();
        if line.is_empty() {
            return Vec::new();
        }
        let output = match ClaudeOutput::parse_json(line) {
            Ok(output) => output,
            Err(err) => {
                tracing::debug!(error = %err.error_message, "skipping an unparsed CLI output line");
                self.keep_text(self.redact(truncate(line, TEXT_LIMIT)));
                return Vec::new();
            }
        };
        match output {
            ClaudeOutput::System(system) => {
                let Some(init) = system.as_init() else {
                    return Vec::new();
                };
                self.session_id = init.session_id;
                self.model = init.model.unwrap_or_default();
                vec![Progress::Started { session_id: self.session_id.clone(), model: self.model.clone() }]
            }
            ClaudeOutput::Assistant(assistant) => assistant
                .message
                .content
                .iter()
                .filter_map(|block| match block {
                    ContentBlock::Text(text) => {
                        let text = self.redact(text.text.trim().to_owned());
                        if text.is_empty() {
                            return None;
                        }
                        let shown = truncate(&text, TEXT_LIMIT);
                        self.keep_text(text);
                        Some(Progress::Text(shown))
                    }
                    ContentBlock::ToolUse(tool) => {
                        self.tool_steps += 1;
                        let summary = self.redact(summarize_tool_input(&tool.name, &tool.input, project));
                        self.refusals.tool_used(&tool.id, &tool.name, &summary);
                        self.tools.started(&tool.id, &tool.name);
                        Some(Progress::ToolUse { name: tool.name.clone(), summary })
                    }
                    _ => None,
                })
                .collect(),
            ClaudeOutput::User(user) => {
                for block in &user.message.content {
                    if let ContentBlock::ToolResult(result) = block {
                        if user.parent_tool_use_id.is_none() {
                            self.tool_result_at.clone_from(&user.uuid);
                        }
                        self.tools.finished(&result.tool_use_id, result.is_error == Some(true));
                        let redactor = &self.redactor;
                        self.refusals.tool_result(result, |line| redactor.redact_owned(line));
                    }
                }
                Vec::new()
            }
            ClaudeOutput::StreamEvent(stream) => {
                if stream.event.pointer("/content_block/type").and_then(Value::as_str) == Some("tool_use") {
                    self.tool_steps += 1;
                }
                self.meter.observe(&stream.event).map(Progress::Usage).into_iter().collect()
            }
            ClaudeOutput::RateLimitEvent(event) => {
                if event.rate_limit_info.status == RateLimitStatus::Rejected {
                    self.usage_limit_resets_at = event.rate_limit_info.resets_at;
                }
                Vec::new()
            }
            ClaudeOutput::Result(result) => {
                if self.session_id.is_empty() {
                    self.session_id = result.session_id.clone();
                }
                self.result = Some(result);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn keep_text(&mut self, text: String) {
        if self.texts.len() == TEXTS_KEPT {
            self.texts.pop_front();
        }
        self.texts.push_back(text);
    }

    /// The model the run used: as announced at start, else the one that cost the most.
    pub(crate) fn model(&self) -> String {
        if !self.model.is_empty() {
            return self.model.clone();
        }
        self.result
            .as_ref()
            .and_then(|r| r.model_usage.as_ref())
            .and_then(|usage| {
                usage.iter().max_by(|a, b| a.1.cost_usd.total_cmp(&b.1.cost_usd)).map(|(name, _)| name.clone())
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_domain::pricing::PriceTable;

    #[test]
    fn stream_lines_become_progress_and_the_result_is_kept() {
        let project = Path::new("/p");
        let mut transcript = Transcript::new(Arc::default(), Meter::today(Arc::new(PriceTable::built_in())));
        let init = r#"{"type":"system","subtype":"init","cwd":"/p","session_id":"s-1","tools":[],"mcp_servers":[],"model":"claude-opus-5-5","permissionMode":"bypassPermissions","slash_commands":[],"apiKeySource":"ANTHROPIC_API_KEY","output_style":"default","agents":[],"skills":[],"plugins":[],"uuid":"u"}"#;
        let started = transcript.observe(init, project);
        assert!(matches!(
            &started[..],
            [Progress::Started { session_id, .. }] if session_id == "s-1"
        ));
        assert!(transcript.observe("not json", project).is_empty());
        assert!(transcript.observe(r#"{"type":"brand_new_kind"}"#, project).is_empty());
        assert_eq!(transcript.model(), "claude-opus-5-5");
    }

    #[test]
    fn a_rejected_rate_limit_event_gives_the_reset_time() {
        let project = Path::new("/p");
        let mut transcript = Transcript::new(Arc::default(), Meter::today(Arc::new(PriceTable::built_in())));
        // As Claude Code 2.1.331 prints it for a subscription refused at its 5-hour limit.
        let allowed = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed","resetsAt":1796327000,"rateLimitType":"five_hour","isUsingOverage":false},"uuid":"u1","session_id":"s"}"#;
        transcript.observe(allowed, project);
        assert_eq!(transcript.usage_limit_resets_at, None);
        let rejected = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1796327859,"rateLimitType":"five_hour","isUsingOverage":false},"uuid":"u2","session_id":"s"}"#;
        transcript.observe(rejected, project);
        assert_eq!(transcript.usage_limit_resets_at, Some(1_796_327_859));
    }
}
