//! An executor that dies in the middle of an agent run: the retry, on another executor, resumes
//! the agent's conversation from its last checkpoint (kept in NATS) on the work tree as it was
//! then, instead of starting the run over.

use std::time::{Duration, Instant};

use ct_contracts::names::CHECKPOINT_BUCKET;
use ct_domain::spend::AttemptOutcome;
use ct_domain::{RunState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, example, git_project};
use ct_scripted_model::Scenario;
use futures::StreamExt;

const ONE_STAGE: &str = r#"
name = "one-stage"

[[stages]]
name = "build"
prompt = "Stage: build"
"#;

/// Three steps, the second of which must happen once; the model takes long over the third, so
/// the executor can be killed while the conversation waits for it.
fn three_steps() -> Scenario {
    let step = |tool: serde_json::Value, delay_ms: u64| serde_json::json!({ "tool_uses": [tool], "usage": { "input_tokens": 100, "output_tokens": 10 }, "delay_ms": delay_ms });
    let scenario = serde_json::json!({ "scripts": [{ "name": "build", "match": "Stage: build", "turns": [
        step(serde_json::json!({ "name": "Write", "input": { "file_path": "{cwd}/one.txt", "content": "1\n" } }), 300),
        step(serde_json::json!({ "name": "Bash", "input": { "command": "echo once >> {cwd}/log.txt", "description": "log" } }), 300),
        step(serde_json::json!({ "name": "Write", "input": { "file_path": "{cwd}/three.txt", "content": "3\n" } }), 3000),
        { "text": "Built.", "usage": { "input_tokens": 120, "output_tokens": 5 } }
    ] }] });
    Scenario::from_json(&scenario.to_string()).expect("scenario")
}

/// The checkpoints in the bucket, as (name, model responses they hold).
async fn checkpoints(stack: &Stack) -> Vec<(String, String)> {
    let client = async_nats::connect(stack.nats.url()).await.expect("NATS");
    let Ok(bucket) = async_nats::jetstream::new(client).get_object_store(CHECKPOINT_BUCKET).await else {
        return Vec::new();
    };
    let Ok(list) = bucket.list().await else { return Vec::new() };
    list.filter_map(|info| async move { info.ok() })
        .filter(|info| std::future::ready(!info.deleted))
        .map(|info| (info.name.clone(), info.metadata.get("responses").cloned().unwrap_or_default()))
        .collect()
        .await
}

/// Two executors of one slot each, and a one-stage workflow whose agent has taken the first two
/// steps, with the checkpoint after the second stored, and waits for the model's third answer.
async fn run_past_the_second_step() -> (Stack, tempfile::TempDir, String) {
    let mut options = StackOptions::new(three_steps());
    options.executors = 2;
    options.executor_capacity = 1;
    let stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let stages = stack.dir.path().join("stages.toml");
    std::fs::write(&stages, ONE_STAGE).unwrap();
    let out = stack.cli(&["start", project.path().to_str().unwrap(), "--stages", stages.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 0, "start: {}", out.stderr);
    let id = out.json()["workflow_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !(stack.model.requests().iter().any(|r| r.turn == 2)
        && checkpoints(&stack).await.iter().any(|(_, n)| n == "2"))
    {
        assert!(Instant::now() < deadline, "no checkpoint after the second step\n{}", stack.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The attempt's heartbeat with those two responses has reached Temporal too: it is what
    // tells the retry that the attempt was left unfinished.
    stack.wait_for_status(&id, "the attempt's heartbeat after the second step", |s| {
        s.stages[0].live.as_ref().is_some_and(|live| live.responses >= 2)
    });
    (stack, project, id)
}

/// Kills the executor running the stage; waits for the workflow's end and returns it with the
/// killed executor's id.
fn kill_its_executor(stack: &mut Stack, id: &str) -> (WorkflowStatus, String) {
    let running = stack.wait_for_status(id, "the stage names its executor", |s| s.stages[0].executor_id.is_some());
    let victim_id = running.stages[0].executor_id.clone().unwrap();
    let victim = stack.executors.iter().position(|e| victim_id.ends_with(&format!("127.0.0.1:{}", e.port))).unwrap();
    stack.kill_executor(victim);
    let result = stack.cli(&["result", id, "--json"]);
    let finished: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!((result.code, finished.state), (0, RunState::Completed), "{finished:?}\n{}", stack.logs());
    assert_ne!(
        finished.stages[0].executor_id.as_deref(),
        Some(victim_id.as_str()),
        "the retry ran on the killed executor"
    );
    (finished, victim_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_killed_mid_run_hands_its_conversation_to_another_which_resumes_it() {
    let (mut stack, project, id) = run_past_the_second_step().await;
    let (finished, _) = kill_its_executor(&mut stack, &id);
    let stage = &finished.stages[0];
    let history: Vec<_> = stage.attempt_history.iter().map(|a| (a.attempt, a.outcome, a.resumed)).collect();
    assert_eq!(history, [(1, AttemptOutcome::Lost, false), (2, AttemptOutcome::Completed, true)], "{stage:?}");
    let session = &stage.attempt_history[0].session_id;
    assert!(
        !session.is_empty() && stage.attempt_history[1].session_id == *session,
        "not the same conversation: {stage:?}"
    );

    // The first two steps ran once; the model saw them when it was asked again for the third.
    let requests = stack.model.requests();
    let turns: Vec<usize> = requests.iter().map(|r| r.turn).collect();
    assert_eq!(turns, [0, 1, 2, 2, 3], "{requests:?}");
    assert!(requests[3].last_user_text.contains("interrupted"), "{:?}", requests[3].last_user_text);
    assert_eq!(std::fs::read_to_string(project.path().join("log.txt")).unwrap(), "once\n");
    assert_eq!(std::fs::read_to_string(project.path().join("three.txt")).unwrap(), "3\n");
    let mut changed = stage.files_changed.clone();
    changed.sort();
    assert_eq!(changed, ["log.txt", "one.txt", "three.txt"], "{stage:?}");
    let human = stack.cli(&["status", &id]).stdout;
    assert!(
        human.contains("attempts  build: 1 lost ($0.0")
            && human.contains("2 completed ($0.0")
            && human.contains(", resumed)"),
        "{human}"
    );
    // Nothing is left to resume once the run is done.
    assert!(checkpoints(&stack).await.is_empty(), "{:?}", checkpoints(&stack).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_without_the_checkpoint_starts_over_from_the_stages_snapshot() {
    let (mut stack, project, id) = run_past_the_second_step().await;
    // The bucket loses the checkpoint (purged by an operator, or NATS lost its storage).
    let client = async_nats::connect(stack.nats.url()).await.unwrap();
    let bucket = async_nats::jetstream::new(client).get_object_store(CHECKPOINT_BUCKET).await.unwrap();
    for (name, _) in checkpoints(&stack).await {
        bucket.delete(&name).await.unwrap();
    }
    let (finished, _) = kill_its_executor(&mut stack, &id);
    let stage = &finished.stages[0];
    let history: Vec<_> = stage.attempt_history.iter().map(|a| (a.attempt, a.outcome, a.resumed)).collect();
    assert_eq!(history, [(1, AttemptOutcome::Lost, false), (2, AttemptOutcome::Completed, false)], "{stage:?}");
    let turns: Vec<usize> = stack.model.requests().iter().map(|r| r.turn).collect();
    assert_eq!(turns, [0, 1, 2, 0, 1, 2, 3], "the retry did not start over");
    // Started from the stage's snapshot, so the second step still happened once.
    assert_eq!(std::fs::read_to_string(project.path().join("log.txt")).unwrap(), "once\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_whose_checkpoint_was_replaced_by_an_oversized_one_starts_over_instead() {
    let (mut stack, project, id) = run_past_the_second_step().await;
    // Whoever could write the bucket replaced the checkpoint by one far larger than any
    // conversation, keeping what its metadata says.
    let client = async_nats::connect(stack.nats.url()).await.unwrap();
    let bucket = async_nats::jetstream::new(client).get_object_store(CHECKPOINT_BUCKET).await.unwrap();
    for (name, _) in checkpoints(&stack).await {
        let info = bucket.info(&name).await.unwrap();
        let meta = async_nats::jetstream::object_store::ObjectMetadata {
            name: name.clone(),
            metadata: info.metadata.clone(),
            ..Default::default()
        };
        let oversized = vec![b'x'; (64 << 20) + 1];
        bucket.put(meta, &mut oversized.as_slice()).await.unwrap();
    }
    let (finished, _) = kill_its_executor(&mut stack, &id);
    let stage = &finished.stages[0];
    let history: Vec<_> = stage.attempt_history.iter().map(|a| (a.attempt, a.outcome, a.resumed)).collect();
    assert_eq!(history, [(1, AttemptOutcome::Lost, false), (2, AttemptOutcome::Completed, false)], "{stage:?}");
    let said = std::fs::read_dir(stack.dir.path())
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.unwrap().path()).ok())
        .any(|log| log.contains("more than 67108864 bytes, the most a checkpoint may hold"));
    assert!(said, "no executor said why it did not resume\n{}", stack.logs());
    assert_eq!(std::fs::read_to_string(project.path().join("log.txt")).unwrap(), "once\n");
}
