//! What a stage's status keeps of its agent runs (every attempt with what it spent, and the
//! changes of the one that completed) and of its test runs. Shared by every workflow.

use ct_contracts::{AgentReport, TestReport};
use ct_domain::StageStatus;
use ct_domain::spend::{self, AttemptOutcome, AttemptSpend, Tokens};

/// Records a test run of the stage: its counts and the build of the test-runner that ran it.
pub(super) fn record_tests(status: &mut StageStatus, tests: &TestReport) {
    status.tests_passed = Some(tests.passed);
    status.tests_failed = Some(tests.failed);
    status.test_runner_build = Some(tests.runner_build.clone()).filter(|build| !build.is_empty());
}

/// Records a completed run: its attempts (earlier ones included) and what it changed.
pub(super) fn record_agent(status: &mut StageStatus, report: &AgentReport) {
    let mut history = report.earlier.clone();
    history.push(AttemptSpend {
        attempt: report.attempt,
        outcome: AttemptOutcome::Completed,
        tokens: Tokens {
            input: report.input_tokens,
            output: report.output_tokens,
            cache_read: report.cache_read_tokens,
            cache_write: report.cache_write_tokens,
        },
        cost_usd: report.cost_usd,
        priced: true,
        session_id: report.session_id.clone(),
        resumed: report.resumed,
    });
    record_attempts(status, history);
    status.files_changed = report.files_changed.clone();
    status.files_truncated = report.files_truncated;
    status.lines_added = report.lines_added;
    status.lines_removed = report.lines_removed;
    status.trees = report.trees.clone();
    status.executor_id = Some(report.executor_id.clone()).filter(|id| !id.is_empty());
    status.executor_build = Some(report.executor_build.clone()).filter(|build| !build.is_empty());
    status.session_id = report.session_id.clone();
}

/// Puts every attempt of the stage's agent run on it; the stage's figures are their sum, so
/// failed and lost attempts count (their spend; a lost run is not an attempt of its agent). A failure that says nothing of them leaves the stage as it is.
pub(super) fn record_attempts(status: &mut StageStatus, history: Vec<AttemptSpend>) {
    let Some(last) = history.last() else {
        return;
    };
    // Attempt numbers run on over lost runs; an attempt the history lacks (it ended before any
    // figure) counts as the agent's, since nothing says it was lost.
    let lost = history.iter().filter(|attempt| attempt.outcome == AttemptOutcome::Lost).count();
    status.lost_runs = u32::try_from(lost).unwrap_or(u32::MAX);
    status.attempts = last.attempt.saturating_sub(status.lost_runs).max(1);
    let (tokens, cost_usd) = spend::total(&history);
    status.input_tokens = tokens.input;
    status.output_tokens = tokens.output;
    status.cache_read_tokens = tokens.cache_read;
    status.cache_write_tokens = tokens.cache_write;
    status.cost_usd = cost_usd;
    status.attempt_history = history;
}
