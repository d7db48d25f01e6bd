//! Spotting the tool uses the sandbox refused, from the tool results the CLI streams back.

use std::collections::HashMap;

use claude_codes::io::{ToolResultBlock, ToolResultContent};
use ct_contracts::RefusedAccess;
use serde_json::Value;

use crate::summary::truncate;

/// What a tool reports when the kernel refuses an access: Landlock answers EACCES for files and
/// connects; Node spells it `EACCES: permission denied`, shells `Permission denied`, and some
/// tools pass on EPERM.
const MARKERS: &[&str] = &["permission denied", "eacces", "eperm", "operation not permitted"];
/// Refusals kept per run; an agent retrying in a loop must not grow the result without bound.
/// One over what a report lists, so that the report can tell it cut the list.
const KEPT: usize = ct_domain::capped::MAX_LISTED_REFUSALS + 1;
/// Longest error line kept per refusal, in characters.
const ERROR_LIMIT: usize = 300;

/// The tool uses of one run awaiting their results, and the refusals seen so far.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    /// Tool-use id → (tool, target as shown in progress).
    pending: HashMap<String, (String, String)>,
    pub(crate) refused: Vec<RefusedAccess>,
}

impl Refusals {
    pub(crate) fn tool_used(&mut self, id: &str, tool: &str, target: &str) {
        self.pending.insert(id.to_owned(), (tool.to_owned(), target.to_owned()));
    }

    /// Records the result of a tool use; `redact` cleans the error line before it is kept.
    pub(crate) fn tool_result(&mut self, result: &ToolResultBlock, redact: impl Fn(String) -> String) {
        let Some((tool, target)) = self.pending.remove(&result.tool_use_id) else {
            return;
        };
        let text = result.content.as_ref().map(content_text).unwrap_or_default();
        let Some(line) = text.lines().find(|line| is_refusal(line)) else {
            return;
        };
        if self.refused.len() < KEPT {
            self.refused.push(RefusedAccess { tool, target, error: redact(truncate(line.trim(), ERROR_LIMIT)) });
        }
    }
}

fn is_refusal(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    MARKERS.iter().any(|marker| lower.contains(marker))
}

fn content_text(content: &ToolResultContent) -> String {
    match content {
        ToolResultContent::Text(text) => text.clone(),
        ToolResultContent::Structured(parts) => {
            parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, text: &str) -> ToolResultBlock {
        ToolResultBlock {
            tool_use_id: id.to_owned(),
            content: Some(ToolResultContent::Text(text.to_owned())),
            is_error: Some(true),
        }
    }

    #[test]
    fn only_results_that_say_access_was_refused_are_kept() {
        let mut refusals = Refusals::default();
        refusals.tool_used("a", "Bash", "echo x > /tmp/out");
        refusals.tool_used("b", "Bash", "false");
        refusals.tool_used("c", "Write", "/etc/x");
        refusals.tool_result(&result("a", "Exit code 1\n/bin/bash: line 1: /tmp/out: Permission denied"), |s| s);
        refusals.tool_result(&result("b", "Exit code 1"), |s| s);
        refusals.tool_result(&result("c", "EACCES: permission denied, open '/etc/x'"), |s| s.replace("/etc", "[R]"));
        refusals.tool_result(&result("unknown", "Permission denied"), |s| s);
        let kept: Vec<(&str, &str, &str)> =
            refusals.refused.iter().map(|r| (r.tool.as_str(), r.target.as_str(), r.error.as_str())).collect();
        assert_eq!(
            kept,
            [
                ("Bash", "echo x > /tmp/out", "/bin/bash: line 1: /tmp/out: Permission denied"),
                ("Write", "/etc/x", "EACCES: permission denied, open '[R]/x'"),
            ]
        );
    }
}
