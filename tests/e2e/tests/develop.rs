//! The develop workflow end to end: real Temporal, real services, the real
//! Claude Code CLI against the scripted model, a real git project.

use std::collections::BTreeMap;
use std::path::Path;

use ct_contracts::workflows::{ApproveGate, Develop};
use ct_domain::{ApprovalDecision, RunState, StageState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, example, git_project};
use ct_scripted_model::Scenario;
use temporalio_client::WorkflowExecuteUpdateOptions;
use temporalio_client::errors::WorkflowUpdateError;

const STAGES: [&str; 6] =
    ["scaffold", "core-implementation", "streaming", "error-handling", "testing", "documentation"];

fn develop_scenario() -> Scenario {
    Scenario::from_file(&example("scenarios/develop-textstats.json")).expect("demo scenario")
}

fn start(stack: &Stack, project: &Path, extra: &[&str]) -> String {
    let project = project.to_str().expect("utf-8 path");
    let mut args = vec!["start", project, "--features", "word counts", "streaming counts", "--json"];
    args.extend_from_slice(extra);
    let out = stack.cli(&args);
    assert_eq!(out.code, 0, "start failed: {}", out.stderr);
    out.json()["workflow_id"].as_str().expect("workflow_id").to_owned()
}

fn awaiting(stack: &Stack, id: &str, stage: &str) -> WorkflowStatus {
    stack.wait_for_status(id, &format!("approval gate of {stage}"), |s| s.awaiting_approval.as_deref() == Some(stage))
}

/// Every file the scenario's Write calls produced, with its final content.
fn written_files(scenario_path: &Path, project: &Path) -> BTreeMap<String, String> {
    let scenario: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(scenario_path).unwrap()).unwrap();
    let mut files = BTreeMap::new();
    for script in scenario["scripts"].as_array().unwrap() {
        for turn in script["turns"].as_array().unwrap() {
            for tool in turn["tool_uses"].as_array().into_iter().flatten() {
                if tool["name"] == "Write" {
                    let path = tool["input"]["file_path"].as_str().unwrap().replace("{cwd}", project.to_str().unwrap());
                    files.insert(path, tool["input"]["content"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    files
}

/// The first request of each stage's script, in the order the model saw them.
fn stage_runs(stack: &Stack) -> Vec<String> {
    stack.model.requests().into_iter().filter(|r| r.turn == 0).filter_map(|r| r.script).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn develop_runs_six_stages_in_order_and_stops_for_approval() {
    let stack = Stack::start(StackOptions::new(develop_scenario())).await;
    let project = git_project(&example("textstats"));
    let id = start(&stack, project.path(), &[]);

    let gate = awaiting(&stack, &id, "core-implementation");
    assert_eq!(gate.state, RunState::AwaitingApproval);
    assert_eq!(gate.stages[0].state, StageState::Completed);
    assert_eq!(gate.stages[1].state, StageState::AwaitingApproval);
    assert!(gate.stages[2..].iter().all(|s| s.state == StageState::Pending));
    assert_eq!(stage_runs(&stack), ["scaffold", "core-implementation"], "nothing runs past the gate");

    let approve = stack.cli(&["approve", &id, "--comment", "looks right"]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    assert!(approve.stderr.contains("approved stage `core-implementation`"), "{}", approve.stderr);
    // The gate is closed now: a second decision for it (a colleague's, sent after the first) is
    // refused by the workflow itself, with the reason, instead of being dropped.
    let again =
        ApprovalDecision { stage: "core-implementation".to_owned(), comment: "me too".to_owned(), decided_by: None };
    let refused = stack
        .client()
        .await
        .get_workflow_handle::<Develop>(&id)
        .execute_update(ApproveGate, again, WorkflowExecuteUpdateOptions::default())
        .await;
    match refused {
        Err(WorkflowUpdateError::Failed(failure)) => {
            assert!(failure.message.contains("no approval gate open for stage `core-implementation`"), "{failure:?}")
        }
        other => panic!("a decision for a closed gate was not refused: {other:?}"),
    }
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "result: {}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();

    assert_eq!(status.state, RunState::Completed);
    let names: Vec<&str> = status.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, STAGES);
    assert_eq!(stage_runs(&stack), STAGES, "each stage's agent ran once, in order");
    for stage in &status.stages {
        assert_eq!(stage.state, StageState::Completed, "{stage:?}");
        assert_eq!(stage.attempts, 1);
        assert!(stage.output_tokens > 0 && stage.cost_usd > 0.0, "{stage:?}");
        assert!(!stage.files_changed.is_empty(), "{stage:?}");
        if stage.name == "documentation" {
            assert_eq!(stage.tests_passed, None, "documentation runs no tests");
        } else {
            assert_eq!(stage.tests_failed, Some(0), "{stage:?}");
            assert!(stage.tests_passed.unwrap_or(0) > 0, "{stage:?}");
        }
    }
    assert_eq!(status.stages[1].approval_comment.as_deref(), Some("looks right"));
    // Who decided is recorded: in the stage and in the event.
    let approver = status.stages[1].approved_by.clone().unwrap_or_default();
    assert!(approver.ends_with("(claude-temporal CLI)"), "{approver:?}");
    let watch = stack.cli(&["watch", &id, "--json"]);
    let granted: Vec<serde_json::Value> = watch
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| ct_e2e::event_kind(event) == "approval.granted")
        .collect();
    assert_eq!(granted.len(), 1, "{}", watch.stdout);
    assert_eq!(granted[0]["data"]["decided_by"], approver.as_str());

    // The agent really changed the project: every file the scenario wrote is there.
    for (path, content) in written_files(&example("scenarios/develop-textstats.json"), project.path()) {
        let actual = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(actual, content, "{path}");
    }

    // Tokens and cost are exactly what the CLI reported in its result lines.
    let reported = stack.reported_results();
    assert_eq!(reported.len(), 6, "one result line per agent run");
    let sum = |key: &str| -> u64 { reported.iter().map(|r| r["usage"][key].as_u64().unwrap()).sum() };
    let stages_sum = |f: fn(&ct_domain::StageStatus) -> u64| -> u64 { status.stages.iter().map(f).sum() };
    assert_eq!(stages_sum(|s| s.input_tokens), sum("input_tokens"));
    assert_eq!(stages_sum(|s| s.output_tokens), sum("output_tokens"));
    assert_eq!(stages_sum(|s| s.cache_read_tokens), sum("cache_read_input_tokens"));
    assert_eq!(stages_sum(|s| s.cache_write_tokens), sum("cache_creation_input_tokens"));
    assert_eq!(
        status.total_tokens,
        sum("input_tokens")
            + sum("output_tokens")
            + sum("cache_read_input_tokens")
            + sum("cache_creation_input_tokens")
    );
    let cost: f64 = reported.iter().map(|r| r["total_cost_usd"].as_f64().unwrap()).sum();
    assert!((status.total_cost_usd - cost).abs() < 1e-9, "{} vs {cost}", status.total_cost_usd);

    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-approved", &history);
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_killed_at_the_gate_resumes_without_rerunning_stages() {
    let mut options = StackOptions::new(develop_scenario());
    options.sticky_timeout_secs = 1;
    let mut stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let id = start(&stack, project.path(), &[]);
    awaiting(&stack, &id, "core-implementation");

    stack.kill_worker();
    stack.start_worker();
    let approve = stack.cli(&["approve", &id]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "result: {}\n{}", result.stderr, stack.logs());

    assert_eq!(stage_runs(&stack), STAGES, "no completed stage ran twice");
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert!(status.stages.iter().all(|s| s.state == StageState::Completed));
    stack.replay(&id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_killed_during_an_agent_run_completes_with_its_changes_and_events_once() {
    let mut options = StackOptions::new(develop_scenario());
    options.sticky_timeout_secs = 1;
    let mut stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let project_path = project.path().to_str().unwrap().to_owned();
    let id = start(&stack, project.path(), &[]);

    // SIGKILL the worker while the first stage's agent runs in the project.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ct_e2e::processes_matching(&project_path).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no agent ran\n{}", stack.logs());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stack.kill_worker();
    stack.start_worker();

    awaiting(&stack, &id, "core-implementation");
    assert_eq!(stack.cli(&["approve", &id]).code, 0);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "result: {}\n{}", result.stderr, stack.logs());
    assert_eq!(stage_runs(&stack), STAGES, "each stage's agent ran once: its changes are applied once");
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert!(status.stages.iter().all(|s| s.state == StageState::Completed), "{status:?}");
    assert!(!status.stages[0].files_changed.is_empty(), "the first stage's changes are reported");

    // Every event of the run, once: the stream dedupes by id what a re-run publish resends.
    let watch = stack.cli(&["watch", &id, "--json"]);
    assert_eq!(watch.code, 0, "{}", watch.stderr);
    let events: Vec<serde_json::Value> = watch.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let ids: std::collections::HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "no event twice");
    let of = |kind: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["type"] == format!("dev.claude-temporal.{kind}"))
            .map(|e| e["data"]["stage"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(of("stage.started"), STAGES, "every stage started once");
    assert_eq!(of("stage.completed"), STAGES, "every stage completed once");
    assert_eq!(of("workflow.completed").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn reject_fails_the_workflow_with_the_reason() {
    let stack = Stack::start(StackOptions::new(develop_scenario())).await;
    let project = git_project(&example("textstats"));
    let id = start(&stack, project.path(), &[]);
    awaiting(&stack, &id, "core-implementation");

    // A signal naming a stage that is not awaited is refused and changes nothing.
    let stale = stack.cli(&["approve", &id, "--stage", "streaming"]);
    assert_eq!(stale.code, 2, "{}", stale.stderr);
    assert!(stale.stderr.contains("waiting for approval of `core-implementation`"), "{}", stale.stderr);

    let reject = stack.cli(&["reject", &id, "--reason", "counts are off by one"]);
    assert_eq!(reject.code, 0, "{}", reject.stderr);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "a rejected workflow is not a success: {}", result.stderr);
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(status.state, RunState::Failed);
    let error = status.error.unwrap();
    assert!(error.contains("counts are off by one"), "{error}");
    assert_eq!(status.stages[1].state, StageState::Failed);
    assert_eq!(stage_runs(&stack), ["scaffold", "core-implementation"]);
    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-rejected", &history);
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_timeout_fails_with_a_clear_message() {
    let stack = Stack::start(StackOptions::new(develop_scenario())).await;
    let project = git_project(&example("textstats"));
    let id = start(&stack, project.path(), &["--approval-timeout", "2"]);

    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(status.state, RunState::Failed);
    let error = status.error.unwrap();
    assert!(error.contains("approval of stage `core-implementation` timed out after 2s"), "{error}");
    assert!(result.stderr.contains("timed out"), "{}", result.stderr);
    let late = stack.cli(&["approve", &id]);
    assert_eq!(late.code, 2, "an approval after the timeout is refused: {}", late.stderr);
    assert!(late.stderr.contains("not waiting for approval"), "{}", late.stderr);
    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-approval-timeout", &history);
}

const KNOWN_BUG: &str = "def test_known_bug():\n    assert 1 + 1 == 3\n";
/// Passes until the scaffold stage writes `textstats/stats.py`.
const BROKEN_BY_SCAFFOLD: &str = "from pathlib import Path\n\n\ndef test_no_stats_module_yet():\n    \
    assert not (Path(__file__).parent.parent / 'textstats' / 'stats.py').exists()\n";

/// The demo project with one more test file, committed.
fn project_with_test(file: &str, test: &str) -> tempfile::TempDir {
    let project = git_project(&example("textstats"));
    std::fs::write(project.path().join("tests").join(file), test).unwrap();
    ct_e2e::git(project.path(), &["add", "-A"]);
    ct_e2e::git(project.path(), &["commit", "-q", "-m", "a test"]);
    project
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_that_predate_the_first_stage_are_reported_not_blamed() {
    let stack = Stack::start(StackOptions::new(develop_scenario())).await;

    // A project whose tests already fail: develop completes and says which failures it found.
    let failing = project_with_test("test_known_bug.py", KNOWN_BUG);
    let id = start(&stack, failing.path(), &[]);
    awaiting(&stack, &id, "core-implementation");
    assert_eq!(stack.cli(&["approve", &id]).code, 0);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    let baseline = status.test_baseline.clone().expect("a baseline");
    assert_eq!(baseline.failed, 1, "{baseline:?}");
    assert!(baseline.failing.iter().any(|name| name.contains("test_known_bug")), "{baseline:?}");
    let tested: Vec<&ct_domain::StageStatus> =
        status.stages.iter().filter(|stage| stage.tests_failed.is_some()).collect();
    assert_eq!(tested.len(), 5);
    for stage in tested {
        assert_eq!(stage.state, StageState::Completed, "{stage:?}");
        assert!(stage.preexisting_failures.iter().any(|name| name.contains("test_known_bug")), "{stage:?}");
    }

    // A stage that breaks a test that passed before fails its gate, naming the test.
    let breakable = project_with_test("test_layout.py", BROKEN_BY_SCAFFOLD);
    let id = start(&stack, breakable.path(), &[]);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    let error = status.error.unwrap_or_default();
    assert!(error.contains("stage `scaffold`") && error.contains("test_no_stats_module_yet"), "{error}");
    assert!(error.contains("passed before the first stage"), "{error}");

    // --strict-tests keeps the old rule: any failure fails the stage.
    let strict = project_with_test("test_known_bug.py", KNOWN_BUG);
    let id = start(&stack, strict.path(), &["--strict-tests"]);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(status.test_baseline, None, "strict mode takes no baseline");
    let error = status.error.unwrap_or_default();
    assert!(error.contains("stage `scaffold`") && error.contains("test_known_bug"), "{error}");
}
