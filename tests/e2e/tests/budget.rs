//! Budgets: the agent run that crosses one is stopped at that model response, the workflow
//! waits durably for `budget --add`, and goes on (or fails when nobody raises it in time).

use ct_contracts::workflows::{Develop, RaiseBudget};
use ct_domain::budget::BudgetRaise;
use ct_domain::spend::AttemptOutcome;
use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, example, git_project};
use ct_scripted_model::Scenario;
use temporalio_client::WorkflowExecuteUpdateOptions;

/// Four responses of 1000 input and 200 output tokens: $0.008 each for claude-opus-5-5 ($4 in,
/// $20 out per million), each writing a file before the next.
const RESPONSE_USD: f64 = 0.008;
const RESPONSES: usize = 4;

fn scenario() -> Scenario {
    scenario_matching("Stage: build")
}

/// The four responses, for the agent runs whose prompt contains `prompt`.
fn scenario_matching(prompt: &str) -> Scenario {
    ct_e2e::step_scenario(prompt, &[(1000, 200); RESPONSES], 300)
}

fn stage_file(stage_budget: Option<f64>) -> String {
    let budget = stage_budget.map_or_else(String::new, |usd| format!("budget_usd = {usd}\n"));
    format!(
        "name = \"one-stage\"\n\n[[stages]]\nname = \"build\"\nprompt = \"Stage: build\\nFeature: {{features}}\"\nskip_tests = true\n{budget}"
    )
}

fn start(stack: &Stack, project: &std::path::Path, stage_budget: Option<f64>, extra: &[&str]) -> String {
    let stages = stack.dir.path().join(format!("stages-{}.toml", stage_budget.is_some()));
    std::fs::write(&stages, stage_file(stage_budget)).unwrap();
    let mut args = vec![
        "start",
        project.to_str().unwrap(),
        "--stages",
        stages.to_str().unwrap(),
        "--features",
        "budget",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = stack.cli(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()["workflow_id"].as_str().unwrap().to_owned()
}

fn build_requests(stack: &Stack) -> usize {
    stack.model.requests().iter().filter(|r| r.script.as_deref() == Some("build")).count()
}

/// Whether the model saw the requests of `responses` answered responses, and at most one more:
/// the CLI may send its next request in the moment between the crossing response and its stop
/// (the request is never answered, the stop lands within its delay). What the run spent, in the
/// status, is the exact check.
fn answered(stack: &Stack, responses: usize) -> bool {
    (responses..=responses + 1).contains(&build_requests(stack))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_is_stopped_at_the_response_that_crosses_the_budget_and_goes_on_once_it_is_raised() {
    let mut stack = Stack::start(StackOptions::new(scenario())).await;
    let project = git_project(&example("textstats"));
    let id = start(&stack, project.path(), None, &["--budget-usd", "0.02"]);

    stack.wait_for_status(&id, "the wait for budget", |s| s.state == RunState::AwaitingBudget);
    // The wait is durable: a worker killed and started again during it changes nothing.
    stack.kill_worker();
    stack.start_worker();
    let waiting = stack.wait_for_status(&id, "the restarted worker's answer", |s| s.state == RunState::AwaitingBudget);
    let stage = &waiting.stages[0];
    assert_eq!(stage.state, StageState::AwaitingBudget);
    // The third response took the run to $0.024, past $0.02: the agent went no further.
    assert!(answered(&stack, 3), "the agent was not stopped at the crossing response\n{}", stack.logs());
    let history: Vec<(AttemptOutcome, u64)> =
        stage.attempt_history.iter().map(|a| (a.outcome, a.tokens.output)).collect();
    assert_eq!(history, [(AttemptOutcome::OverBudget, 600)], "{stage:?}");
    assert!(
        close(stage.cost_usd, 3.0 * RESPONSE_USD) && close(waiting.total_cost_usd, 3.0 * RESPONSE_USD),
        "{stage:?}"
    );
    let wait = waiting.budget.as_ref().and_then(|b| b.waiting.clone()).expect("the budget says why it waits");
    assert!(wait.stopped_run && close(wait.limit_usd, 0.02) && wait.stage == "build", "{wait:?}");
    let human = stack.cli(&["status", &id]).stdout;
    assert!(
        human.contains("waiting   for budget: stage `build`: its agent was stopped at the model response that crossed the workflow budget of $0.0200 ($0.0240 spent)")
            && human.contains(&format!("claude-temporal budget {id} --add USD")),
        "{human}"
    );
    let shown = stack.cli(&["budget", &id]);
    assert!(
        shown.code == 0 && shown.stdout.contains("budget    $0.0240 of $0.0200 spent; warning at 80%"),
        "{}{}",
        shown.stdout,
        shown.stderr
    );

    let refused = stack.cli(&["budget", &id, "--add", "-1"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("positive number"), "{}", refused.stderr);

    // To $0.08: the run that follows ($0.032) stays below its 80% mark, so one warning in all.
    let raised = stack.cli(&["budget", &id, "--add", "0.06", "--json"]);
    assert_eq!(raised.code, 0, "{}", raised.stderr);
    assert!(
        close(raised.json()["limit_usd"].as_f64().unwrap(), 0.08) && raised.json()["resumed"] == true,
        "{}",
        raised.stdout
    );
    // The same request again, as a CLI retry sends it: under the same id Temporal answers with
    // the first outcome; under another the workflow refuses it, since it saw no raise yet.
    let handle = stack.client().await.get_workflow_handle::<Develop>(&id);
    let again = BudgetRaise { add_usd: 0.06, seen_raises: Some(0) };
    let same_id = WorkflowExecuteUpdateOptions::builder().update_id("raise-budget/0/0.06".to_owned()).build();
    let answered_again = handle.execute_update(RaiseBudget, again, same_id).await.expect("the first outcome");
    assert!(close(answered_again.limit_usd, 0.08), "{answered_again:?}");
    let other_id = WorkflowExecuteUpdateOptions::builder().update_id("a-retry".to_owned()).build();
    let refused_again = handle.execute_update(RaiseBudget, again, other_id).await.expect_err("raised once");
    assert!(refused_again.to_string().contains("was raised since this request looked"), "{refused_again}");

    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let done: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert!(close(done.budget.as_ref().unwrap().limit_usd.unwrap(), 0.08), "raised once: {:?}", done.budget);
    let stage = &done.stages[0];
    let history: Vec<(u32, AttemptOutcome)> = stage.attempt_history.iter().map(|a| (a.attempt, a.outcome)).collect();
    assert_eq!(history, [(1, AttemptOutcome::OverBudget), (2, AttemptOutcome::Completed)], "{stage:?}");
    // Each attempt's conversation is kept; the run after the raise started a new one.
    let sessions: Vec<&str> = stage.attempt_history.iter().map(|a| a.session_id.as_str()).collect();
    assert!(sessions.iter().all(|s| !s.is_empty()) && sessions[0] != sessions[1], "{sessions:?}");
    assert_eq!(stage.session_id, sessions[1]);
    // The stopped run's spend counts: 3 responses, then the 4 of the run that completed.
    assert!(close(stage.cost_usd, 7.0 * RESPONSE_USD) && close(done.total_cost_usd, 7.0 * RESPONSE_USD), "{stage:?}");
    assert!(answered(&stack, 3 + RESPONSES), "{}", build_requests(&stack));
    assert!(project.path().join("step-2.txt").exists());

    let counts = stack.event_counts(&id);
    for kind in ["budget.warning", "budget.exhausted", "budget.raised", "workflow.completed"] {
        assert_eq!(counts.get(kind), Some(&1), "{kind}: {counts:?}");
    }
    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-budget-raised", &history);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_budget_nobody_raises_fails_the_stage_after_the_timeout() {
    let stack = Stack::start(StackOptions::new(scenario())).await;
    let project = git_project(&example("textstats"));
    let unbudgeted = start(&stack, project.path(), None, &["--approval-timeout", "5"]);
    let refused = stack.cli(&["budget", &unbudgeted, "--add", "1"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("has no budget to raise; start it with --budget-usd"), "{}", refused.stderr);
    assert_eq!(stack.cli(&["result", &unbudgeted]).code, 0);

    let other = git_project(&example("textstats"));
    let id = start(&stack, other.path(), Some(0.01), &["--approval-timeout", "4"]);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "{}", result.stdout);
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    let stage = &status.stages[0];
    assert_eq!(stage.state, StageState::Failed);
    let error = stage.error.as_deref().unwrap_or_default();
    assert!(error.contains("was stopped at its stage budget of $0.0100") && error.contains("within 4s"), "{error}");
    // Stopped after its second response: $0.016 spent, and counted.
    assert_eq!(stage.attempt_history.len(), 1, "{stage:?}");
    assert!(close(stage.cost_usd, 2.0 * RESPONSE_USD), "{stage:?}");
    let ended = stack.cli(&["budget", &id, "--add", "1"]);
    assert_eq!(ended.code, 2, "{}", ended.stderr);
    assert!(ended.stderr.contains("has ended"), "{}", ended.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_whose_estimate_does_not_fit_waits_before_it_starts() {
    // Earlier runs of `build` cost $0.04–$0.06: the estimate is their median, $0.05.
    let history = tempfile::tempdir().unwrap();
    let metrics = history.path().join("metrics.jsonl");
    let lines: Vec<String> = [0.04, 0.05, 0.06]
        .iter()
        .map(|usd| {
            format!(r#"{{"stage":"build","cost":{usd},"timestamp":"2026-11-01T00:00:00Z","workflow_id":"earlier"}}"#)
        })
        .collect();
    std::fs::write(&metrics, lines.join("\n") + "\n").unwrap();
    let mut options = StackOptions::new(scenario());
    options.env = vec![("METRICS_FILE".to_owned(), metrics.to_str().unwrap().to_owned())];
    let stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let id = start(&stack, project.path(), None, &["--budget-usd", "0.02"]);

    let waiting = stack.wait_for_status(&id, "the wait for budget", |s| s.state == RunState::AwaitingBudget);
    let wait = waiting.budget.as_ref().and_then(|b| b.waiting.clone()).expect("why it waits");
    assert!(!wait.stopped_run && wait.estimate_usd.is_some_and(|usd| close(usd, 0.05)), "{wait:?}");
    assert_eq!(waiting.stages[0].estimate.map(|e| e.runs), Some(3));
    assert_eq!(build_requests(&stack), 0, "the stage started although its estimate did not fit");
    let human = stack.cli(&["status", &id]).stdout;
    assert!(
        human.contains("its estimate of $0.0500 does not fit in the workflow budget of $0.0200 ($0.0000 spent)"),
        "{human}"
    );

    let raised = stack.cli(&["budget", &id, "--add", "0.04"]);
    assert_eq!(raised.code, 0, "{}", raised.stderr);
    assert!(
        raised.stderr.contains("raised the workflow's budget of")
            && raised.stderr.contains("to $0.0600; stage `build` goes on"),
        "{}",
        raised.stderr
    );
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let done: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(done.stages[0].attempts, 1, "a stage that never started has no stopped attempt");
    assert!(close(done.total_cost_usd, 4.0 * RESPONSE_USD), "{}", done.total_cost_usd);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_iterate_workflow_stops_at_its_budget_and_goes_on_once_it_is_raised() {
    let stack = Stack::start(StackOptions::new(scenario_matching("Iteration: 1"))).await;
    let project = git_project(&example("textstats"));
    let out = stack.cli(&[
        "iterate",
        project.path().to_str().unwrap(),
        "make the tests pass",
        "--budget-usd",
        "0.02",
        "--budget-wait",
        "120",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.json()["workflow_id"].as_str().unwrap().to_owned();
    let waiting = stack.wait_for_status(&id, "the wait for budget", |s| s.state == RunState::AwaitingBudget);
    assert!(answered(&stack, 3), "{waiting:?}");
    let stopped = &waiting.stages[0].attempt_history;
    assert_eq!(stopped.iter().map(|a| a.tokens.input).sum::<u64>(), 3000, "spent 3 responses: {stopped:?}");
    assert_eq!(waiting.budget.as_ref().and_then(|b| b.waiting.as_ref()).map(|w| w.timeout_secs), Some(120));
    let raised = stack.cli(&["budget", &id, "--add", "0.06"]);
    assert_eq!(raised.code, 0, "{}", raised.stderr);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let done: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert!(close(done.total_cost_usd, 7.0 * RESPONSE_USD), "the stopped run counts: {}", done.total_cost_usd);
}
