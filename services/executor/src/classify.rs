//! Deciding whether a run succeeded and, if not, what kind of failure it was. The kind decides
//! what the workflow does next (retry with backoff, wait for a usage reset, give up), so the
//! message also says what a person can do about it.

use std::collections::VecDeque;
use std::time::Duration;

use crate::messages::{Failure, FailureKind};
use claude_codes::io::{ResultMessage, ResultSubtype};

use crate::summary::truncate;

/// The phrase the CLI prints when a subscription's usage limit is reached ("You've hit your
/// session limit", "… 5-hour limit", "… weekly limit").
const USAGE_LIMIT_PHRASE: &str = "You've hit your ";
/// The `api_error` of a result refused for a usage limit (2.1.285 and later).
const USAGE_LIMIT_ERROR: &str = "usage_limit_reached";

/// How a run ended, as far as the process is concerned.
#[derive(Debug)]
pub(crate) struct Ending<'a> {
    /// `None` when the process was killed by a signal.
    pub(crate) exit_code: Option<i32>,
    /// Set when the wall-clock limit (this long) ran out and the run was killed.
    pub(crate) timed_out: Option<Duration>,
    /// Set when the CLI printed a line longer than this many bytes and the run was stopped.
    pub(crate) line_over: Option<usize>,
    pub(crate) result: Option<&'a ResultMessage>,
    /// Recent texts the agent wrote and stray stdout lines, in order.
    pub(crate) texts: &'a VecDeque<String>,
    pub(crate) stderr_tail: &'a str,
}

/// `None` for a success: exit code 0, no error reported, at least one turn. The subtype alone
/// decides nothing: API errors come with `subtype: "success"`.
pub(crate) fn classify(ending: &Ending<'_>) -> Option<Failure> {
    if let Some(limit) = ending.timed_out {
        return Some(failure(
            FailureKind::Timeout,
            format!(
                "the agent ran longer than its {} s limit and was killed; raise it (--agent-timeout, \
                 CLAUDE_TIMEOUT or the stage's timeout_secs) or give it a smaller task",
                limit.as_secs_f64()
            ),
        ));
    }
    if let Some(limit) = ending.line_over {
        return Some(failure(
            FailureKind::Agent,
            format!(
                "the agent CLI printed a line of more than {limit} bytes, the most the executor \
                 reads of one line, and was stopped; the CLI never prints that much itself: \
                 check CLAUDE_BIN names the real Claude Code CLI"
            ),
        ));
    }
    if let Some(result) = ending.result
        && ending.exit_code == Some(0)
        && !result.is_error
        && result.num_turns > 0
    {
        return None;
    }
    if let Some(line) = usage_limit_line(ending).or_else(|| {
        let result = ending.result.filter(|r| r.api_error.as_deref() == Some(USAGE_LIMIT_ERROR))?;
        Some(result.result.clone().unwrap_or_else(|| USAGE_LIMIT_ERROR.to_owned()))
    }) {
        return Some(failure(FailureKind::UsageLimit, format!("the agent's account hit its usage limit: {line}")));
    }
    let exit = describe_exit(ending.exit_code);
    let Some(result) = ending.result else {
        return Some(failure(
            FailureKind::Agent,
            format!("the agent CLI {exit} without a result line; stderr: {}", or_none(ending.stderr_tail)),
        ));
    };
    let detail = result_detail(result, ending.stderr_tail);
    let kind = match result.api_error_status {
        Some(401 | 403) => {
            return Some(failure(
                FailureKind::Auth,
                format!(
                    "the model API refused the credentials (HTTP {}): check ANTHROPIC_API_KEY \
                     (or ANTHROPIC_AUTH_TOKEN / the login in ~/.claude/.credentials.json) and \
                     ANTHROPIC_BASE_URL; {detail}",
                    result.api_error_status.unwrap_or_default()
                ),
            ));
        }
        Some(408 | 429 | 500..=599) => FailureKind::Transient,
        None if is_connection_failure(result) => FailureKind::Transient,
        _ if result.subtype == ResultSubtype::ErrorMaxTurns => FailureKind::MaxTurns,
        _ => FailureKind::Agent,
    };
    let message = match kind {
        FailureKind::Transient => match result.api_error_status {
            Some(status) => {
                format!("the model API answered HTTP {status}; worth retrying: {detail}")
            }
            None => format!("the model API could not be reached; worth retrying: {detail}"),
        },
        FailureKind::MaxTurns => format!(
            "the agent reached its turn limit without finishing (num_turns {}); raise max_turns \
             or narrow the task",
            result.num_turns
        ),
        _ if result.num_turns == 0 && !result.is_error => format!(
            "the agent ran no turns ({exit}); an unknown slash command does this: check the \
             prompt; {detail}"
        ),
        _ => format!("the agent CLI {exit} with an error: {detail}"),
    };
    Some(failure(kind, message))
}

fn failure(kind: FailureKind, message: String) -> Failure {
    Failure { kind, message }
}

fn describe_exit(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exited with code {code}"),
        None => "was killed by a signal".to_owned(),
    }
}

fn or_none(text: &str) -> &str {
    if text.trim().is_empty() { "(empty)" } else { text.trim() }
}

/// The most specific explanation the run offers: its errors, its result text, or stderr.
fn result_detail(result: &ResultMessage, stderr_tail: &str) -> String {
    let text = if !result.errors.is_empty() {
        result.errors.join("; ")
    } else if let Some(text) = result.result.as_deref().filter(|t| !t.trim().is_empty()) {
        text.trim().to_owned()
    } else {
        format!("stderr: {}", or_none(stderr_tail))
    };
    truncate(&text, 1000)
}

fn is_connection_failure(result: &ResultMessage) -> bool {
    if result.api_error.as_deref() == Some("connection_failed") {
        return true;
    }
    result.terminal_reason.as_deref() == Some("api_error")
        && result.errors.iter().map(String::as_str).chain(result.result.as_deref()).any(|text| {
            let text = text.to_ascii_lowercase();
            text.contains("connection") || text.contains("econnrefused")
        })
}

/// The line announcing a usage limit, with its reset time, wherever the CLI printed it.
fn usage_limit_line(ending: &Ending<'_>) -> Option<String> {
    let result_texts = ending.result.into_iter().flat_map(|r| r.result.iter().chain(r.errors.iter()));
    result_texts
        .chain(ending.texts.iter())
        .map(String::as_str)
        .chain([ending.stderr_tail])
        .flat_map(str::lines)
        .find(|line| line.contains(USAGE_LIMIT_PHRASE))
        .map(|line| line.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(overrides: serde_json::Value) -> ResultMessage {
        let mut base = json!({
            "type": "result", "subtype": "success", "is_error": false, "duration_ms": 500,
            "duration_api_ms": 300, "num_turns": 2, "result": "Done.", "session_id": "s",
            "total_cost_usd": 0.01, "permission_denials": [], "terminal_reason": "completed",
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 0,
                      "cache_creation_input_tokens": 0}
        });
        for (key, value) in overrides.as_object().unwrap() {
            base[key] = value.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn kind_of(exit_code: Option<i32>, result: Option<&ResultMessage>, stderr: &str) -> Option<FailureKind> {
        classify(&Ending {
            exit_code,
            timed_out: None,
            line_over: None,
            result,
            texts: &VecDeque::new(),
            stderr_tail: stderr,
        })
        .map(|f| f.kind)
    }

    fn api_error(status: Option<u16>) -> ResultMessage {
        result(json!({
            "is_error": true, "num_turns": 1, "terminal_reason": "api_error",
            "api_error_status": status, "result": "API Error: 529 overloaded"
        }))
    }

    #[test]
    fn success_needs_exit_zero_no_error_and_a_turn() {
        assert_eq!(kind_of(Some(0), Some(&result(json!({}))), ""), None);
        assert_eq!(kind_of(Some(1), Some(&result(json!({}))), ""), Some(FailureKind::Agent));
        let no_turns = result(json!({"num_turns": 0}));
        assert_eq!(kind_of(Some(0), Some(&no_turns), ""), Some(FailureKind::Agent));
    }

    #[test]
    fn an_error_result_with_exit_zero_and_subtype_success_is_a_failure() {
        let err = api_error(Some(500));
        assert_eq!(kind_of(Some(0), Some(&err), ""), Some(FailureKind::Transient));
    }

    #[test]
    fn api_statuses_map_to_kinds() {
        for (status, kind) in [
            (Some(401), FailureKind::Auth),
            (Some(403), FailureKind::Auth),
            (Some(429), FailureKind::Transient),
            (Some(500), FailureKind::Transient),
            (Some(529), FailureKind::Transient),
            (Some(400), FailureKind::Agent),
        ] {
            assert_eq!(kind_of(Some(1), Some(&api_error(status)), ""), Some(kind), "{status:?}");
        }
    }

    #[test]
    fn auth_failures_name_the_fix() {
        let failure = classify(&Ending {
            exit_code: Some(1),
            timed_out: None,
            line_over: None,
            result: Some(&api_error(Some(401))),
            texts: &VecDeque::new(),
            stderr_tail: "",
        })
        .unwrap();
        assert!(failure.message.contains("ANTHROPIC_API_KEY"), "{}", failure.message);
        assert!(failure.message.contains("ANTHROPIC_BASE_URL"));
    }

    #[test]
    fn unreachable_endpoint_is_transient() {
        let refused = result(json!({
            "is_error": true, "num_turns": 1, "terminal_reason": "api_error",
            "api_error_status": null, "api_error": "connection_failed",
            "result": "API Error: Connection refused (ECONNREFUSED)"
        }));
        assert_eq!(kind_of(Some(1), Some(&refused), ""), Some(FailureKind::Transient));
        let older_cli = result(json!({
            "is_error": true, "num_turns": 1, "terminal_reason": "api_error",
            "errors": ["Connection error."]
        }));
        assert_eq!(kind_of(Some(1), Some(&older_cli), ""), Some(FailureKind::Transient));
    }

    #[test]
    fn max_turns_is_recognised_by_subtype() {
        let maxed = result(json!({"subtype": "error_max_turns", "is_error": true, "num_turns": 31}));
        assert_eq!(kind_of(Some(1), Some(&maxed), ""), Some(FailureKind::MaxTurns));
    }

    #[test]
    fn usage_limit_keeps_the_reset_text() {
        let limited = result(json!({
            "is_error": true, "num_turns": 1,
            "result": "You've hit your session limit · resets 8pm (America/New_York)"
        }));
        let failure = classify(&Ending {
            exit_code: Some(1),
            timed_out: None,
            line_over: None,
            result: Some(&limited),
            texts: &VecDeque::new(),
            stderr_tail: "",
        })
        .unwrap();
        assert_eq!(failure.kind, FailureKind::UsageLimit);
        assert!(failure.message.contains("resets 8pm (America/New_York)"), "{}", failure.message);
        // 2.1.331 with a subscription login: the `api_error` says it, the text names the window.
        let five_hour = result(json!({
            "is_error": true, "num_turns": 1, "api_error_status": 429, "api_error": "usage_limit_reached",
            "result": "You've hit your 5-hour limit · resets 7:57pm (UTC)"
        }));
        assert_eq!(kind_of(Some(1), Some(&five_hour), ""), Some(FailureKind::UsageLimit));
        let from_stderr = "noise\nYou've hit your session limit · resets 3am (UTC)\n";
        assert_eq!(kind_of(Some(1), None, from_stderr), Some(FailureKind::UsageLimit));
    }

    #[test]
    fn a_crash_without_result_reports_exit_code_and_stderr() {
        let failure = classify(&Ending {
            exit_code: Some(134),
            timed_out: None,
            line_over: None,
            result: None,
            texts: &VecDeque::new(),
            stderr_tail: "panic: out of memory",
        })
        .unwrap();
        assert_eq!(failure.kind, FailureKind::Agent);
        assert!(failure.message.contains("code 134"));
        assert!(failure.message.contains("panic: out of memory"));
    }

    #[test]
    fn timeout_wins_over_everything_else() {
        let failure = classify(&Ending {
            exit_code: None,
            timed_out: Some(Duration::from_secs(2)),
            line_over: None,
            result: Some(&result(json!({}))),
            texts: &VecDeque::new(),
            stderr_tail: "",
        })
        .unwrap();
        assert_eq!(failure.kind, FailureKind::Timeout);
    }
}
