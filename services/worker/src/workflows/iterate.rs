//! The iterate workflow: run the agent on one issue, test, and go again with the failing
//! tests in the prompt until the tests pass, an iteration changes nothing, or the
//! iterations run out. Each iteration starts with a snapshot; at the end the work tree
//! holds the iteration with the fewest failing tests. A long loop continues as a new run
//! whenever Temporal suggests it (its history grows with every iteration), carrying where it
//! was.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ct_events::EventData;
use ct_events::data::WorkflowStarted;

use ct_domain::git::Snapshot;
use ct_domain::{
    IterateCarry, IterateInput, IterationProgress, MAX_ITERATIONS, RunState, StageState, StageStatus, WorkflowStatus,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ContinueAsNewOptions, SyncWorkflowContext, WorkflowContext, WorkflowContextView,
    WorkflowResult,
};

use ct_domain::budget::{BudgetRaise, BudgetRaised};

use super::budget::{self, RunEnd, Waited};
use super::clock::{elapsed_ms, now};
use super::events::{self, EventLedger, emit};
use super::gate::tests_failure;
use super::record::{record_agent, record_tests};
use super::{gate, options, snapshots, spans};
use ct_contracts::{AgentTask, TestReport};
use tracing::Instrument as _;

const KIND: &str = "iterate";

/// How much of the previous run's test output goes into the next prompt.
const FAILURES_SHOWN: usize = 10;
const FAILURE_EXCERPT_CHARS: usize = 1500;
const OUTPUT_TAIL_CHARS: usize = 3000;

/// Marks histories whose loop continues as a new run when Temporal suggests it. Histories
/// recorded before go on in one run.
const CONTINUE_AS_NEW_PATCH: &str = "iterate-continues-as-new";
/// Marks histories held to [`MAX_ITERATIONS`] whatever they were started with.
const MAX_ITERATIONS_PATCH: &str = "iterate-max-iterations";
/// Continues past this many history events even without Temporal's suggestion (a server
/// configured not to make one); Temporal's own limit is 51,200.
const CONTINUE_AFTER_EVENTS: u32 = 10_000;

#[workflow]
#[derive(Default)]
pub struct IterateWorkflow {
    status: WorkflowStatus,
    /// A cancel leaves the cancelled iteration's edits in place (`cancel --keep-changes`).
    keep_changes: bool,
    events: EventLedger,
}

/// How the loop ended.
enum End {
    /// It goes on in a new run, from this iteration.
    Continue(u32),
    Green(u32),
    Exhausted,
    NoChange(u32),
    Failed(String),
    Cancelled(String),
}

/// What the loop knows about the work tree's states.
#[derive(Default)]
struct Tracker {
    /// `snapshots[n - 1]` was taken before iteration n, so it holds iteration n-1's result.
    snapshots: Vec<Snapshot>,
    /// (iteration, failing tests) of the best tested iteration; later wins a tie.
    best: Option<(u32, u32)>,
    /// The model the last agent run used, for the iteration's metrics.
    model: Option<String>,
    /// The iteration whose result the work tree holds now (0: the state it started in).
    tree_is: u32,
    /// The last iteration's failing tests, as the next prompt shows them.
    feedback: Option<String>,
}

workflow_state!(IterateWorkflow);

#[workflow_methods]
impl IterateWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, mut input: IterateInput) -> WorkflowResult<WorkflowStatus> {
        // The CLI refuses more; a start through the API is held to it too (older histories
        // replay as they ran).
        if input.max_iterations > MAX_ITERATIONS && ctx.patched(MAX_ITERATIONS_PATCH) {
            input.max_iterations = MAX_ITERATIONS;
        }
        let (mut tracker, first, started) = match input.carried.take() {
            Some(carried) => resume(ctx, *carried),
            None => (Tracker::default(), 1, begin(ctx, &input).await),
        };
        let mut end = iterate(ctx, &input, &mut tracker, first).await;
        if let End::Continue(next) = end {
            // This run's events go out first, so the stream keeps its order across runs; a
            // cancel that came meanwhile ends the workflow here instead of in the next run.
            events::settle(ctx).await;
            if !ctx.cancellation_token().is_cancelled() {
                return continue_as_new(ctx, input, tracker, next, started).await;
            }
            end = End::Cancelled(format!("cancelled before iteration {next}"));
        }
        let kept = keep_best(ctx, &input, &tracker, &end).await;
        finish(ctx, end, kept, started).await
    }

    #[query]
    pub fn status(&self, ctx: &WorkflowContextView) -> WorkflowStatus {
        super::answered(&self.status, ctx)
    }

    /// Raises the budget, as in develop workflows.
    #[update]
    pub fn raise_budget(&mut self, _ctx: &mut SyncWorkflowContext<Self>, raise: BudgetRaise) -> BudgetRaised {
        budget::raise(&mut self.status, &raise)
    }

    #[update_validator(raise_budget)]
    fn validate_raise_budget(
        &self,
        _ctx: &WorkflowContextView,
        raise: &BudgetRaise,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        budget::check_raise(&self.status, raise).map_err(Into::into)
    }

    /// Asks a later cancel to leave the cancelled iteration's edits in the tree.
    #[signal]
    pub fn keep_changes(&mut self, _ctx: &mut SyncWorkflowContext<Self>, keep: bool) {
        self.keep_changes = keep;
    }
}

/// Starts the workflow's first run: its status, and `workflow.started`. Returns when it started.
async fn begin(ctx: &mut WorkflowContext<IterateWorkflow>, input: &IterateInput) -> SystemTime {
    let workflow_id = ctx.workflow_id().to_owned();
    let trace = spans::trace();
    ctx.state_mut(|s| {
        s.status = WorkflowStatus {
            workflow_id,
            state: RunState::Running,
            project_path: input.project_path.clone(),
            features: vec![input.issue.clone()],
            template: "iterate".to_owned(),
            iteration: Some(IterationProgress { max: input.max_iterations, ..IterationProgress::default() }),
            trace_id: trace.0.clone(),
            traceparent: trace.1.clone(),
            build: super::pinned_build(ctx),
            budget: input.budget_usd.map(|limit| ct_domain::budget::Budget::new(Some(limit), input.budget_warn_at)),
            ..WorkflowStatus::default()
        };
    });
    let started = now(ctx);
    let announced = WorkflowStarted {
        workflow_id: ctx.workflow_id().to_owned(),
        workflow_kind: KIND.to_owned(),
        project_path: input.project_path.clone(),
        features: vec![input.issue.clone()],
        template: KIND.to_owned(),
        stages: Vec::new(),
    };
    emit(ctx, EventData::WorkflowStarted(announced)).await;
    started
}

/// Starts a continued run where the last one left off: its status, the loop's state, and the
/// first iteration to run. Announces nothing: the workflow goes on.
fn resume(ctx: &mut WorkflowContext<IterateWorkflow>, carried: IterateCarry) -> (Tracker, u32, SystemTime) {
    let build = super::pinned_build(ctx);
    ctx.state_mut(|s| {
        s.status = carried.status;
        // The run may be on another build than the one it continues (a versioning override).
        s.status.build = build;
        s.keep_changes = carried.keep_changes;
    });
    let tracker = Tracker {
        snapshots: carried.snapshots,
        best: carried.best,
        model: carried.model,
        tree_is: carried.tree_is,
        feedback: carried.feedback,
    };
    (tracker, carried.next, UNIX_EPOCH + Duration::from_millis(carried.started_unix_ms))
}

/// Ends this run and continues the workflow as a new one from iteration `next` (this run's
/// events are out by then).
async fn continue_as_new(
    ctx: &mut WorkflowContext<IterateWorkflow>,
    mut input: IterateInput,
    tracker: Tracker,
    next: u32,
    started: SystemTime,
) -> WorkflowResult<WorkflowStatus> {
    let (status, keep_changes) = ctx.state_mut(|s| {
        progress(&mut s.status).continued += 1;
        (s.status.compacted(), s.keep_changes)
    });
    let snapshots = tracker
        .snapshots
        .into_iter()
        .map(|mut snapshot| {
            snapshot.files_truncated |= !snapshot.files.is_empty();
            snapshot.files.clear();
            snapshot
        })
        .collect();
    input.carried = Some(Box::new(IterateCarry {
        status,
        next,
        snapshots,
        best: tracker.best,
        model: tracker.model,
        tree_is: tracker.tree_is,
        feedback: tracker.feedback,
        keep_changes,
        started_unix_ms: started.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64),
    }));
    match ctx.continue_as_new(input, ContinueAsNewOptions::default()) {
        Err(continued) => Err(continued),
    }
}

/// Whether this run should hand over to a new one before its next iteration: Temporal
/// suggests it once the history grows large.
fn should_continue(ctx: &WorkflowContext<IterateWorkflow>) -> bool {
    (ctx.continue_as_new_suggested() || ctx.history_length() >= CONTINUE_AFTER_EVENTS)
        && ctx.patched(CONTINUE_AS_NEW_PATCH)
}

fn progress(status: &mut WorkflowStatus) -> &mut IterationProgress {
    status.iteration.get_or_insert_with(IterationProgress::default)
}

/// Runs iterations `first` to the last; a continued run's first has been waited for already.
async fn iterate(
    ctx: &mut WorkflowContext<IterateWorkflow>,
    input: &IterateInput,
    tracker: &mut Tracker,
    first: u32,
) -> End {
    for n in first..=input.max_iterations {
        // A continued run may have been cancelled before its first iteration.
        if n == first && first > 1 && ctx.cancellation_token().is_cancelled() {
            return End::Cancelled(format!("cancelled before iteration {n}"));
        }
        if n > first {
            let wait = input.backoff_secs(n);
            if wait > 0 {
                ctx.timer(Duration::from_secs(wait)).await;
            }
            if ctx.cancellation_token().is_cancelled() {
                return End::Cancelled(format!("cancelled before iteration {n}"));
            }
            if should_continue(ctx) {
                return End::Continue(n);
            }
        }
        let span = spans::stage(KIND, &format!("iteration-{n}"), (n - 1) as usize);
        let started = now(ctx);
        let ran = iteration(ctx, input, tracker, n).instrument(span.clone()).await;
        let outcome = iteration_outcome(&ran);
        spans::record_outcome(&span, outcome);
        let finished = now(ctx);
        let (event, failed) = ctx.state_mut(|s| {
            let index = (n - 1) as usize;
            let stage = &mut s.status.stages[index];
            stage.duration_ms = elapsed_ms(started, finished);
            if let Err(why) = outcome
                && stage.error.is_none()
            {
                stage.error = Some(why.to_owned());
            }
            let model = tracker.model.clone();
            (events::stage_outcome(KIND, &s.status, &s.status.stages[index], model), outcome.is_err())
        });
        emit(ctx, if failed { EventData::StageFailed(event) } else { EventData::StageCompleted(event) }).await;
        match ran {
            Ok(tests) => tracker.feedback = Some(feedback(n, &tests)),
            // The snapshot taken before this iteration holds the tree it started from.
            Err(End::Cancelled(message)) if tracker.snapshots.len() == n as usize && !ctx.state(|s| s.keep_changes) => {
                tracker.tree_is = n - 1;
                let snapshot = tracker.snapshots[(n - 1) as usize].clone();
                return End::Cancelled(snapshots::undo_cancelled(ctx, &input.project_path, &snapshot, message).await);
            }
            Err(end) => return end,
        }
    }
    End::Exhausted
}

/// How an iteration went, for its span: failing tests and a failed run are failures.
fn iteration_outcome(ran: &Result<TestReport, End>) -> Result<(), &str> {
    match ran {
        Ok(_) => Err("tests failing"),
        Err(End::Failed(why) | End::Cancelled(why)) => Err(why),
        Err(End::Green(_) | End::NoChange(_) | End::Exhausted | End::Continue(_)) => Ok(()),
    }
}

/// Runs iteration `n`: a snapshot, the agent, the tests. `Ok` with the failing report when the
/// loop goes on; `Err` with how the loop ends.
async fn iteration(
    ctx: &mut WorkflowContext<IterateWorkflow>,
    input: &IterateInput,
    tracker: &mut Tracker,
    n: u32,
) -> Result<TestReport, End> {
    let index = (n - 1) as usize;
    let name = format!("iteration-{n}");
    ctx.state_mut(|s| {
        let mut stage = StageStatus::pending(&name);
        stage.state = StageState::Running;
        s.status.stages.push(stage);
        s.status.current_stage = Some(name.clone());
        progress(&mut s.status).current = n;
    });
    events::stage_started(ctx, KIND, &name).await;
    let snapshot = match snapshots::take(ctx, &input.project_path, n, &name).await {
        Ok(snapshot) => snapshot,
        Err(err) => return Err(stop(&name, "snapshot", &err)),
    };
    ctx.state_mut(|s| s.status.snapshots.push(snapshots::label(&snapshot)));
    events::snapshot_created(ctx, &name, &snapshot).await;
    tracker.snapshots.push(snapshot.clone());

    let task = AgentTask {
        run_id: format!("{}/{name}", ctx.workflow_id()),
        project_path: input.project_path.clone(),
        prompt: prompt(n, input, tracker.feedback.as_deref()),
        settings: input.agent.clone(),
        restore_on_retry: Some(snapshot.reference.clone()),
        #[cfg(feature = "upgrade-rehearsal")]
        rehearsal: None,
        earlier_attempts: 0,
        failures_allowed: 0,
        earlier_spend: Vec::new(),
        spent_before_usd: ctx.state(|s| s.status.total_cost_usd),
        budget: None,
        snapshot: None,
    };
    let agent = budget::run_agent(ctx, index, task, input.budget_wait_secs).await;
    let report = match agent {
        Ok(report) => report,
        Err(ended) => {
            let end = match ended {
                RunEnd::OutOfBudget(Waited::TimedOut(why)) => End::Failed(why),
                RunEnd::OutOfBudget(_) => End::Cancelled(format!("cancelled while {name} waited for budget")),
                RunEnd::Failed(_) if ctx.cancellation_token().is_cancelled() => {
                    End::Cancelled(format!("cancelled during {name}"))
                }
                RunEnd::Failed(err) => stop(&name, "agent", &err),
            };
            return Err(match end {
                End::Failed(message) => {
                    // A failed run's half-done edits are no iteration's result.
                    tracker.tree_is = n - 1;
                    End::Failed(snapshots::roll_back(ctx, &input.project_path, &snapshot, message).await.0)
                }
                other => other,
            });
        }
    };
    let cost = ctx.state_mut(|s| {
        record_agent(&mut s.status.stages[index], &report);
        s.status.refresh_totals();
        events::stage_cost(&s.status, index, Some(report.model.clone()))
    });
    emit(ctx, EventData::CostUpdated(cost)).await;
    budget::warn(ctx, index).await;
    tracker.model = Some(report.model.clone()).filter(|m| !m.is_empty());
    // After failing tests, an iteration that changes nothing would see the same failures
    // again. The first one is still tested: the project may be green already.
    if report.files_changed.is_empty() && n > 1 {
        ctx.state_mut(|s| s.status.stages[index].state = StageState::Completed);
        return Err(End::NoChange(n));
    }
    tracker.tree_is = n;

    ctx.state_mut(|s| s.status.stages[index].state = StageState::Testing);
    let run_id = format!("{}/{name}", ctx.workflow_id());
    let tests = gate::run_tests(ctx, run_id, &input.project_path, input.test_timeout_secs).await;
    let tests = match tests {
        Ok(tests) => tests,
        Err(err) => return Err(stop(&name, "tests", &err)),
    };
    events::tests_completed(ctx, &name, &tests).await;
    let failing = failing(&tests);
    if tracker.best.is_none_or(|(_, fewest)| failing <= fewest) {
        tracker.best = Some((n, failing));
    }
    let best = tracker.best.map(|(iteration, _)| iteration);
    ctx.state_mut(|s| {
        let stage = &mut s.status.stages[index];
        record_tests(stage, &tests);
        if tests.is_green() {
            stage.state = StageState::Completed;
        } else {
            stage.state = StageState::Failed;
            stage.error = Some(tests_failure(&name, &tests));
        }
        progress(&mut s.status).best = best;
    });
    if tests.is_green() {
        return Err(End::Green(n));
    }
    Ok(tests)
}

/// Puts the best iteration's result back when the work tree holds a worse one. Returns the
/// iteration kept, or why it could not be.
async fn keep_best(
    ctx: &mut WorkflowContext<IterateWorkflow>,
    input: &IterateInput,
    tracker: &Tracker,
    end: &End,
) -> Result<Option<u32>, String> {
    if matches!(end, End::Cancelled(_)) {
        return Ok(None);
    }
    let Some((best, _)) = tracker.best else {
        return Ok(None);
    };
    if best == tracker.tree_is {
        return Ok(Some(best));
    }
    // Taken before iteration best+1, which ran since the tree has moved on from `best`.
    let snapshot = &tracker.snapshots[best as usize];
    snapshots::restore(ctx, &input.project_path, &snapshot.reference).await.map(|_| Some(best)).map_err(|err| {
        format!(
            "restoring iteration {best}'s result ({}) failed: {}",
            snapshot.reference,
            options::failure_message(&err)
        )
    })
}

async fn finish(
    ctx: &mut WorkflowContext<IterateWorkflow>,
    end: End,
    kept: Result<Option<u32>, String>,
    started: SystemTime,
) -> WorkflowResult<WorkflowStatus> {
    let kept_text = match &kept {
        Err(message) => format!("; {message}"),
        Ok(Some(iteration)) => {
            let failing = ctx.state(|s| s.status.stages[(*iteration - 1) as usize].tests_failed.unwrap_or(0));
            format!("; kept iteration {iteration} ({failing} failing test(s))")
        }
        Ok(None) => String::new(),
    };
    let (state, reason) = match &end {
        End::Green(n) => (RunState::Completed, format!("tests pass after iteration {n}")),
        End::Exhausted => (
            RunState::Failed,
            format!("tests still fail after {} iteration(s){kept_text}", ctx.state(|s| s.status.stages.len())),
        ),
        End::NoChange(n) => (
            RunState::Failed,
            format!("iteration {n} changed nothing, so another would not either; stopped{kept_text}"),
        ),
        End::Failed(message) => (RunState::Failed, format!("{message}{kept_text}")),
        End::Cancelled(message) => (RunState::Cancelled, message.clone()),
        End::Continue(_) => unreachable!("a continued loop does not finish"),
    };
    let status = ctx.state_mut(|s| {
        s.status.state = state;
        s.status.current_stage = None;
        if state != RunState::Completed {
            s.status.error = Some(reason.clone());
        }
        progress(&mut s.status).stop_reason = Some(reason.clone());
        if let Some(stage) = s.status.stages.last_mut()
            && matches!(stage.state, StageState::Running | StageState::Testing)
        {
            stage.state = if state == RunState::Cancelled { StageState::Cancelled } else { StageState::Failed };
        }
        s.status.clone()
    });
    super::end::end(ctx, KIND, status, started).await
}

fn stop(iteration: &str, what: &str, err: &ActivityExecutionError) -> End {
    match err {
        ActivityExecutionError::Cancelled(_) => End::Cancelled(format!("cancelled during {iteration}")),
        _ => End::Failed(format!("{iteration}: {what} failed: {}", options::failure_message(err))),
    }
}

/// A failing count that is never 0 for a red run (a crash or timeout fails no named test).
fn failing(tests: &TestReport) -> u32 {
    if tests.is_green() { 0 } else { tests.failed.max(1) }
}

/// The prompt of iteration `n`. Its first line is `Iteration: <n>`, and that text appears
/// nowhere else in it, so a scripted model can tell the iterations apart.
fn prompt(n: u32, input: &IterateInput, feedback: Option<&str>) -> String {
    let mut prompt = format!(
        "Iteration: {n}\nWork only inside {}. Resolve this issue so that the project's tests pass:\n\n{}\n",
        input.project_path,
        input.issue.trim()
    );
    if let Some(feedback) = feedback {
        prompt.push_str(feedback);
    }
    prompt.push_str(
        "\nFix the cause rather than the tests. Do not commit: the workflow snapshots and reviews your changes.\n",
    );
    prompt
}

/// What iteration `n`'s failing tests tell the next prompt: the command and counts, the first
/// failures and the end of the output.
fn feedback(n: u32, tests: &TestReport) -> String {
    let mut text = format!(
        "\nThe previous attempt (number {n}) did not make the tests pass: `{}` exited with {}{}, {} failed, {} passed.\n",
        tests.command,
        tests.exit_code,
        if tests.timed_out { " after timing out" } else { "" },
        tests.failed,
        tests.passed
    );
    if !tests.failures.is_empty() {
        text.push_str("\nFailing tests:\n");
    }
    for (name, output) in tests.failures.iter().take(FAILURES_SHOWN) {
        text.push_str(&format!("\n- {name}\n```\n{}\n```\n", last_chars(output.trim_end(), FAILURE_EXCERPT_CHARS)));
    }
    // The report lists the first failures only; `failed` counts them all.
    let failing = tests.failures.len().max(tests.failed as usize);
    if failing > FAILURES_SHOWN && !tests.failures.is_empty() {
        text.push_str(&format!("\n(and {} more)\n", failing - FAILURES_SHOWN.min(tests.failures.len())));
    }
    text.push_str(&format!(
        "\nEnd of the test output:\n```\n{}\n```\n",
        last_chars(tests.output_tail.trim_end(), OUTPUT_TAIL_CHARS)
    ));
    text
}

fn last_chars(text: &str, max: usize) -> &str {
    let start = text.char_indices().rev().nth(max.saturating_sub(1)).map_or(0, |(i, _)| i);
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> IterateInput {
        IterateInput {
            project_path: "/p".to_owned(),
            issue: "count words".to_owned(),
            max_iterations: 3,
            backoff_initial_secs: 1,
            backoff_max_secs: 1,
            agent: ct_domain::AgentSettings::default(),
            test_timeout_secs: 10,
            budget_usd: None,
            budget_warn_at: 0.8,
            budget_wait_secs: 60,
            carried: None,
        }
    }

    #[test]
    fn the_first_prompt_names_the_iteration_and_the_issue() {
        let prompt = prompt(1, &input(), None);
        assert!(prompt.starts_with("Iteration: 1\n"), "{prompt}");
        assert!(prompt.contains("count words"));
    }

    #[test]
    fn a_later_prompt_carries_the_failing_tests_and_the_output() {
        let tests = TestReport {
            command: "pytest".to_owned(),
            failed: 1,
            passed: 4,
            exit_code: 1,
            failures: vec![("tests/test_w.py::test_words".to_owned(), "assert 1 == 2".to_owned())],
            output_tail: "1 failed, 4 passed".to_owned(),
            ..TestReport::default()
        };
        let prompt = prompt(2, &input(), Some(&feedback(1, &tests)));
        assert!(prompt.starts_with("Iteration: 2\n"), "{prompt}");
        assert_eq!(prompt.matches("Iteration: ").count(), 1, "{prompt}");
        assert!(prompt.contains("- tests/test_w.py::test_words\n```\nassert 1 == 2\n```"), "{prompt}");
        assert!(prompt.contains("1 failed, 4 passed"), "{prompt}");
    }

    #[test]
    fn excerpts_keep_the_end_of_the_output() {
        assert_eq!(last_chars("abcdef", 3), "def");
        assert_eq!(last_chars("ab", 3), "ab");
        assert_eq!(last_chars("éàü", 2), "àü");
    }

    #[test]
    fn a_red_run_without_named_failures_still_counts_as_failing() {
        let crashed = TestReport { exit_code: 2, ..TestReport::default() };
        assert_eq!(failing(&crashed), 1);
        assert_eq!(failing(&TestReport::default()), 0);
    }
}
