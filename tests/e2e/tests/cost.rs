//! Live tokens and cost: while a stage's agent runs, `status` and `cost.updated` events show
//! what it has used so far, counted from the agent's own stream; the final figures are the CLI's.

use std::time::{Duration, Instant};

use ct_domain::spend::AttemptOutcome;
use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, example, git_project};
use ct_scripted_model::Scenario;

const ONE_STAGE: &str = r#"
name = "one-stage"

[[stages]]
name = "build"
prompt = "Stage: build\nFeature: {features}"
skip_tests = true
"#;

/// Four model responses, each held 1.5 s, with (input, output) tokens of each.
const RESPONSES: [(u64, u64); 4] = [(1000, 200), (1300, 300), (1700, 400), (2200, 100)];

fn slow_scenario() -> Scenario {
    ct_e2e::step_scenario("Stage: build", &RESPONSES, 1500)
}

/// claude-opus-5-5, the scripted model's, at the CLI's rates: $4 in, $20 out per million.
fn priced(input: u64, output: u64) -> f64 {
    (input as f64 * 4.0 + output as f64 * 20.0) / 1_000_000.0
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_events_show_tokens_and_cost_growing_while_the_agent_runs() {
    let stack = Stack::start(StackOptions::new(slow_scenario())).await;
    let (_project, id) = start_one(&stack, "live cost");

    // Every distinct figure `status --json` showed while the stage ran.
    let mut seen: Vec<(u32, u64, f64)> = Vec::new();
    let mut human = String::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = stack.cli(&["status", &id, "--json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let status: WorkflowStatus = serde_json::from_str(&out.stdout).unwrap();
        let stage = &status.stages[0];
        // Before the agent runs (the test baseline goes first, then the run may wait for an
        // executor), there is nothing to see yet.
        let before_the_stage =
            status.state == RunState::Running && matches!(stage.state, StageState::Pending | StageState::Queued);
        if !before_the_stage && (status.state != RunState::Running || stage.state != StageState::Running) {
            break;
        }
        if let Some(live) = &stage.live {
            assert_eq!(stage.output_tokens, live.tokens.output, "the stage's fields include the live figures");
            assert_eq!(status.total_cost_usd, stage.cost_usd);
            let figure =
                (live.responses, live.tokens.output, live.cost_usd.expect("the scripted model's model is priced"));
            if seen.last() != Some(&figure) {
                seen.push(figure);
                if human.is_empty() {
                    human = stack.cli(&["status", &id]).stdout;
                }
            }
        }
        assert!(Instant::now() < deadline, "the stage did not end\n{}", stack.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(seen.len() >= 2, "status never showed the figures grow while the stage ran: {seen:?}");
    for pair in seen.windows(2) {
        assert!(pair[1].1 > pair[0].1 && pair[1].2 > pair[0].2, "figures went down: {seen:?}");
    }
    // Each figure is exactly the responses ended so far, priced.
    for &(responses, output, cost) in &seen {
        let ended = &RESPONSES[..responses as usize];
        assert_eq!(output, ended.iter().map(|r| r.1).sum::<u64>());
        let expected: f64 = ended.iter().map(|&(input, output)| priced(input, output)).sum();
        assert!((cost - expected).abs() < 1e-9, "{cost} vs {expected}");
    }
    assert!(human.contains("running   build:") && human.contains("so far in attempt 1"), "{human}");

    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let done: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    let stage = &done.stages[0];
    assert_eq!(stage.live, None, "a finished stage has no live figures");
    let input: u64 = RESPONSES.iter().map(|r| r.0).sum();
    let output: u64 = RESPONSES.iter().map(|r| r.1).sum();
    assert_eq!((stage.input_tokens, stage.output_tokens), (input, output), "the final figures are the CLI's");
    assert!((stage.cost_usd - priced(input, output)).abs() < 1e-9, "{}", stage.cost_usd);

    // The executor's running `cost.updated` events, at most one a second, then the final one.
    let watch = stack.cli(&["watch", &id, "--json"]);
    assert_eq!(watch.code, 0, "{}", watch.stderr);
    let costs: Vec<serde_json::Value> = watch
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["type"] == "dev.claude-temporal.cost.updated")
        .map(|event| event["data"].clone())
        .collect();
    let (running, last) = costs.split_at(costs.len() - 1);
    assert!(running.len() >= 2 && running.iter().all(|c| c["running"] == true && c["priced"] == true), "{costs:?}");
    assert!(running.windows(2).all(|w| w[1]["stage_cost_usd"].as_f64() > w[0]["stage_cost_usd"].as_f64()), "{costs:?}");
    assert_eq!(last[0]["running"], false, "the workflow's final figures come last: {costs:?}");
    assert!((last[0]["stage_cost_usd"].as_f64().unwrap() - priced(input, output)).abs() < 1e-9);
    assert!(!stack.logs().contains("differ by more than 1%"), "live pricing disagreed with the CLI's");
}

/// A first response that works, then one the API fails with a 500 (`times` times).
fn failing_script(feature: &str, times: u32) -> serde_json::Value {
    serde_json::json!({
        "name": feature,
        "match": format!("Feature: {feature}"),
        "turns": [
            {
                "tool_uses": [{ "name": "Write", "input": { "file_path": "{cwd}/half.txt", "content": "half\n" } }],
                "usage": { "input_tokens": 1000, "output_tokens": 200 }
            },
            { "text": "Built.", "usage": { "input_tokens": 1300, "output_tokens": 300 }, "fail_first": { "status": 500, "times": times } }
        ]
    })
}

/// Starts the one-stage workflow for `feature` on a project of its own, kept while it runs.
fn start_one(stack: &Stack, feature: &str) -> (tempfile::TempDir, String) {
    let project = git_project(&example("textstats"));
    let stages = stack.dir.path().join("stages.toml");
    std::fs::write(&stages, ONE_STAGE).unwrap();
    let out = stack.cli(&[
        "start",
        project.path().to_str().unwrap(),
        "--stages",
        stages.to_str().unwrap(),
        "--features",
        feature,
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.json()["workflow_id"].as_str().unwrap().to_owned();
    (project, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_attempts_count_in_the_stage_and_a_stage_that_fails_shows_what_it_spent() {
    let scenario = serde_json::json!({ "scripts": [failing_script("flaky", 1), failing_script("broken", 99)] });
    let stack = Stack::start(StackOptions::new(Scenario::from_json(&scenario.to_string()).unwrap())).await;
    let (_flaky_project, flaky) = start_one(&stack, "flaky");
    let (_broken_project, broken) = start_one(&stack, "broken");
    let first = priced(1000, 200);

    let result = stack.cli(&["result", &flaky, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    let stage = &status.stages[0];
    let history: Vec<(u32, AttemptOutcome, u64, u64)> =
        stage.attempt_history.iter().map(|a| (a.attempt, a.outcome, a.tokens.input, a.tokens.output)).collect();
    assert_eq!(
        history,
        [(1, AttemptOutcome::Failed, 1000, 200), (2, AttemptOutcome::Completed, 2300, 500)],
        "the failed attempt's first response counts: {stage:?}\n{}",
        stack.logs()
    );
    assert_eq!((stage.attempts, stage.input_tokens, stage.output_tokens), (2, 3300, 700));
    assert!((stage.cost_usd - (first + priced(2300, 500))).abs() < 1e-9, "{}", stage.cost_usd);
    assert!((status.total_cost_usd - stage.cost_usd).abs() < 1e-12);

    let human = stack.cli(&["status", &flaky]).stdout;
    assert!(human.contains("attempts  build: 1 failed ($0.0080), 2 completed ($0.0192)"), "{human}");

    let result = stack.cli(&["result", &broken, "--json"]);
    assert_eq!(result.code, 1, "{}", result.stdout);
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    let stage = &status.stages[0];
    assert_eq!(stage.attempts, 3, "{stage:?}");
    assert_eq!(stage.attempt_history.len(), 3, "{stage:?}");
    assert!(stage.attempt_history.iter().all(|a| a.outcome == AttemptOutcome::Failed && a.tokens.output == 200));
    assert!(
        (stage.cost_usd - 3.0 * first).abs() < 1e-9,
        "a failed stage shows what its attempts spent: {}",
        stage.cost_usd
    );
    assert!((status.total_cost_usd - 3.0 * first).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_price_file_reprices_live_figures_and_a_disagreement_with_the_cli_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.toml");
    // Twice the CLI's rates for the scripted model's model, from a day after the built-in entry.
    std::fs::write(
        &prices,
        "[[prices]]\nmodel = \"claude-opus-5-5\"\neffective = \"2026-01-02\"\ninput = 8\noutput = 40\ncache_write = 10\ncache_read = 0.4\n",
    )
    .unwrap();
    let scenario = serde_json::json!({ "scripts": [failing_script("repriced", 0)] });
    let mut options = StackOptions::new(Scenario::from_json(&scenario.to_string()).unwrap());
    options.env = vec![("CT_PRICE_TABLE".to_owned(), prices.to_str().unwrap().to_owned())];
    let stack = Stack::start(options).await;
    let (_project, id) = start_one(&stack, "repriced");
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    let cli_usd = priced(2300, 500);
    assert!((status.stages[0].cost_usd - cli_usd).abs() < 1e-9, "the CLI's figure stays the final word");

    let watch = stack.cli(&["watch", &id, "--json"]);
    let first_live = watch
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| event["type"] == "dev.claude-temporal.cost.updated" && event["data"]["running"] == true)
        .expect("a running cost.updated event");
    let live_usd = first_live["data"]["stage_cost_usd"].as_f64().unwrap();
    assert!((live_usd - 2.0 * priced(1000, 200)).abs() < 1e-9, "the first response at the file's rates: {first_live}");
    assert!(stack.logs().contains("differ by more than 1%"), "the disagreement went unreported\n{}", stack.logs());
}
