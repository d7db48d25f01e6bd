//! The test gate after a stage: running the project's tests, and which failures are the stage's. Before the first stage the
//! project's tests run once (the baseline); a stage fails its gate on tests that were not
//! failing then (it broke them, or added them failing), never on failures it found. Strict mode
//! (`--strict-tests`), or a project whose baseline could not be taken, fails on any failure.

use ct_contracts::{StageActivities, TestReport, TestTask};
use ct_domain::TestBaseline;
use temporalio_sdk::{ActivityExecutionError, WorkflowContext};

use super::{events, options};

/// Marks histories that run the baseline. Histories recorded before it existed replay without.
const BASELINE_PATCH: &str = "test-baseline";

/// What a stage's test run says about the stage.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Green,
    /// Only tests that already failed before the first stage fail (their names, when known).
    Preexisting(Vec<String>),
    /// The stage's own failures: tests it broke or added failing (their names, when known).
    Broken(Vec<String>),
}

/// Runs the tests of the project at `project_path` on the tests queue, as run `run_id`.
pub(super) async fn run_tests<W>(
    ctx: &WorkflowContext<W>,
    run_id: String,
    project_path: &str,
    timeout_secs: u64,
) -> Result<TestReport, ActivityExecutionError> {
    let task = TestTask { run_id, project_path: project_path.to_owned(), timeout_secs };
    ctx.execute_activity(StageActivities::run_tests, task, options::tests(ctx.task_queue(), timeout_secs)).await
}

/// Runs the project's tests once before the first stage, when `wanted`. A run that cannot be
/// had (no test framework, the runner down for good) leaves no baseline: every failure is then
/// the stage's, as in strict mode.
pub(super) async fn take_baseline<W: events::EmitsEvents>(
    ctx: &WorkflowContext<W>,
    project_path: &str,
    timeout_secs: u64,
    wanted: bool,
) -> Option<TestBaseline> {
    if !wanted || !ctx.patched(BASELINE_PATCH) {
        return None;
    }
    let run_id = format!("{}/baseline", ctx.workflow_id());
    match run_tests(ctx, run_id, project_path, timeout_secs).await {
        Ok(tests) => {
            events::tests_completed(ctx, "baseline", &tests).await;
            Some(baseline(&tests))
        }
        Err(err) => {
            tracing::warn!(error = %options::failure_message(&err), "no test baseline: every failing test fails its stage");
            None
        }
    }
}

/// Why a stage failed its gate: the tests it broke when a baseline forgave the others.
pub(super) fn failure(stage: &str, tests: &TestReport, had_baseline: bool, broken: &[String]) -> String {
    if !had_baseline || broken.is_empty() || tests.timed_out {
        return tests_failure(stage, tests);
    }
    format!(
        "stage `{stage}`: {} test(s) that passed before the first stage (or are new) fail: {}",
        broken.len(),
        broken.join(", ")
    )
}

pub(super) fn baseline(tests: &TestReport) -> TestBaseline {
    TestBaseline { passed: tests.passed, failed: tests.failed, failing: failing(tests) }
}

pub(super) fn judge(baseline: Option<&TestBaseline>, tests: &TestReport, strict: bool) -> Verdict {
    if tests.is_green() {
        return Verdict::Green;
    }
    let now = failing(tests);
    let baseline = match baseline {
        Some(baseline) if !strict && !tests.timed_out && tests.failed > 0 => baseline,
        // A timeout, a crash before any test ran (failed == 0 with a bad exit), strict mode or
        // no baseline: the run is the stage's.
        _ => return Verdict::Broken(now),
    };
    if now.is_empty() || now.len() < tests.failed as usize {
        // Names the runner could not give: judge by count.
        return if tests.failed <= baseline.failed { Verdict::Preexisting(now) } else { Verdict::Broken(now) };
    }
    let new: Vec<String> = now.iter().filter(|name| !baseline.failing.contains(name)).cloned().collect();
    if new.is_empty() { Verdict::Preexisting(now) } else { Verdict::Broken(new) }
}

fn failing(tests: &TestReport) -> Vec<String> {
    tests.failures.iter().map(|(name, _)| name.clone()).collect()
}

/// Why a stage whose tests failed fails, naming the failed tests (or the runner's last lines).
pub(super) fn tests_failure(stage: &str, tests: &TestReport) -> String {
    if tests.timed_out {
        return format!("stage `{stage}`: tests timed out (`{}`)", tests.command);
    }
    let names: Vec<&str> = tests.failures.iter().map(|(name, _)| name.as_str()).collect();
    if names.is_empty() {
        format!(
            "stage `{stage}`: `{}` exited with {}: {}",
            tests.command,
            tests.exit_code,
            tests.output_tail.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
        )
    } else {
        format!("stage `{stage}`: {} test(s) failed: {}", tests.failed, names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(passed: u32, failing: &[&str]) -> TestReport {
        TestReport {
            passed,
            failed: failing.len() as u32,
            failures: failing.iter().map(|name| ((*name).to_owned(), "assert False".to_owned())).collect(),
            exit_code: i32::from(!failing.is_empty()),
            ..TestReport::default()
        }
    }

    #[test]
    fn failures_found_before_the_first_stage_are_not_the_stages() {
        let before = baseline(&report(3, &["t::known_bug"]));
        assert_eq!(judge(Some(&before), &report(4, &[]), false), Verdict::Green);
        assert_eq!(
            judge(Some(&before), &report(4, &["t::known_bug"]), false),
            Verdict::Preexisting(vec!["t::known_bug".into()])
        );
        assert_eq!(
            judge(Some(&before), &report(3, &["t::known_bug", "t::was_green"]), false),
            Verdict::Broken(vec!["t::was_green".into()]),
            "a test that passed before and fails now is the stage's"
        );
    }

    #[test]
    fn strict_mode_or_no_baseline_blames_every_failure() {
        let before = baseline(&report(3, &["t::known_bug"]));
        let after = report(4, &["t::known_bug"]);
        assert_eq!(judge(Some(&before), &after, true), Verdict::Broken(vec!["t::known_bug".into()]));
        assert_eq!(judge(None, &after, false), Verdict::Broken(vec!["t::known_bug".into()]));
    }

    #[test]
    fn runs_that_say_no_names_are_judged_by_count_and_timeouts_always_fail() {
        let before = TestBaseline { passed: 3, failed: 1, failing: Vec::new() };
        let mut same = report(3, &[]);
        (same.failed, same.exit_code) = (1, 1);
        assert_eq!(judge(Some(&before), &same, false), Verdict::Preexisting(Vec::new()));
        let mut more = same.clone();
        more.failed = 2;
        assert_eq!(judge(Some(&before), &more, false), Verdict::Broken(Vec::new()));
        let mut timed_out = same;
        timed_out.timed_out = true;
        assert_eq!(judge(Some(&before), &timed_out, false), Verdict::Broken(Vec::new()));
    }
}
