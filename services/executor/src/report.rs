//! What a finished run gives back to its workflow: its report, or a failure whose type says
//! whether retrying can help, each with every attempt's figures.

use ct_contracts::AgentReport;
use ct_contracts::failure::{self, AGENT_AUTH_FAILED, AGENT_MAX_TURNS};
use ct_domain::capped;
use ct_domain::git::{Snapshot, StageTrees};
use ct_domain::spend::{AttemptOutcome, AttemptSpend};
use temporalio_sdk::activities::ActivityError;

use crate::live::LiveFigures;
use crate::messages::{Failure, FailureKind, RunResult};

/// A failed run as the activity's failure, with every attempt's figures (this one's last). Past
/// `failures_allowed` failed attempts (0: no limit of ours) it is not retried.
pub(crate) fn failure_of(result: RunResult, attempts: Vec<AttemptSpend>, failures_allowed: u32) -> ActivityError {
    let failed = attempts.iter().filter(|attempt| attempt.outcome == AttemptOutcome::Failed).count();
    let last_chance = failures_allowed > 0 && failed >= failures_allowed as usize;
    let Failure { kind, message } = result
        .failure
        .unwrap_or(Failure { kind: FailureKind::Agent, message: "the run reported no failure".to_owned() });
    let message = format!(
        "agent failed ({}): {message} [exit code {}, {} turns, ${:.4} spent]",
        kind.name(),
        result.exit_code,
        result.num_turns,
        result.total_cost_usd
    );
    match kind {
        FailureKind::UsageLimit if result.usage_limit_resets_at > 0 => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let resets_in = std::time::Duration::from_secs(result.usage_limit_resets_at).saturating_sub(now);
            failure::usage_limited(message, resets_in, attempts)
        }
        FailureKind::Auth => failure::with_attempts(AGENT_AUTH_FAILED, message, true, attempts),
        FailureKind::MaxTurns => failure::with_attempts(AGENT_MAX_TURNS, message, true, attempts),
        _ if last_chance => failure::with_attempts(
            failure::AGENT_FAILED,
            format!("{message}; the agent failed {failed} attempt(s), as many as it gets"),
            true,
            attempts,
        ),
        _ => failure::with_attempts(failure::AGENT_FAILED, message, false, attempts),
    }
}

pub(crate) fn into_report(
    result: RunResult,
    attempt: u32,
    identity: &str,
    build_id: &str,
    live: &LiveFigures<'_>,
    snapshot: Option<Snapshot>,
) -> AgentReport {
    let usage = result.usage.unwrap_or_default();
    let mut changes = result.changes.unwrap_or_default();
    let files_truncated = capped::keep_paths(&mut changes.files);
    let trees =
        Some(StageTrees { before: std::mem::take(&mut changes.before), after: std::mem::take(&mut changes.after) })
            .filter(|trees| !trees.before.is_empty() && !trees.after.is_empty());
    let mut result_text = result.result_text;
    let result_truncated = capped::keep_start(&mut result_text, capped::MAX_RESULT_TEXT);
    let mut refused = result.refused;
    let refused_truncated = capped::keep_first(&mut refused, capped::MAX_LISTED_REFUSALS);
    AgentReport {
        attempt,
        earlier: live.earlier(),
        session_id: result.session_id,
        resumed: live.is_resumed(),
        num_turns: result.num_turns,
        input_tokens: usage.input,
        output_tokens: usage.output,
        cache_read_tokens: usage.cache_read,
        cache_write_tokens: usage.cache_write,
        cost_usd: result.total_cost_usd,
        files_changed: changes.files,
        files_truncated,
        lines_added: changes.lines_added,
        lines_removed: changes.lines_removed,
        result_text,
        result_truncated,
        model: result.model,
        executor_id: identity.to_owned(),
        executor_build: build_id.to_owned(),
        confinement: result.confinement,
        refused,
        refused_truncated,
        trees,
        snapshot,
    }
}
