//! Executors and test-runners as Temporal workers: work waits in the queue instead of being
//! refused, spreads over every executor, survives an executor's crash, and an executor that
//! loses Temporal stops its own agent before anyone else may take the attempt.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use ct_domain::spend::AttemptOutcome;
use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, example, git_project, processes_matching};
use ct_scripted_model::Scenario;

/// One stage whose prompt names the workflow's feature, so each model request tells which
/// workflow it belongs to.
const ONE_STAGE: &str = r#"
name = "one-stage"

[[stages]]
name = "build"
prompt = "Stage: build\nFeature: {features}"
"#;

/// Each run waits two seconds for the model, so runs are bound by slots more than by CPU.
fn steady_scenario() -> Scenario {
    Scenario::from_json(
        &serde_json::json!({
            "scripts": [{
                "name": "build",
                "match": "Stage: build",
                "turns": [
                    {
                        "tool_uses": [{ "name": "Write", "input": { "file_path": "{cwd}/built.txt", "content": "built\n" } }],
                        "usage": { "input_tokens": 10, "output_tokens": 5 },
                        "delay_ms": 2000
                    },
                    { "text": "Built.", "usage": { "input_tokens": 12, "output_tokens": 3 } }
                ]
            }]
        })
        .to_string(),
    )
    .expect("scenario")
}

/// The first attempt leaves a half-done file and then hangs (until it is killed); any later
/// attempt finds the count outside the project and goes on to write the real result.
fn hangs_once_scenario() -> Scenario {
    hanging_scenario(1)
}

/// The first `times` attempts each leave a half-done file and hang until they are killed.
fn hanging_scenario(times: u32) -> Scenario {
    // The count lives beside the project, where restoring the stage's snapshot leaves it alone.
    let counters = counters().display();
    let command = format!(
        "c={counters}/$(basename {{cwd}}); n=$(cat $c 2>/dev/null || echo 0); n=$((n+1)); echo $n > $c; \
         if [ $n -le {times} ]; then echo half > {{cwd}}/half-done.txt; timeout 4343 tail -f /dev/null $c; else echo again; fi"
    );
    Scenario::from_json(
        &serde_json::json!({
            "scripts": [{
                "name": "build",
                "match": "Stage: build",
                "turns": [
                    {
                        "tool_uses": [{ "name": "Bash", "input": { "command": command, "description": "set up" } }],
                        "usage": { "input_tokens": 10, "output_tokens": 5 }
                    },
                    {
                        "tool_uses": [{ "name": "Write", "input": { "file_path": "{cwd}/built.txt", "content": "built\n" } }],
                        "usage": { "input_tokens": 10, "output_tokens": 5 }
                    },
                    { "text": "Built.", "usage": { "input_tokens": 12, "output_tokens": 3 } }
                ]
            }]
        })
        .to_string(),
    )
    .expect("scenario")
}

/// The command line of the hanging process of an agent working in `project`: tests run at
/// once, so each looks only for its own project's.
fn hanging(project: &std::path::Path) -> String {
    format!("timeout 4343 tail -f /dev/null {}", counter(project).display())
}

/// Where hanging agents count their attempts: outside their projects, so no snapshot restores
/// it, and writable for them (`CT_SANDBOX_WRITABLE`, given by [`hanging_options`]).
fn counters() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::Builder::new().prefix("ct-e2e-counters-").tempdir().expect("a temp dir")).path()
}

fn counter(project: &Path) -> std::path::PathBuf {
    counters().join(project.file_name().expect("a project dir"))
}

/// A stack whose agents may write their attempt counters.
fn hanging_options(scenario: Scenario) -> StackOptions {
    let mut options = StackOptions::new(scenario);
    options.env.push(("CT_SANDBOX_WRITABLE".to_owned(), counters().display().to_string()));
    options
}

fn stages_file(stack: &Stack) -> String {
    let path = stack.dir.path().join("stages.toml");
    std::fs::write(&path, ONE_STAGE).unwrap();
    path.to_str().unwrap().to_owned()
}

fn start(stack: &Stack, project: &Path, stages: &str, feature: &str) -> String {
    let out = stack.cli(&["start", project.to_str().unwrap(), "--stages", stages, "--features", feature, "--json"]);
    assert_eq!(out.code, 0, "start: {}", out.stderr);
    out.json()["workflow_id"].as_str().unwrap().to_owned()
}

fn status(stack: &Stack, id: &str) -> Option<WorkflowStatus> {
    let out = stack.cli(&["status", id, "--json"]);
    (out.code == 0).then(|| serde_json::from_str(&out.stdout).expect("status JSON"))
}

struct Burst {
    wall: Duration,
    /// Most agent runs that were in their first (two-second) model turn at the same moment.
    peak_runs: usize,
    executors_used: BTreeSet<String>,
    saw_queued_stage: bool,
    saw_queued_count: bool,
}

/// Starts `n` one-stage workflows at once and waits until all are done; every one must
/// complete on its first attempt, with exactly one agent run per workflow reaching the model.
fn burst(stack: &Stack, n: usize) -> Burst {
    let stages = stages_file(stack);
    let projects: Vec<_> = (0..n).map(|_| git_project(&example("textstats"))).collect();
    let began = Instant::now();
    let ids: Vec<String> =
        projects.iter().enumerate().map(|(i, p)| start(stack, p.path(), &stages, &format!("feature-{i}"))).collect();
    let mut saw_queued_stage = false;
    let mut saw_queued_count = false;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        // The last workflows started wait longest; while they do, status says so.
        for id in ids.iter().rev().take(3) {
            if !saw_queued_stage && let Some(last) = status(stack, id) {
                saw_queued_stage =
                    last.stages.first().is_some_and(|s| s.state == StageState::Queued && s.queued_ms.is_some());
            }
        }
        let list = stack.cli(&["list", "--limit", "100", "--json"]);
        assert_eq!(list.code, 0, "list: {}", list.stderr);
        let rows = list.json();
        let rows = rows.as_array().unwrap();
        saw_queued_count |= rows.iter().any(|r| r["queued"].as_u64().unwrap_or(0) > 0);
        let done = rows
            .iter()
            .filter(|r| ids.iter().any(|id| r["workflow_id"] == id.as_str()) && r["status"] != "running")
            .count();
        if done == n {
            break;
        }
        assert!(Instant::now() < deadline, "{done} of {n} workflows done after 300 s\n{}", stack.logs());
        std::thread::sleep(Duration::from_secs(1));
    }
    let wall = began.elapsed();

    let mut executors_used = BTreeSet::new();
    for id in &ids {
        let result = stack.cli(&["result", id, "--json"]);
        let finished: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
        assert_eq!(result.code, 0, "{id} did not complete: {finished:?}\n{}", stack.logs());
        assert_eq!(finished.state, RunState::Completed);
        let stage = &finished.stages[0];
        assert_eq!(stage.attempts, 1, "{id}: a run was refused or retried: {stage:?}\n{}", stack.logs());
        executors_used.insert(stage.executor_id.clone().expect("the stage names its executor"));
    }
    for project in &projects {
        assert_eq!(std::fs::read_to_string(project.path().join("built.txt")).unwrap(), "built\n");
    }
    // Exactly one agent run per workflow reached the model: no stage ran twice.
    let mut first_requests: BTreeMap<String, usize> = BTreeMap::new();
    let first_turns: Vec<_> = stack.model.requests().into_iter().filter(|r| r.turn == 0).collect();
    for request in &first_turns {
        let feature = request
            .first_user_text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Feature: ").map(str::to_owned))
            .expect("the prompt names its feature");
        *first_requests.entry(feature).or_default() += 1;
    }
    assert_eq!(first_requests.len(), n, "{first_requests:?}");
    assert!(first_requests.values().all(|&runs| runs == 1), "{first_requests:?}");
    let peak_runs = peak_overlap(first_turns.iter().map(|r| r.received_at), FIRST_TURN);
    Burst { wall, peak_runs, executors_used, saw_queued_stage, saw_queued_count }
}

/// How long the steady scenario holds each run's first model turn.
const FIRST_TURN: Duration = Duration::from_millis(2000);

/// The most windows `[start, start + length)` that cover one moment.
fn peak_overlap(starts: impl Iterator<Item = Instant>, length: Duration) -> usize {
    let starts: Vec<Instant> = starts.collect();
    starts.iter().map(|&t| starts.iter().filter(|&&s| s <= t && t < s + length).count()).max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_workflows_wait_their_turn_and_more_executors_run_more_at_once() {
    let mut options = StackOptions::new(steady_scenario());
    options.executor_capacity = 2;
    let one = {
        let stack = Stack::start(options).await;
        burst(&stack, 20)
    };
    assert!(one.saw_queued_stage, "no stage ever showed `queued` while it waited");
    assert!(one.saw_queued_count, "`list` never counted queued work");
    assert_eq!(one.executors_used.len(), 1);
    assert!(one.peak_runs <= 2, "one executor with 2 slots ran {} agents at once", one.peak_runs);

    let mut options = StackOptions::new(steady_scenario());
    options.executor_capacity = 2;
    options.executors = 3;
    let three = {
        let stack = Stack::start(options).await;
        burst(&stack, 20)
    };
    eprintln!(
        "20 workflows: 1 executor x 2 slots {:.1} s (at most {} at once), 3 executors x 2 slots {:.1} s (at most {} at once)",
        one.wall.as_secs_f64(),
        one.peak_runs,
        three.wall.as_secs_f64(),
        three.peak_runs
    );
    assert_eq!(three.executors_used.len(), 3, "runs did not spread: {:?}", three.executors_used);
    // Wall time on a shared machine is a figure, not a verdict: what more executors must give
    // is more runs at once than one executor's slots allow.
    assert!(three.peak_runs > 2, "3 executors never ran more than 2 agents at once");
    assert!(three.peak_runs <= 6, "3 executors with 2 slots each ran {} agents at once", three.peak_runs);
}

fn wait_for(what: &str, limit: Duration, stack: &Stack, mut done: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}\n{}", stack.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    Instant::now()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_killed_mid_run_loses_the_attempt_to_another_which_starts_from_the_snapshot() {
    let mut options = hanging_options(hangs_once_scenario());
    options.executors = 2;
    options.executor_capacity = 1;
    let mut stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let stages = stages_file(&stack);
    let id = start(&stack, project.path(), &stages, "crash");

    wait_for("the first attempt hangs", Duration::from_secs(60), &stack, || {
        project.path().join("half-done.txt").exists() && !processes_matching(&hanging(project.path())).is_empty()
    });
    // Once the attempt's heartbeats carry its first response's figures, they outlive it.
    stack.wait_for_status(&id, "the stage's live figures", |s| {
        s.stages[0].live.as_ref().is_some_and(|live| live.responses == 1)
    });
    let (victim, victim_id) = executor_running(&stack, &id);
    stack.kill_executor(victim);
    let killed_at = Instant::now();
    let result = stack.cli(&["result", &id, "--json"]);
    let finished: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(result.code, 0, "{finished:?}\n{}", stack.logs());
    let stage = &finished.stages[0];
    assert_eq!(
        (stage.attempts, stage.lost_runs),
        (1, 1),
        "the killed executor's run is lost, not an attempt: {stage:?}"
    );
    let survivor = stage.executor_id.clone().unwrap();
    assert_ne!(survivor, victim_id, "the retry ran on the killed executor");
    assert!(!project.path().join("half-done.txt").exists(), "the retry did not start from the snapshot");
    assert_eq!(std::fs::read_to_string(project.path().join("built.txt")).unwrap(), "built\n");
    // The lost attempt's first response counts, as its last heartbeat had it.
    let history: Vec<_> =
        stage.attempt_history.iter().map(|a| (a.attempt, a.outcome, a.tokens.input, a.tokens.output)).collect();
    assert_eq!(history, [(1, AttemptOutcome::Lost, 10, 5), (2, AttemptOutcome::Completed, 32, 13)], "{stage:?}");
    assert_eq!((stage.input_tokens, stage.output_tokens), (42, 18));
    // The lost attempt's conversation is known from its heartbeats, though its executor died.
    assert!(!stage.attempt_history[0].session_id.is_empty(), "{stage:?}");
    eprintln!("attempt 2 completed {:.1} s after the executor was killed", killed_at.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_cut_off_from_temporal_kills_its_agent_before_the_retry_starts() {
    let stack_options = hanging_options(hangs_once_scenario());
    let mut stack = Stack::start(stack_options).await;
    let project = git_project(&example("textstats"));
    let stages = stages_file(&stack);
    let id = start(&stack, project.path(), &stages, "outage");
    wait_for("the first attempt hangs", Duration::from_secs(60), &stack, || {
        project.path().join("half-done.txt").exists() && !processes_matching(&hanging(project.path())).is_empty()
    });
    let project_path = project.path().to_str().unwrap().to_owned();

    stack.stop_temporal();
    let cut_at = Instant::now();
    let agent_gone_at = wait_for("the executor kills its own agent", Duration::from_secs(20), &stack, || {
        processes_matching(&hanging(project.path())).is_empty() && processes_matching(&project_path).is_empty()
    });
    let took = agent_gone_at - cut_at;
    eprintln!("agent killed {:.2} s after Temporal went away (heartbeat timeout 5 s)", took.as_secs_f64());
    assert!(took < Duration::from_secs(5), "the agent outlived the heartbeat timeout: {took:?}");

    // Longer than the heartbeat timeout, so Temporal times the first attempt out.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(cut_at.elapsed()));
    stack.start_temporal();
    stack.wait_for_temporal().await;

    let result = stack.cli(&["result", &id, "--json"]);
    let finished: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(result.code, 0, "{finished:?}\n{}", stack.logs());
    let stage = &finished.stages[0];
    assert_eq!((stage.attempts, stage.lost_runs), (1, 1), "the run cut off from Temporal is lost: {stage:?}");
    let first_turns: Vec<Instant> =
        stack.model.requests().into_iter().filter(|r| r.turn == 0).map(|r| r.received_at).collect();
    assert_eq!(first_turns.len(), 2, "two attempts reached the model");
    assert!(first_turns[1] > agent_gone_at, "the retry reached the model while the first attempt's agent lived");
    assert!(!project.path().join("half-done.txt").exists(), "the first attempt's edits survived");
    assert_eq!(std::fs::read_to_string(project.path().join("built.txt")).unwrap(), "built\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_control_api_needs_the_token_and_the_fleet_view_uses_it() {
    use ct_proto::control::DescribeRequest;
    use ct_proto::control::control_client::ControlClient;

    let stack = Stack::start(StackOptions::new(steady_scenario())).await;
    let address = format!("http://127.0.0.1:{}", stack.executors[0].port);
    let mut bare = ControlClient::connect(address.clone()).await.unwrap();
    let refused = bare.describe(DescribeRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert!(refused.message().contains("control.token"), "{}", refused.message());

    let wrong =
        ct_fleet::control::Caller::new(&address, ct_fleet::ControlToken::new("not-the-token"), Duration::from_secs(3))
            .unwrap();
    assert_eq!(wrong.describe().await.unwrap_err().code(), tonic::Code::Unauthenticated);

    let token = std::fs::read_to_string(&stack.control_token_file).unwrap();
    let right =
        ct_fleet::control::Caller::new(&address, ct_fleet::ControlToken::new(token.trim()), Duration::from_secs(3))
            .unwrap();
    let described = right.describe().await.unwrap();
    assert_eq!(described.service, "executor");
    assert_eq!(described.task_queue, "claude-temporal.agents");
    assert_eq!(described.capacity, 4);
    assert!(described.tools.iter().any(|t| t.name == "claude" && t.version.contains("2.1.331")), "{described:?}");

    // Temporal lists a queue's pollers once the build they poll as is current: the worker makes
    // the fleet's first build current within a second or two of its start.
    let deadline = Instant::now() + Duration::from_secs(30);
    let fleet = loop {
        let fleet = stack.cli(&["fleet", "--json"]);
        assert_eq!(fleet.code, 0, "{}", fleet.stderr);
        let fleet = fleet.json();
        let listed = |kind: &str| {
            fleet["queues"]
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["kind"] == kind && q["members"].as_array().unwrap().len() == 1)
        };
        let current = fleet["builds"]["current"] == env!("CARGO_PKG_VERSION");
        if (listed("agents") && listed("tests") && current) || Instant::now() >= deadline {
            break fleet;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let queues = fleet["queues"].as_array().unwrap();
    let agents = queues.iter().find(|q| q["kind"] == "agents").unwrap();
    let tests = queues.iter().find(|q| q["kind"] == "tests").unwrap();
    assert_eq!(fleet["builds"]["current"], env!("CARGO_PKG_VERSION"), "the first build made itself current: {fleet}");
    assert_eq!(agents["members"].as_array().unwrap().len(), 1, "{fleet}");
    assert_eq!(agents["members"][0]["reachable"], true, "{fleet}");
    assert_eq!(agents["members"][0]["capacity"], 4);
    assert_eq!(tests["members"][0]["reachable"], true, "{fleet}");

    // A project outside the executors' workspace roots (the temp dir) fails at once, and no
    // agent reaches the model.
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap();
    let outside_dir = tempfile::Builder::new().prefix(".ct-e2e-outside-").tempdir_in(&home).unwrap();
    let outside = git_project(&example("textstats"));
    let moved = outside_dir.path().join("project");
    std::fs::rename(outside.path(), &moved).unwrap();
    let stages = stages_file(&stack);
    let id = start(&stack, &moved, &stages, "outside");
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "{}", result.stdout);
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    let error = status.error.unwrap_or_default();
    assert!(error.contains("outside this service's workspace roots"), "{error}");
    assert!(stack.model.requests().is_empty(), "an agent ran outside the roots");

    // Killing a run through the control API fails its attempt; Temporal retries it.
    let project = git_project(&example("textstats"));
    let id = start(&stack, project.path(), &stages, "killed");
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        if let Some(run) = right.list_runs().await.unwrap().into_iter().find(|r| r.workflow_id == id) {
            break run;
        }
        assert!(Instant::now() < deadline, "the run never showed up in ListRuns\n{}", stack.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run.attempt, 1);
    assert!(right.kill_run(&run.run_id).await.unwrap(), "KillRun found no run {}", run.run_id);
    assert!(!right.kill_run("no/such/run").await.unwrap());
    let result = stack.cli(&["result", &id, "--json"]);
    let finished: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(result.code, 0, "{finished:?}\n{}", stack.logs());
    let stage = &finished.stages[0];
    assert_eq!((stage.attempts, stage.lost_runs), (1, 1), "the killed run is lost, not an attempt: {stage:?}");

    let logs = stack.logs();
    assert!(!logs.contains(token.trim()), "the control token reached a log");
}

/// The executor running workflow `id`'s stage, as an index into the stack's executors.
fn executor_running(stack: &Stack, id: &str) -> (usize, String) {
    let running = stack.wait_for_status(id, "the stage names its executor", |s| s.stages[0].executor_id.is_some());
    let executor_id = running.stages[0].executor_id.clone().unwrap();
    let index = stack
        .executors
        .iter()
        .position(|e| executor_id.ends_with(&format!("127.0.0.1:{}", e.port)))
        .expect("the executor_id names one of the stack's executors");
    (index, executor_id)
}

/// Two executors of one slot each, whose running agents get `grace_secs` after SIGTERM.
async fn two_executors(scenario: Scenario, grace_secs: u32) -> Stack {
    let mut options = hanging_options(scenario);
    options.executors = 2;
    options.executor_capacity = 1;
    options.env.push(("EXECUTOR_SHUTDOWN_GRACE".to_owned(), grace_secs.to_string()));
    Stack::start(options).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_stopped_with_sigterm_finishes_its_run_within_the_grace_period() {
    let mut stack = two_executors(steady_scenario(), 30).await;
    let project = git_project(&example("textstats"));
    let stages = stages_file(&stack);
    let id = start(&stack, project.path(), &stages, "rolling restart");
    // The model holds the run's first turn for two seconds: the agent is mid-run.
    wait_for("the agent asks the model", Duration::from_secs(60), &stack, || !stack.model.requests().is_empty());
    let (victim, victim_id) = executor_running(&stack, &id);

    let exit = stack.terminate_executor(victim, Duration::from_secs(40));
    let exit = exit.unwrap_or_else(|| panic!("the executor did not exit within its grace period\n{}", stack.logs()));
    assert!(exit.success(), "a graceful stop exits 0: {exit:?}");
    let result = stack.cli(&["result", &id, "--json"]);
    let finished: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(result.code, 0, "{finished:?}\n{}", stack.logs());
    let stage = &finished.stages[0];
    assert_eq!(
        (stage.attempts, stage.executor_id.as_deref()),
        (1, Some(victim_id.as_str())),
        "the run was not finished where it ran"
    );
    assert_eq!(std::fs::read_to_string(project.path().join("built.txt")).unwrap(), "built\n");
    assert_eq!(stack.model.requests().iter().filter(|r| r.turn == 0).count(), 1, "the agent ran twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_stopped_with_sigterm_hands_back_a_run_that_outlasts_the_grace_period() {
    let mut stack = two_executors(hangs_once_scenario(), 2).await;
    let project = git_project(&example("textstats"));
    let stages = stages_file(&stack);
    let id = start(&stack, project.path(), &stages, "drain");
    wait_for("the first attempt hangs", Duration::from_secs(60), &stack, || {
        project.path().join("half-done.txt").exists() && !processes_matching(&hanging(project.path())).is_empty()
    });
    let (victim, victim_id) = executor_running(&stack, &id);
    let signalled = Instant::now();
    let exit = stack.terminate_executor(victim, Duration::from_secs(20));
    let exit = exit.unwrap_or_else(|| panic!("the executor outlived its 2 s grace period by 18 s\n{}", stack.logs()));
    let stopped_after = signalled.elapsed();
    assert!(exit.success(), "a graceful stop exits 0: {exit:?}");
    assert!(stopped_after >= Duration::from_secs(2), "the run did not get its grace period: {stopped_after:?}");
    assert!(processes_matching(&hanging(project.path())).is_empty(), "the agent outlived its executor");

    let result = stack.cli(&["result", &id, "--json"]);
    let finished: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(result.code, 0, "{finished:?}\n{}", stack.logs());
    let stage = &finished.stages[0];
    assert_eq!((stage.attempts, stage.lost_runs), (1, 1), "the handed-back run is lost, not an attempt: {stage:?}");
    assert_ne!(stage.executor_id.as_deref(), Some(victim_id.as_str()), "the retry ran on the stopped executor");
    assert!(!project.path().join("half-done.txt").exists(), "the retry did not start from the snapshot");
    assert_eq!(std::fs::read_to_string(project.path().join("built.txt")).unwrap(), "built\n");
    // Handed back unfinished, the attempt counts as lost with its executor, not as cancelled.
    let outcomes: Vec<_> = stage.attempt_history.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, [AttemptOutcome::Lost, AttemptOutcome::Completed], "{stage:?}");
    let first_turns: Vec<Instant> =
        stack.model.requests().into_iter().filter(|r| r.turn == 0).map(|r| r.received_at).collect();
    eprintln!(
        "SIGTERM with a 2 s grace period: the executor exited after {:.1} s; the retry reached the model {:.1} s after the signal",
        stopped_after.as_secs_f64(),
        first_turns.last().map_or(0.0, |t| (*t - signalled).as_secs_f64())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_restarted_three_times_during_a_stage_costs_its_agent_no_attempt() {
    // A rolling restart, three times over: each executor stops gracefully (SIGTERM, 1 s grace)
    // while the stage's agent is mid-run and hands the run back.
    let mut options = hanging_options(hanging_scenario(3));
    options.executors = 1;
    options.executor_capacity = 1;
    options.env.push(("EXECUTOR_SHUTDOWN_GRACE".to_owned(), "1".to_owned()));
    let mut stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let stages = stages_file(&stack);
    let id = start(&stack, project.path(), &stages, "rollouts");
    for restart in 1..=3 {
        wait_for(&format!("run {restart} hangs"), Duration::from_secs(60), &stack, || {
            std::fs::read_to_string(counter(project.path())).is_ok_and(|n| n.trim() == restart.to_string())
                && !processes_matching(&hanging(project.path())).is_empty()
        });
        let last = stack.executors.len() - 1;
        let exit = stack.terminate_executor(last, Duration::from_secs(20));
        assert!(exit.is_some_and(|exit| exit.success()), "a graceful stop exits 0\n{}", stack.logs());
        stack.start_executor();
    }
    let result = stack.cli(&["result", &id, "--json"]);
    let finished: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(result.code, 0, "three rollouts failed the stage: {finished:?}\n{}", stack.logs());
    let stage = &finished.stages[0];
    assert_eq!((stage.attempts, stage.lost_runs), (1, 3), "handed-back runs are not attempts: {stage:?}");
    assert_eq!(std::fs::read_to_string(project.path().join("built.txt")).unwrap(), "built\n");
    let human = stack.cli(&["status", &id]).stdout;
    assert!(human.contains("3 runs lost with their executors, not counted"), "{human}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_attempts_keep_losing_their_executors_goes_on_from_the_snapshot() {
    // The executors of three attempts in a row die: the run goes on from the snapshot, and none of
    // them counts as an attempt of its agent (a scheduling has six; past them, see after_failure).
    let mut options = hanging_options(hanging_scenario(3));
    options.executors = 1;
    options.executor_capacity = 1;
    let mut stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let stages = stages_file(&stack);
    let id = start(&stack, project.path(), &stages, "unlucky");
    for kill in 1..=3 {
        wait_for(&format!("attempt {kill} hangs"), Duration::from_secs(60), &stack, || {
            std::fs::read_to_string(counter(project.path())).is_ok_and(|n| n.trim() == kill.to_string())
                && !processes_matching(&hanging(project.path())).is_empty()
        });
        let last = stack.executors.len() - 1;
        stack.kill_executor(last);
        stack.start_executor();
    }
    let result = stack.cli(&["result", &id, "--json"]);
    let finished: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(result.code, 0, "the stage failed although its agent never did: {finished:?}\n{}", stack.logs());
    let stage = &finished.stages[0];
    assert_eq!((stage.attempts, stage.lost_runs), (1, 3), "lost runs are not the agent's attempts: {stage:?}");
    assert!(!project.path().join("half-done.txt").exists(), "the new scheduling did not start from the snapshot");
    assert_eq!(std::fs::read_to_string(project.path().join("built.txt")).unwrap(), "built\n");
    assert_eq!(stack.model.requests().iter().filter(|r| r.turn == 0).count(), 4);
    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-rescheduled-after-lost-executors", &history);
}
