//! Snapshots in the develop workflow, end to end: a critical stage whose tests fail is
//! rolled back to its snapshot, a retried agent attempt starts from its stage's snapshot,
//! and `snapshots` / `rollback` work by hand. The user's index, HEAD and branches are the
//! same bytes before and after.

use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, checkout_state, example, files, git, git_project, plant_git_programs, ran};
use ct_scripted_model::Scenario;
use serde_json::json;

fn done(text: &str) -> serde_json::Value {
    json!({ "text": text, "usage": { "input_tokens": 20, "output_tokens": 5 } })
}

fn write(path: &str, content: &str) -> serde_json::Value {
    json!({ "name": "Write", "input": { "file_path": format!("{{cwd}}/{path}"), "content": content } })
}

/// The scaffold stage adds a module (slowly, so the test can try a rollback while it
/// runs); the critical core-implementation stage then adds code with a failing test.
fn failing_core_scenario() -> Scenario {
    Scenario::from_json(
        &json!({ "scripts": [
            { "name": "scaffold", "match": "Stage: scaffold", "turns": [
                { "text": "Adding the module.", "delay_ms": 3000,
                  "tool_uses": [write("textstats/marker.py", "MARKER = 1\n")],
                  "usage": { "input_tokens": 100, "output_tokens": 30 } },
                done("Scaffolded.")
            ]},
            { "name": "core-implementation", "match": "Stage: core-implementation", "turns": [
                { "text": "Implementing, with a test.",
                  "tool_uses": [
                      write("textstats/core.py", "def core():\n    return 1\n"),
                      write("tests/test_core.py", "from textstats.core import core\n\n\ndef test_core_is_two():\n    assert core() == 2\n"),
                      write("README.md", "rewritten by the agent\n")
                  ],
                  "usage": { "input_tokens": 120, "output_tokens": 60 } },
                done("Implemented.")
            ]}
        ]})
        .to_string(),
    )
    .expect("scenario")
}

/// The user's own uncommitted work: a staged edit and an untracked file.
fn add_user_work(project: &std::path::Path) {
    std::fs::write(project.join("README.md"), "the user's staged edit\n").unwrap();
    git(project, &["add", "README.md"]);
    std::fs::write(project.join("NOTES.txt"), "the user's untracked notes\n").unwrap();
}

/// The scaffold stage's agent takes `turns`; every other stage's does nothing.
fn scaffold_only(turns: serde_json::Value) -> Scenario {
    let scripts = json!({ "scripts": [
        { "name": "scaffold", "match": "Stage: scaffold", "turns": turns },
        { "name": "other stages", "turns": [done("Nothing to do.")] }
    ]});
    Scenario::from_json(&scripts.to_string()).expect("scenario")
}

/// Waits for workflow `id` to reach the approval gate after core-implementation (or its end).
fn at_core_gate(stack: &Stack, id: &str) -> WorkflowStatus {
    stack.wait_for_status(id, "the gate after core-implementation", |s| {
        s.awaiting_approval.as_deref() == Some("core-implementation") || s.state.is_final()
    })
}

fn start(stack: &Stack, project: &std::path::Path) -> String {
    let out = stack.cli(&["start", project.to_str().unwrap(), "--features", "counts", "--json"]);
    assert_eq!(out.code, 0, "start failed: {}", out.stderr);
    out.json()["workflow_id"].as_str().expect("workflow_id").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_critical_stage_with_failing_tests_is_rolled_back_to_its_snapshot() {
    let stack = Stack::start(StackOptions::new(failing_core_scenario())).await;
    let project = git_project(&example("textstats"));
    add_user_work(project.path());
    let checkout_before = checkout_state(project.path());
    let id = start(&stack, project.path());

    // While a stage runs, a rollback by hand is refused.
    stack.wait_for_status(&id, "scaffold running", |s| s.current_stage.as_deref() == Some("scaffold"));
    let refused = stack.cli(&["rollback", &id]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("is running stage `scaffold`"), "{}", refused.stderr);

    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "{}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(status.state, RunState::Failed);
    assert_eq!(status.stages[0].state, StageState::Completed);
    assert_eq!(status.stages[1].state, StageState::Failed);
    assert_eq!(status.stages[1].tests_failed, Some(1));
    let error = status.error.clone().unwrap();
    assert!(error.contains("test_core_is_two"), "{error}");
    assert!(error.contains("rolled back to snapshot 2 (taken before `core-implementation`"), "{error}");
    assert_eq!(
        status.snapshots,
        [
            format!("1:scaffold:refs/claude-temporal/snapshots/{id}/1"),
            format!("2:core-implementation:refs/claude-temporal/snapshots/{id}/2")
        ]
    );

    // The tree is as the scaffold stage left it: its module is there, core's files are
    // gone, and the README is the user's staged edit again.
    let tree = files(project.path());
    assert_eq!(tree["textstats/marker.py"], b"MARKER = 1\n");
    assert!(!tree.contains_key("textstats/core.py") && !tree.contains_key("tests/test_core.py"), "{:?}", tree.keys());
    assert_eq!(tree["README.md"], b"the user's staged edit\n");
    assert_eq!(tree["NOTES.txt"], b"the user's untracked notes\n");
    assert_eq!(checkout_state(project.path()), checkout_before, "index, HEAD and branches untouched");

    let listed = stack.cli(&["snapshots", &id, "--json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let listed = listed.json();
    let stages: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["scaffold", "core-implementation"]);
    let files_of_second: Vec<&str> =
        listed[1]["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(files_of_second.contains(&"textstats/marker.py"), "{files_of_second:?}");
    let table = stack.cli(&["snapshots", &id]);
    assert!(table.stdout.contains("core-implementation") && table.stdout.contains("BEFORE STAGE"), "{}", table.stdout);

    // By hand, back to before the scaffold stage: its module goes, the user's work stays.
    let rollback = stack.cli(&["rollback", &id, "1"]);
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    assert!(rollback.stdout.contains("restored snapshot 1 (before `scaffold`"), "{}", rollback.stdout);
    let tree = files(project.path());
    assert!(!tree.contains_key("textstats/marker.py"));
    assert_eq!(tree["NOTES.txt"], b"the user's untracked notes\n");
    assert_eq!(checkout_state(project.path()), checkout_before);
    let missing = stack.cli(&["rollback", &id, "7"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("has no snapshot 7; it has 1, 2"), "{}", missing.stderr);

    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-rolled-back", &history);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_agent_attempt_starts_from_the_stage_snapshot() {
    // Attempt 1 looks for a leftover, writes a file, then hits a 529; the executor's CLI does
    // not retry (CLAUDE_CODE_MAX_RETRIES=0), so the activity fails and Temporal retries it.
    let probe = "test -e {cwd}/half-done.txt && echo LEFTOVER-PRESENT || echo LEFTOVER-ABSENT";
    let scenario = scaffold_only(json!([
        { "text": "Checking for leftovers.",
          "tool_uses": [{ "name": "Bash", "input": { "command": probe, "description": "look for leftovers" } }],
          "usage": { "input_tokens": 10, "output_tokens": 5 } },
        { "text": "Writing.", "tool_uses": [write("half-done.txt", "written by an attempt\n")],
          "usage": { "input_tokens": 10, "output_tokens": 5 } },
        { "text": "Done.", "fail_first": { "status": 529, "times": 1 },
          "usage": { "input_tokens": 10, "output_tokens": 5 } }
    ]));
    let stack = Stack::start(StackOptions::new(scenario)).await;
    let project = git_project(&example("textstats"));
    let id = start(&stack, project.path());

    let gate = at_core_gate(&stack, &id);
    assert_eq!(gate.stages[0].state, StageState::Completed, "{gate:?}\n{}", stack.logs());
    assert_eq!(gate.stages[0].attempts, 2, "the stage's agent ran twice");
    let probes: Vec<String> = stack
        .model
        .requests()
        .into_iter()
        .filter(|r| r.script.as_deref() == Some("scaffold") && r.turn == 1)
        .map(|r| r.last_user_text)
        .collect();
    assert_eq!(probes.len(), 2, "one probe per attempt: {probes:?}");
    for probe in &probes {
        assert!(probe.contains("LEFTOVER-ABSENT") && !probe.contains("LEFTOVER-PRESENT"), "{probe}");
    }
    assert!(project.path().join("half-done.txt").exists(), "the second attempt's own write stays");

    let reject = stack.cli(&["reject", &id, "--reason", "enough"]);
    assert_eq!(reject.code, 0, "{}", reject.stderr);
    stack.wait_for_status(&id, "the end after the rejection", |s| s.state == RunState::Failed);
    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-retried-from-snapshot", &history);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_critical_stage_whose_agent_keeps_failing_is_rolled_back_to_the_snapshot_its_run_took() {
    keeps_failing_and_is_rolled_back(false).await;
}

/// The same run on a repository where every program git runs on its own was planted first:
/// the snapshots, change counts, checkpoints, retries and the rollback run none of them, and
/// the outcome is the same.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_retries_and_rollbacks_run_nothing_planted_in_the_repository() {
    keeps_failing_and_is_rolled_back(true).await;
}

async fn keeps_failing_and_is_rolled_back(planted: bool) {
    // Every attempt of core-implementation writes a file, then the model answers 529: the
    // run fails after its last attempt, and the snapshot its first attempt took is put back.
    let scenario = Scenario::from_json(
        &json!({ "scripts": [
            { "name": "scaffold", "match": "Stage: scaffold", "turns": [
                { "text": "Adding the module.", "tool_uses": [write("textstats/marker.py", "MARKER = 1\n")],
                  "usage": { "input_tokens": 10, "output_tokens": 5 } },
                done("Scaffolded.")
            ]},
            { "name": "core-implementation", "match": "Stage: core-implementation", "turns": [
                { "text": "Writing.", "tool_uses": [write("half-done.txt", "written by a failing attempt\n")],
                  "usage": { "input_tokens": 10, "output_tokens": 5 } },
                { "text": "Done.", "fail_first": { "status": 529, "times": 100 },
                  "usage": { "input_tokens": 10, "output_tokens": 5 } }
            ]},
            { "name": "other stages", "turns": [done("Nothing to do.")] }
        ]})
        .to_string(),
    )
    .expect("scenario");
    let stack = Stack::start(StackOptions::new(scenario)).await;
    let project = git_project(&example("textstats"));
    add_user_work(project.path());
    let witness = planted.then(|| plant_git_programs(project.path()));
    let checkout_before = checkout_state(project.path());
    let id = start(&stack, project.path());

    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "{}\n{}", result.stderr, stack.logs());
    if let Some(witness) = &witness {
        assert_eq!(ran(witness.path()), Vec::<String>::new(), "a planted program ran");
        assert_eq!(files(project.path())[".gitattributes"], b"* filter=planted diff=planted\n");
    }
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(status.stages[1].state, StageState::Failed, "{status:?}");
    assert_eq!(status.stages[1].attempts, 3, "{status:?}");
    let error = status.error.clone().unwrap();
    assert!(error.contains("rolled back to snapshot 2 (taken before `core-implementation`"), "{error}");
    let tree = files(project.path());
    assert_eq!(tree["textstats/marker.py"], b"MARKER = 1\n", "the scaffold stage's work stays");
    assert!(!tree.contains_key("half-done.txt"), "the failed attempts' edits are gone: {:?}", tree.keys());
    assert_eq!(tree["README.md"], b"the user's staged edit\n");
    assert_eq!(tree["NOTES.txt"], b"the user's untracked notes\n");
    assert_eq!(checkout_state(project.path()), checkout_before, "index, HEAD and branches untouched");
    let listed = stack.cli(&["snapshots", &id, "--json"]).json();
    let numbers: Vec<u64> = listed.as_array().unwrap().iter().map(|s| s["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2], "{listed}");
}

/// A stage that generates more files than a report lists still completes; the status, the
/// snapshot after it and the CLI list the first ones and say there were more.
#[tokio::test(flavor = "multi_thread")]
async fn a_stage_that_changes_thousands_of_files_reports_the_first_ones_and_says_so() {
    let listed = ct_domain::capped::MAX_LISTED_PATHS;
    let generate = format!(
        "mkdir -p {{cwd}}/generated && cd {{cwd}}/generated && for n in $(seq 1 {}); do echo $n > f$n.txt; done",
        listed + 200
    );
    let scenario = scaffold_only(json!([
        { "text": "Generating.",
          "tool_uses": [{ "name": "Bash", "input": { "command": generate, "description": "generate" } }],
          "usage": { "input_tokens": 10, "output_tokens": 5 } },
        done("Generated.")
    ]));
    let stack = Stack::start(StackOptions::new(scenario)).await;
    let project = git_project(&example("textstats"));
    let id = start(&stack, project.path());

    let gate = at_core_gate(&stack, &id);
    let scaffold = &gate.stages[0];
    assert_eq!(scaffold.state, StageState::Completed, "{gate:?}\n{}", stack.logs());
    assert_eq!((scaffold.files_changed.len(), scaffold.files_truncated), (listed, true));
    assert_eq!(std::fs::read_dir(project.path().join("generated")).unwrap().count(), listed + 200);
    let shown = stack.cli(&["snapshots", &id]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains(&format!("over {listed}: ")), "the snapshot after scaffold: {}", shown.stdout);

    let reject = stack.cli(&["reject", &id, "--reason", "enough"]);
    assert_eq!(reject.code, 0, "{}", reject.stderr);
    stack.wait_for_status(&id, "the end after the rejection", |s| s.state == RunState::Failed);
}
