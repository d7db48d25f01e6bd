//! Every step of a workflow is an event on NATS, and a NATS restart in the
//! middle of a workflow loses none of them.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use ct_contracts::workflows::{ApproveGate, Develop};
use ct_domain::{ApprovalDecision, RunState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, example, git_project};
use ct_scripted_model::Scenario;
use temporalio_client::WorkflowExecuteUpdateOptions;

#[tokio::test(flavor = "multi_thread")]
async fn workflow_events_survive_a_nats_restart_and_watch_shows_them() {
    let scenario = Scenario::from_file(&example("scenarios/develop-textstats.json")).expect("scenario");
    let mut stack = Stack::start(StackOptions::new(scenario)).await;
    let project = git_project(&example("textstats"));
    let start = stack.cli(&["start", project.path().to_str().unwrap(), "--features", "word counts", "--json"]);
    assert_eq!(start.code, 0, "{}", start.stderr);
    let id = start.json()["workflow_id"].as_str().unwrap().to_owned();

    // NATS goes away while the first stages run and comes back a few seconds later.
    stack.nats.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack.nats.restart();

    stack.wait_for_status(&id, "approval gate", |s| s.awaiting_approval.is_some());
    assert_eq!(stack.cli(&["approve", &id]).code, 0);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());

    // `watch --json` replays the stored events and ends with workflow.completed.
    let watch = stack.cli(&["watch", &id, "--json"]);
    assert_eq!(watch.code, 0, "watch: {}", watch.stderr);
    let events: Vec<serde_json::Value> =
        watch.stdout.lines().map(|line| serde_json::from_str(line).expect("CloudEvents JSON")).collect();
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "no event twice");
    for event in &events {
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["datacontenttype"], "application/json");
        assert_eq!(event["data"]["workflow_id"], id.as_str());
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for event in &events {
        *counts.entry(ct_e2e::event_kind(event)).or_default() += 1;
    }
    let expect = |kind: &str, n: usize| assert_eq!(counts.get(kind).copied().unwrap_or(0), n, "{kind} in {counts:?}");
    expect("workflow.started", 1);
    expect("stage.started", 6);
    expect("stage.completed", 6);
    expect("cost.updated", 6);
    // The baseline before the first stage, then the five stages that run tests.
    expect("tests.completed", 6);
    expect("snapshot.created", 6);
    expect("approval.requested", 1);
    expect("approval.granted", 1);
    expect("workflow.completed", 1);
    assert!(counts.get("agent.progress").copied().unwrap_or(0) >= 6, "{counts:?}");
    assert!(counts.get("cost.updated (running)").copied().unwrap_or(0) >= 6, "a running figure per stage: {counts:?}");
    // Progress comes straight from the executor that runs the agent, so across publishers the
    // stream's order is arrival order; the workflow's own events keep theirs.
    let from = |source: &'static str| events.iter().filter(move |e| e["source"] == source);
    assert!(
        from("/claude-temporal/executor").all(|e| e["type"] == "dev.claude-temporal.agent.progress"
            || e["type"] == "dev.claude-temporal.snapshot.created"
            || (e["type"] == "dev.claude-temporal.cost.updated" && e["data"]["running"] == true)),
        "the executor publishes the agent's progress, live figures and the snapshots its runs take"
    );
    assert_eq!(
        from("/claude-temporal/executor").count(),
        counts["agent.progress"] + counts["cost.updated (running)"] + counts["snapshot.created"],
        "all progress, live figures and stage snapshots come from the executor"
    );
    for created in events.iter().filter(|e| e["type"] == "dev.claude-temporal.snapshot.created") {
        assert_eq!(created["data"]["commit"].as_str().map(str::len), Some(40), "{created}");
    }
    let first = from("/claude-temporal/worker").next().unwrap()["type"].as_str().unwrap();
    let last = from("/claude-temporal/worker").next_back().unwrap()["type"].as_str().unwrap();
    assert_eq!(first, "dev.claude-temporal.workflow.started");
    assert_eq!(last, "dev.claude-temporal.workflow.completed");

    // The human view of the same events reads as a progress log.
    let human = stack.cli(&["watch", &id]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stdout.contains("▶ scaffold"), "{}", human.stdout);
    assert!(human.stdout.contains("core-implementation awaits approval"), "{}", human.stdout);
    assert!(human.stdout.contains("workflow completed"), "{}", human.stdout);
    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-with-events", &history);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_of_a_worker_killed_during_a_nats_outage_are_published_by_its_successor() {
    let scenario = Scenario::from_file(&example("scenarios/develop-textstats.json")).expect("scenario");
    let mut options = StackOptions::new(scenario);
    options.sticky_timeout_secs = 1;
    let mut stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    stack.nats.kill();
    let start = stack.cli(&["start", project.path().to_str().unwrap(), "--json"]);
    assert_eq!(start.code, 0, "{}", start.stderr);
    let id = start.json()["workflow_id"].as_str().unwrap().to_owned();

    // Two stages run with NATS away: their events exist only in the worker, which dies.
    stack.wait_for_status(&id, "approval gate", |s| s.awaiting_approval.is_some());
    stack.kill_worker();
    stack.nats.restart();
    stack.start_worker();
    assert_eq!(stack.cli(&["approve", &id]).code, 0);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());

    let watch = stack.cli(&["watch", &id, "--json"]);
    assert_eq!(watch.code, 0, "watch: {}", watch.stderr);
    let events: Vec<serde_json::Value> = watch.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "no event twice");
    let worker: Vec<&str> = events
        .iter()
        .filter(|e| e["source"] == "/claude-temporal/worker")
        .map(|e| e["type"].as_str().unwrap().trim_start_matches("dev.claude-temporal."))
        .collect();
    let count = |kind: &str| worker.iter().filter(|k| **k == kind).count();
    for (kind, n) in [
        ("workflow.started", 1),
        ("stage.started", 6),
        ("stage.completed", 6),
        ("approval.requested", 1),
        ("workflow.completed", 1),
    ] {
        assert_eq!(count(kind), n, "{kind} in {worker:?}");
    }
    assert_eq!(worker.first(), Some(&"workflow.started"), "the outbox keeps the order: {worker:?}");
    assert_eq!(worker.last(), Some(&"workflow.completed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_tells_the_path_the_workflow_took_once_each_event() {
    let scenario = Scenario::from_file(&example("scenarios/develop-textstats.json")).expect("scenario");
    let mut options = StackOptions::new(scenario);
    options.sticky_timeout_secs = 1;
    let mut stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let path = project.path().to_str().unwrap();
    let start = stack.cli(&["start", path, "--approval-timeout", "4", "--json"]);
    assert_eq!(start.code, 0, "{}", start.stderr);
    let id = start.json()["workflow_id"].as_str().unwrap().to_owned();
    stack.wait_for_status(&id, "approval gate", |s| s.awaiting_approval.is_some());

    // The worker dies at the gate. An approval is admitted while no worker runs, and the gate's
    // timer runs out meanwhile: the next workflow task sees both and takes one path.
    stack.kill_worker();
    let client = stack.client().await;
    let update_id = id.clone();
    let approval = tokio::spawn(async move {
        let decision = ApprovalDecision { stage: String::new(), comment: "race".to_owned(), decided_by: None };
        let handle = client.get_workflow_handle::<Develop>(&update_id);
        handle.execute_update(ApproveGate, decision, WorkflowExecuteUpdateOptions::default()).await
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    stack.start_worker();
    let approved = tokio::time::timeout(Duration::from_secs(60), approval).await.expect("the update is answered");
    let result = stack.cli(&["result", &id, "--json"]);
    let status: WorkflowStatus = serde_json::from_value(result.json()).expect("status");

    // The stream holds exactly the events the committed history scheduled, each once.
    let history = stack.replay(&id).await;
    let scheduled = ct_e2e::scheduled_events(&history);
    let watch = stack.cli(&["watch", &id, "--json"]);
    assert_eq!(watch.code, 0, "watch: {}", watch.stderr);
    let published: Vec<(String, String)> = watch
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["source"] == "/claude-temporal/worker")
        .map(|event| {
            let kind = event["type"].as_str().unwrap().trim_start_matches("dev.claude-temporal.").to_owned();
            (event["id"].as_str().unwrap().to_owned(), kind)
        })
        .collect();
    let mut published_sorted = published.clone();
    published_sorted.sort();
    let mut scheduled_sorted = scheduled.clone();
    scheduled_sorted.sort();
    assert_eq!(published_sorted, scheduled_sorted, "the stream holds what the history decided, once each");
    let kinds: Vec<&str> = published.iter().map(|(_, kind)| kind.as_str()).collect();
    let has = |kind: &str| kinds.contains(&kind);
    match status.state {
        RunState::Completed => {
            assert!(approved.expect("update task").is_ok(), "the approval won");
            assert!(has("approval.granted") && has("workflow.completed"), "{kinds:?}");
            assert!(!has("approval.timed_out") && !has("workflow.failed") && !has("stage.failed"), "{kinds:?}");
        }
        RunState::Failed => {
            assert!(approved.expect("update task").is_err(), "the timeout won, so the approval was refused");
            assert!(has("approval.timed_out") && has("workflow.failed"), "{kinds:?}");
            assert!(!has("approval.granted") && !has("workflow.completed"), "{kinds:?}");
        }
        other => panic!("the workflow ended {other:?}: {}", result.stderr),
    }
    assert_eq!(
        kinds.last(),
        Some(&if status.state == RunState::Completed { "workflow.completed" } else { "workflow.failed" })
    );
    // Ids say what each event is: its run, type, stage and occurrence.
    for (event_id, kind) in &published {
        assert!(event_id.contains(&format!("/{kind}/")), "{event_id} names {kind}");
    }
}
