//! The iterate workflow end to end: each iteration's prompt carries the previous run's
//! failing tests, the loop stops when the tests pass or an iteration changes nothing, and
//! the work tree ends with the best iteration's result.

use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, checkout_state, example, files, git_project, plant_git_programs, ran};
use ct_scripted_model::Scenario;
use serde_json::{Value, json};

const WRONG: &str = "def count_words(text):\n    return 1\n";
const RIGHT: &str = "def count_words(text):\n    return len(text.split())\n";
const TEST: &str = "from textstats.words import count_words\n\n\ndef test_count_words_counts_every_word():\n    assert count_words('one two three') == 3\n";
const SECOND_TEST: &str = "from textstats.words import count_words\n\n\ndef test_count_words_of_nothing():\n    assert count_words('') == 0\n";

fn write(path: &str, content: &str) -> Value {
    json!({ "name": "Write", "input": { "file_path": format!("{{cwd}}/{path}"), "content": content } })
}

fn iteration(n: u32, tool_uses: Vec<Value>) -> Value {
    let mut turns = Vec::new();
    if !tool_uses.is_empty() {
        turns.push(json!({ "text": format!("Attempt {n}."), "tool_uses": tool_uses,
                           "usage": { "input_tokens": 100 * n, "output_tokens": 40 } }));
    }
    turns.push(json!({ "text": "Done.", "usage": { "input_tokens": 10, "output_tokens": 5 } }));
    json!({ "name": format!("iteration-{n}"), "match": format!("Iteration: {n}\n"), "turns": turns })
}

fn scenario(iterations: Vec<Value>) -> Scenario {
    Scenario::from_json(&json!({ "scripts": iterations }).to_string()).expect("scenario")
}

fn iterate(stack: &Stack, project: &std::path::Path, max: &str) -> (String, i32, WorkflowStatus) {
    let project = project.to_str().unwrap();
    let started = stack.cli(&[
        "iterate",
        project,
        "Add textstats.words.count_words",
        "--max-iterations",
        max,
        "--backoff",
        "1",
        "--max-backoff",
        "1",
        "--json",
    ]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.json()["workflow_id"].as_str().unwrap().to_owned();
    let result = stack.cli(&["result", &id, "--json"]);
    let status = serde_json::from_value(result.json()).unwrap();
    (id, result.code, status)
}

fn first_prompt_of(stack: &Stack, script: &str) -> Option<String> {
    stack
        .model
        .requests()
        .into_iter()
        .find(|r| r.script.as_deref() == Some(script) && r.turn == 0)
        .map(|r| r.first_user_text)
}

#[tokio::test(flavor = "multi_thread")]
async fn iterate_converges_on_the_second_iteration_with_the_first_failure_in_its_prompt() {
    converges_on_the_second_iteration(false).await;
}

/// The same on a repository where every program git runs on its own was planted first.
#[tokio::test(flavor = "multi_thread")]
async fn iterate_runs_nothing_planted_in_the_repository() {
    converges_on_the_second_iteration(true).await;
}

async fn converges_on_the_second_iteration(planted: bool) {
    let stack = Stack::start(StackOptions::new(scenario(vec![
        iteration(1, vec![write("textstats/words.py", WRONG), write("tests/test_words.py", TEST)]),
        iteration(2, vec![write("textstats/words.py", RIGHT)]),
    ])))
    .await;
    let project = git_project(&example("textstats"));
    let witness = planted.then(|| plant_git_programs(project.path()));
    let checkout_before = checkout_state(project.path());
    let (id, code, status) = iterate(&stack, project.path(), "4");

    assert_eq!(code, 0, "{status:?}\n{}", stack.logs());
    if let Some(witness) = &witness {
        assert_eq!(ran(witness.path()), Vec::<String>::new(), "a planted program ran");
    }
    assert_eq!(status.state, RunState::Completed);
    let names: Vec<&str> = status.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["iteration-1", "iteration-2"]);
    assert_eq!((status.stages[0].tests_failed, status.stages[0].state), (Some(1), StageState::Failed));
    assert_eq!((status.stages[1].tests_failed, status.stages[1].state), (Some(0), StageState::Completed));
    let progress = status.iteration.clone().unwrap();
    assert_eq!((progress.current, progress.max, progress.best), (2, 4, Some(2)));
    assert_eq!(progress.stop_reason.as_deref(), Some("tests pass after iteration 2"));
    assert_eq!(status.snapshots.len(), 2);
    assert!(status.total_cost_usd > 0.0);

    let first = first_prompt_of(&stack, "iteration-1").unwrap();
    assert!(first.contains("Add textstats.words.count_words"), "{first}");
    let second = first_prompt_of(&stack, "iteration-2").expect("a second iteration ran");
    assert!(second.contains("Iteration: 2\n"), "{second}");
    assert!(second.contains("test_count_words_counts_every_word"), "the failing test's name: {second}");
    assert!(second.contains("assert 1 == 3"), "the failure's output: {second}");
    assert!(first_prompt_of(&stack, "iteration-3").is_none(), "green stops the loop");

    assert_eq!(files(project.path())["textstats/words.py"], RIGHT.as_bytes());
    assert_eq!(checkout_state(project.path()), checkout_before);
    let shown = stack.cli(&["status", &id]);
    assert!(shown.stdout.contains("iteration 2 of 4, best so far: 2"), "{}", shown.stdout);

    // The same events as a develop run, one stage per iteration.
    let counts = stack.event_counts(&id);
    let expected = [
        ("workflow.started", 1),
        ("stage.started", 2),
        ("snapshot.created", 2),
        ("cost.updated", 2),
        ("tests.completed", 2),
        ("stage.failed", 1),
        ("stage.completed", 1),
        ("workflow.completed", 1),
    ];
    for (kind, n) in expected {
        assert_eq!(counts.get(kind).copied().unwrap_or(0), n, "{kind} in {counts:?}");
    }

    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("iterate-converged", &history);
}

#[tokio::test(flavor = "multi_thread")]
async fn iterate_stops_when_nothing_changes_and_keeps_the_best_iteration() {
    let stack = Stack::start(StackOptions::new(scenario(vec![
        // One failing test.
        iteration(1, vec![write("textstats/words.py", WRONG), write("tests/test_words.py", TEST)]),
        // Worse: the old failure stays and a second test fails too.
        iteration(
            2,
            vec![
                write("textstats/words.py", "def count_words(text):\n    return -1\n"),
                write("tests/test_nothing.py", SECOND_TEST),
            ],
        ),
        // No change at all.
        iteration(3, vec![]),
    ])))
    .await;
    let project = git_project(&example("textstats"));
    let (id, code, status) = iterate(&stack, project.path(), "5");

    assert_eq!(code, 1, "{status:?}");
    assert_eq!(status.state, RunState::Failed);
    assert_eq!(status.stages.len(), 3, "{status:?}");
    assert_eq!(status.stages[1].tests_failed, Some(2));
    assert!(status.stages[2].files_changed.is_empty());
    let error = status.error.unwrap();
    assert!(error.contains("iteration 3 changed nothing"), "{error}");
    assert!(error.contains("kept iteration 1 (1 failing test(s))"), "{error}");
    assert_eq!(status.iteration.unwrap().best, Some(1));
    assert!(first_prompt_of(&stack, "iteration-4").is_none());

    // Iteration 1's result is back: its code, and not iteration 2's extra test.
    let tree = files(project.path());
    assert_eq!(tree["textstats/words.py"], WRONG.as_bytes());
    assert!(tree.contains_key("tests/test_words.py"));
    assert!(!tree.contains_key("tests/test_nothing.py"), "{:?}", tree.keys());

    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("iterate-kept-best", &history);
}

/// Iterations in the long-loop test, and the history length at which the dev server suggests
/// continue-as-new there (Temporal's default is 4 Ki events; lowered so that the loop
/// continues several times).
const LONG_LOOP: u32 = 300;
const SUGGEST_CONTINUE_AFTER_EVENTS: u32 = 1000;

/// A loop of many tiny iterations continues as new runs whenever Temporal suggests it, and
/// reads as one workflow: every iteration once, its status whole, one start and one end.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_loop_continues_as_new_runs_with_its_status_intact() {
    let failing_until_done = "from pathlib import Path\n\n\ndef test_progress_is_done():\n    \
         assert (Path(__file__).parent.parent / 'progress.txt').read_text() == 'done'\n";
    let iterations = (1..=LONG_LOOP)
        .map(|n| {
            let mut writes =
                vec![write("progress.txt", &if n == LONG_LOOP { "done".to_owned() } else { n.to_string() })];
            if n == 1 {
                writes.push(write("tests/test_progress.py", failing_until_done));
            }
            iteration(n, writes)
        })
        .collect();
    let mut options = StackOptions::new(scenario(iterations));
    options.temporal_config.push(format!("limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AFTER_EVENTS}"));
    let stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let started = std::time::Instant::now();
    let started_cli = stack.cli(&[
        "iterate",
        project.path().to_str().unwrap(),
        "Make progress",
        "--max-iterations",
        &LONG_LOOP.to_string(),
        "--backoff",
        "0",
        "--json",
    ]);
    assert_eq!(started_cli.code, 0, "{}", started_cli.stderr);
    let id = started_cli.json()["workflow_id"].as_str().unwrap().to_owned();
    let result = stack.cli(&["result", &id, "--json"]);
    eprintln!("{LONG_LOOP} iterations in {:.0?}", started.elapsed());
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();

    assert_eq!(status.state, RunState::Completed);
    assert_eq!(status.stages.len(), LONG_LOOP as usize);
    for (n, stage) in (1..).zip(&status.stages) {
        assert_eq!(stage.name, format!("iteration-{n}"));
        let failing = if n == LONG_LOOP { 0 } else { 1 };
        assert_eq!(stage.tests_failed, Some(failing), "{stage:?}");
        assert!(stage.cost_usd > 0.0, "{stage:?}");
    }
    let progress = status.iteration.clone().unwrap();
    assert_eq!((progress.current, progress.max, progress.best), (LONG_LOOP, LONG_LOOP, Some(LONG_LOOP)));
    assert!(progress.continued >= 2, "the loop continued as new runs: {progress:?}");
    assert_eq!(status.snapshots.len(), LONG_LOOP as usize);
    let summed: f64 = status.stages.iter().map(|s| s.cost_usd).sum();
    assert!((status.total_cost_usd - summed).abs() < 1e-9, "{} vs {summed}", status.total_cost_usd);
    assert_eq!(files(project.path())["progress.txt"], b"done");

    // Every iteration ran once, each after the one before told it what failed, across runs.
    let firsts: Vec<_> = stack.model.requests().into_iter().filter(|r| r.turn == 0).collect();
    assert_eq!(firsts.len(), LONG_LOOP as usize, "one agent run per iteration");
    for n in 2..=LONG_LOOP {
        let prompt = first_prompt_of(&stack, &format!("iteration-{n}")).expect("every iteration ran");
        assert!(prompt.contains(&format!("(number {})", n - 1)), "iteration {n}: {prompt}");
        assert!(prompt.contains("test_progress_is_done"), "iteration {n}: {prompt}");
    }
    // One workflow to whoever watches: one start, one end, a stage per iteration.
    let counts = stack.event_counts(&id);
    for (kind, n) in [("workflow.started", 1), ("stage.started", LONG_LOOP), ("workflow.completed", 1)] {
        assert_eq!(counts.get(kind).copied().unwrap_or(0), n as usize, "{kind} in {counts:?}");
    }
    let shown = stack.cli(&["status", &id]);
    let runs = format!(
        "iteration {LONG_LOOP} of {LONG_LOOP}, best so far: {LONG_LOOP} (in {} Temporal runs",
        progress.continued + 1
    );
    assert!(shown.stdout.contains(&runs), "{}", shown.stdout);
    eprintln!("{LONG_LOOP} iterations in {} runs", progress.continued + 1);
}

/// Git work has slots of its own on an executor: with its one agent slot busy for a long run,
/// another workflow's snapshot is taken at once, and only its agent run waits.
#[tokio::test(flavor = "multi_thread")]
async fn git_work_does_not_wait_behind_a_busy_executors_agent_runs() {
    let scenario = Scenario::from_json(
        &json!({ "scripts": [
            { "name": "slow", "match": "slow issue", "turns": [
                { "text": "Working slowly.", "delay_ms": 20000, "usage": { "input_tokens": 10, "output_tokens": 5 } }
            ]},
            { "name": "quick", "match": "quick issue", "turns": [
                { "text": "Done.", "usage": { "input_tokens": 10, "output_tokens": 5 } }
            ]}
        ]})
        .to_string(),
    )
    .expect("scenario");
    let stack = Stack::start(StackOptions { executor_capacity: 1, ..StackOptions::new(scenario) }).await;
    let (slow_project, quick_project) = (git_project(&example("textstats")), git_project(&example("textstats")));
    let start = |project: &std::path::Path, issue: &str| {
        let out = stack.cli(&["iterate", project.to_str().unwrap(), issue, "--max-iterations", "1", "--json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()["workflow_id"].as_str().unwrap().to_owned()
    };
    let slow = start(slow_project.path(), "slow issue");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !stack.model.requests().iter().any(|r| r.script.as_deref() == Some("slow")) {
        assert!(std::time::Instant::now() < deadline, "the slow run never reached the model\n{}", stack.logs());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let quick = start(quick_project.path(), "quick issue");
    let snapshotted = stack.wait_for_status(&quick, "the quick workflow's first snapshot", |s| {
        !s.snapshots.is_empty() || s.state.is_final()
    });
    assert_eq!(snapshotted.snapshots.len(), 1, "{snapshotted:?}");
    let busy = stack.cli(&["status", &slow, "--json"]).json();
    assert_eq!(busy["stages"][0]["state"], "running", "the slow agent still holds the only agent slot: {busy}");
    assert!(
        !stack.model.requests().iter().any(|r| r.script.as_deref() == Some("quick")),
        "the quick workflow's agent run waits for the slot"
    );
    for id in [&slow, &quick] {
        let cancelled = stack.cli(&["cancel", id]);
        assert_eq!(cancelled.code, 0, "{}", cancelled.stderr);
    }
}
