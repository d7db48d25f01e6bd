//! A fleet upgraded while workflows run: each workflow runs to its end on the build that
//! started it, with that build's executors, though the builds' workflow code and agent-run
//! contract differ; new workflows go to the build made current; the old build's processes stop
//! once it has drained; a rollback strands nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use ct_domain::{RunState, WorkflowStatus};
use ct_e2e::{Binaries, Stack, StackOptions, example, git_project};
use ct_scripted_model::Scenario;

/// Two stages with a gate between them: a workflow waits there until the test lets it go on.
const GATED: &str = r#"
name = "gated"

[[stages]]
name = "build"
prompt = "Stage: build\nFeature: {features}"
requires_approval = true

[[stages]]
name = "finish"
prompt = "Stage: finish\nFeature: {features}"
"#;

/// The build's agent takes a second and a half over its first response, so a workflow started
/// just before an upgrade is mid-run while it happens.
fn scenario() -> Scenario {
    let stage = |name: &str, file: &str, delay_ms: u64| {
        serde_json::json!({
            "name": name,
            "match": format!("Stage: {name}"),
            "turns": [
                {
                    "tool_uses": [{ "name": "Write", "input": { "file_path": format!("{{cwd}}/{file}"), "content": "done\n" } }],
                    "usage": { "input_tokens": 10, "output_tokens": 5 },
                    "delay_ms": delay_ms
                },
                { "text": "Done.", "usage": { "input_tokens": 12, "output_tokens": 3 } }
            ]
        })
    };
    let scripts =
        serde_json::json!({ "scripts": [stage("build", "built.txt", 1500), stage("finish", "finished.txt", 0)] });
    Scenario::from_json(&scripts.to_string()).expect("scenario")
}

fn start(stack: &Stack, project: &Path, stages: &str) -> String {
    let out = stack.cli(&["start", project.to_str().unwrap(), "--stages", stages, "--features", "upgrade", "--json"]);
    assert_eq!(out.code, 0, "start: {}", out.stderr);
    out.json()["workflow_id"].as_str().unwrap().to_owned()
}

fn at_gate(stack: &Stack, id: &str) -> WorkflowStatus {
    stack.wait_for_status(id, "the gate after `build`", |s| s.awaiting_approval.is_some() || s.state.is_final())
}

/// Makes `build` current, as an operator would once its processes poll (Temporal refuses until
/// all of them do).
fn promote(stack: &Stack, build: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let promoted = stack.cli(&["fleet", "promote", build]);
        if promoted.code == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "cannot promote {build}: {}\n{}", promoted.stderr, stack.logs());
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Approves workflow `id`'s gate and waits for its end: it must complete, on build `build`, with
/// every agent run on an executor of that build.
fn finishes_on(stack: &Stack, id: &str, build: &str) {
    at_gate(stack, id);
    let approved = stack.cli(&["approve", id]);
    assert_eq!(approved.code, 0, "approve {id}: {}", approved.stderr);
    let result = stack.cli(&["result", id, "--json"]);
    let status: WorkflowStatus = serde_json::from_value(result.json()).expect("status");
    assert_eq!(status.state, RunState::Completed, "{id}: {status:?}\n{}", stack.logs());
    assert_eq!(status.build.as_deref(), Some(build), "{id} ran on another build: {status:?}");
    for stage in &status.stages {
        assert_eq!(stage.executor_build.as_deref(), Some(build), "{id}: stage {} ran elsewhere: {stage:?}", stage.name);
        assert_eq!(
            stage.test_runner_build.as_deref(),
            Some(build),
            "{id}: {}'s tests ran elsewhere: {stage:?}",
            stage.name
        );
    }
    let shown = stack.cli(&["status", id]);
    assert!(shown.stdout.contains(&format!("build     {build}\n")), "{}", shown.stdout);
}

/// Build A is the workspace's; build B is the upgrade rehearsal's (`cargo xtask test` builds
/// it): its workflow code adds a patch whose timer A's code never starts, and its agent runs
/// carry an input B's executors require. A workflow goes on only on its own build's processes.
#[tokio::test(flavor = "multi_thread")]
async fn workflows_finish_on_the_build_that_started_them_through_an_upgrade_and_a_rollback() {
    let mut options = StackOptions::new(scenario());
    options.env.push(("CT_BUILD_ID".to_owned(), "a".to_owned()));
    let mut stack = Stack::start(options).await;
    let stages = stack.dir.path().join("gated.toml");
    std::fs::write(&stages, GATED).unwrap();
    let stages = stages.to_str().unwrap().to_owned();
    let projects: Vec<_> = (0..5).map(|_| git_project(&example("textstats"))).collect();

    // Build A is the fleet's first: it became current on its own. One workflow waits at its
    // gate, another is in its agent run when build B arrives and is made current.
    let waiting = start(&stack, projects[0].path(), &stages);
    at_gate(&stack, &waiting);
    let running = start(&stack, projects[1].path(), &stages);
    stack.wait_for_status(&running, "the agent run", |s| s.stages[0].executor_id.is_some());
    let b = stack.start_build("b", Binaries::UpgradeRehearsal);
    promote(&stack, "b");
    let fleet = stack.cli(&["fleet"]);
    assert!(fleet.stdout.contains("new workflows start on b"), "{}{}", fleet.stdout, fleet.stderr);

    let on_b = start(&stack, projects[2].path(), &stages);
    finishes_on(&stack, &waiting, "a");
    finishes_on(&stack, &running, "a");
    finishes_on(&stack, &on_b, "b");
    // B's workflow code really differs: its history does not replay against A's (this test's).
    let history = temporalio_client::WorkflowHistory::from_json(&stack.history(&on_b).await).unwrap();
    let replayed = ct_e2e::replayer().replay_workflow(history).await;
    assert!(replayed.is_err(), "a history of build B replays against build A's code");

    // A has drained: its processes stop, and B's workflows go on without them.
    stack.take_own_build().stop();
    let started_on_b = start(&stack, projects[3].path(), &stages);
    at_gate(&stack, &started_on_b);

    // Rolled back: A's processes again, made current. New workflows start on A; the one B
    // started (at its gate meanwhile) finishes on B.
    let a = stack.start_build("a", Binaries::Built);
    promote(&stack, "a");
    let after_rollback = start(&stack, projects[4].path(), &stages);
    finishes_on(&stack, &after_rollback, "a");
    finishes_on(&stack, &started_on_b, "b");

    let fleet = stack.cli(&["fleet", "--json"]);
    assert_eq!(fleet.code, 0, "{}", fleet.stderr);
    let builds = &fleet.json()["builds"];
    assert_eq!(builds["current"], "a", "{builds}");
    let statuses: Vec<(&str, &str)> = builds["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["build_id"].as_str().unwrap(), v["status"].as_str().unwrap()))
        .collect();
    assert!(statuses.contains(&("a", "current")), "{statuses:?}");
    assert!(statuses.iter().any(|(id, status)| *id == "b" && ["draining", "drained"].contains(status)), "{statuses:?}");
    for log in std::fs::read_dir(stack.dir.path()).unwrap().map(|entry| entry.unwrap().path()) {
        if log.file_name().unwrap().to_string_lossy().starts_with("worker")
            && log.extension().is_some_and(|e| e == "log")
        {
            let text = std::fs::read_to_string(&log).unwrap().to_lowercase();
            assert!(!text.contains("nondetermin"), "{} met a history of another build", log.display());
        }
    }
    b.stop();
    a.stop();
}
