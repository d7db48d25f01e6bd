//! Cancelling a workflow stops its agent: the CLI process and everything it
//! started are gone within seconds, and the workflow ends cancelled.

use std::time::{Duration, Instant};

use ct_domain::spend::AttemptOutcome;
use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, example, git_project, processes_matching};
use ct_scripted_model::Scenario;

/// The first stage's agent runs a command that would take 70 minutes (the CLI refuses a
/// bare `sleep`).
const LONG_COMMAND: &str = "timeout 4242 tail -f /dev/null";
/// What the first stage's agent writes before its long command: half-done work.
const HALF_DONE: &str = "textstats/half_done.py";

fn slow_scenario() -> Scenario {
    Scenario::from_json(
        &serde_json::json!({
            "scripts": [{
                "name": "scaffold",
                "match": "Stage: scaffold",
                "turns": [
                    {
                        "text": "Writing a first draft, then running the long setup step.",
                        "tool_uses": [
                            { "name": "Write", "input": { "file_path": format!("{{cwd}}/{HALF_DONE}"), "content": "# a draft\n" } },
                            { "name": "Bash", "input": { "command": LONG_COMMAND, "description": "long setup" } }
                        ],
                        "usage": { "input_tokens": 10, "output_tokens": 20 }
                    },
                    { "text": "Done.", "usage": { "input_tokens": 12, "output_tokens": 3 } }
                ]
            }]
        })
        .to_string(),
    )
    .expect("scenario")
}

/// Waits until the first stage's agent runs its long command.
fn wait_for_long_command(stack: &Stack) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_matching(LONG_COMMAND).is_empty() {
        assert!(Instant::now() < deadline, "the agent never ran its command\n{}", stack.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_during_an_agent_run_kills_the_agent_and_ends_cancelled() {
    // Heartbeats every 5 s (of a 45 s timeout): the cancel reaches the agent through
    // `agent.stopping` at once, not with the next heartbeat.
    let stack = Stack::start(StackOptions::new(slow_scenario()).default_heartbeat_timeout()).await;
    let project = git_project(&example("textstats"));
    let project_path = project.path().to_str().unwrap().to_owned();
    let start = stack.cli(&["start", &project_path, "--json"]);
    assert_eq!(start.code, 0, "{}", start.stderr);
    let id = start.json()["workflow_id"].as_str().unwrap().to_owned();

    wait_for_long_command(&stack);
    assert!(!processes_matching(&project_path).is_empty(), "the agent CLI runs in the project");

    assert!(project.path().join(HALF_DONE).exists(), "the agent wrote its draft before the long command");
    let cancel = stack.cli(&["cancel", &id]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    let cancelled_at = Instant::now();
    while !processes_matching(LONG_COMMAND).is_empty() || !processes_matching(&project_path).is_empty() {
        assert!(
            cancelled_at.elapsed() < Duration::from_secs(2),
            "agent still running {:?} after cancel\n{}",
            cancelled_at.elapsed(),
            stack.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("agent processes gone {} ms after cancel", cancelled_at.elapsed().as_millis());

    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(status.state, RunState::Cancelled);
    assert_eq!(status.stages[0].state, StageState::Cancelled);
    assert!(status.stages[1..].iter().all(|s| s.state == StageState::Pending));
    // The cancelled stage's half-done edits are undone.
    assert!(!project.path().join(HALF_DONE).exists(), "the draft is gone");
    assert!(status.error.as_deref().unwrap_or_default().contains("its changes were undone"), "{:?}", status.error);
    // What the cancelled attempt had used counts: its first response (10 in, 20 out).
    let stage = &status.stages[0];
    let spent: Vec<_> =
        stage.attempt_history.iter().map(|a| (a.attempt, a.outcome, a.tokens.input, a.tokens.output)).collect();
    assert_eq!(spent, [(1, AttemptOutcome::Cancelled, 10, 20)], "{stage:?}");
    assert!((status.total_cost_usd - (10.0 * 4.0 + 20.0 * 20.0) / 1e6).abs() < 1e-12, "{}", status.total_cost_usd);
    let watch = stack.cli(&["watch", &id, "--json"]);
    let stopping = watch.stdout.lines().filter(|line| line.contains("\"dev.claude-temporal.agent.stopping\"")).count();
    assert_eq!(stopping, 1, "the cancel was announced to the executor: {}", watch.stdout);
    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-cancelled", &history);

    // `cancel --keep-changes` leaves them.
    let start = stack.cli(&["start", &project_path, "--json"]);
    assert_eq!(start.code, 0, "{}", start.stderr);
    let id = start.json()["workflow_id"].as_str().unwrap().to_owned();
    wait_for_long_command(&stack);
    let cancel = stack.cli(&["cancel", &id, "--keep-changes"]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert!(project.path().join(HALF_DONE).exists(), "the draft is kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_errors_and_exit_codes() {
    let stack = Stack::start(StackOptions::new(slow_scenario())).await;

    let missing = stack.cli(&["start", "/nonexistent/project"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("/nonexistent/project does not exist"), "{}", missing.stderr);

    let plain_dir = tempfile::tempdir().unwrap();
    let not_git = stack.cli(&["start", plain_dir.path().to_str().unwrap()]);
    assert_eq!(not_git.code, 2);
    assert!(not_git.stderr.contains("is not a git repository"), "{}", not_git.stderr);
    assert!(not_git.stderr.contains("git init"), "{}", not_git.stderr);

    let project = git_project(&example("textstats"));
    let bad_template = stack.cli(&["start", project.path().to_str().unwrap(), "--template", "nope"]);
    assert_eq!(bad_template.code, 2);
    assert!(bad_template.stderr.contains("available: llm-wrapper"), "{}", bad_template.stderr);

    let unknown = stack.cli(&["status", "no-such-workflow"]);
    assert_eq!(unknown.code, 3, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("no workflow `no-such-workflow`"), "{}", unknown.stderr);

    let unknown_result = stack.cli(&["result", "no-such-workflow"]);
    assert_eq!(unknown_result.code, 3, "{}", unknown_result.stderr);

    let nothing_to_approve = stack.cli(&["approve", "no-such-workflow"]);
    assert_eq!(nothing_to_approve.code, 3, "{}", nothing_to_approve.stderr);

    let unreachable = std::process::Command::new(ct_e2e::bin("claude-temporal"))
        .args(["status", "x", "--temporal-address", &format!("127.0.0.1:{}", ct_e2e::free_port())])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("claude-temporal dev up"));
}
