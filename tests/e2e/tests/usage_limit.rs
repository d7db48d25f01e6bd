//! A usage limit with a reset time: one refused attempt, a durable wait on a Temporal timer
//! (a worker restarted during it changes nothing), then the run goes on and completes.

use std::time::{Duration, Instant};

use ct_domain::spend::AttemptOutcome;
use ct_domain::{RunState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, example, git_project};
use ct_scripted_model::Scenario;

/// How far ahead of the refused request the limit resets.
const RESETS_IN_SECS: u64 = 12;

const ONE_STAGE: &str = "name = \"one-stage\"\n\n[[stages]]\nname = \"build\"\nprompt = \"Stage: build\\nFeature: {features}\"\nskip_tests = true\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_usage_limit_waits_durably_for_its_reset_instead_of_retrying() {
    let scenario = serde_json::json!({ "scripts": [{ "name": "build", "match": "Stage: build", "turns": [{
        "text": "Built.",
        "usage": { "input_tokens": 1000, "output_tokens": 200 },
        "fail_first": { "status": 429, "times": 1, "resets_in_secs": RESETS_IN_SECS }
    }] }] });
    let mut options = StackOptions::new(Scenario::from_json(&scenario.to_string()).unwrap());
    // The CLI reads the API's usage-limit headers for subscription logins only.
    options.env = vec![
        ("ANTHROPIC_API_KEY".to_owned(), String::new()),
        ("CLAUDE_CODE_OAUTH_TOKEN".to_owned(), "sk-ant-oat01-e2e-subscription".to_owned()),
    ];
    let mut stack = Stack::start(options).await;
    let project = git_project(&example("textstats"));
    let stages = stack.dir.path().join("stages.toml");
    std::fs::write(&stages, ONE_STAGE).unwrap();
    let started = Instant::now();
    let out = stack.cli(&[
        "start",
        project.path().to_str().unwrap(),
        "--stages",
        stages.to_str().unwrap(),
        "--features",
        "limits",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.json()["workflow_id"].as_str().unwrap().to_owned();

    let waiting = stack.wait_for_status(&id, "the wait for the usage limit's reset", |s| s.usage_limit.is_some());
    let wait = waiting.usage_limit.clone().unwrap();
    assert_eq!(wait.stage, "build");
    assert!(wait.message.contains("usage limit"), "{wait:?}");
    assert_eq!(waiting.state, RunState::Running);
    let history: Vec<AttemptOutcome> = waiting.stages[0].attempt_history.iter().map(|a| a.outcome).collect();
    assert_eq!(history, [AttemptOutcome::Failed], "one refused attempt, no blind retries: {:?}", waiting.stages[0]);
    let human = stack.cli(&["status", &id]).stdout;
    assert!(human.contains(&format!("waiting   usage limit until {}", wait.until)), "{human}");

    // The wait is a Temporal timer: a worker killed and started again during it changes nothing.
    stack.kill_worker();
    stack.start_worker();

    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let waited = started.elapsed();
    let done: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    let stage = &done.stages[0];
    let history: Vec<(u32, AttemptOutcome)> = stage.attempt_history.iter().map(|a| (a.attempt, a.outcome)).collect();
    assert_eq!(history, [(1, AttemptOutcome::Failed), (2, AttemptOutcome::Completed)], "{stage:?}");
    assert_eq!(done.usage_limit, None);
    let requests: Vec<Instant> =
        stack.model.requests().iter().filter(|r| r.script.as_deref() == Some("build")).map(|r| r.received_at).collect();
    assert_eq!(requests.len(), 2, "the refused request and the one after the reset");
    let gap = requests[1].duration_since(requests[0]);
    assert!(
        gap >= Duration::from_secs(RESETS_IN_SECS - 1),
        "the run went on {gap:?} after the refusal, before the reset"
    );
    assert!(waited < Duration::from_secs(RESETS_IN_SECS + 40), "{waited:?}");
    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("develop-usage-limit-wait", &history);
}
