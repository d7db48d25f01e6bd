//! Chaos: twenty develop workflows while the worker, one of two executors and nats-server are
//! SIGKILLed and restarted at random. Every workflow must complete with each stage's changes
//! applied once, one metrics line per stage and every workflow event in the stream once.
//!
//! The kills follow a seeded sequence, printed at the start; `CT_CHAOS_SEED=<n>` replays it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use ct_domain::{RunState, WorkflowStatus};
use ct_e2e::{Service, Stack, StackOptions, bin, example, git_project};
use ct_scripted_model::Scenario;

const WORKFLOWS: usize = 20;
const STAGES: [&str; 3] = ["one", "two", "three"];
/// Long enough for any stage that retries three times to still finish.
const ALL_DONE_WITHIN: Duration = Duration::from_secs(600);

/// Three stages; only the last runs the project's tests, so the test-runner is not the
/// bottleneck on two cores. Each prompt names its workflow's feature.
const STAGE_FILE: &str = r#"
name = "chaos"

[[stages]]
name = "one"
prompt = "Stage: one\nFeature: {features}"
skip_tests = true

[[stages]]
name = "two"
prompt = "Stage: two\nFeature: {features}"
skip_tests = true

[[stages]]
name = "three"
prompt = "Stage: three\nFeature: {features}"
"#;

/// Each stage appends its name to CHANGES.txt: an attempt whose changes were applied on top
/// of an earlier attempt's (instead of from the stage's snapshot) leaves the name twice. The
/// model's delays keep runs long enough for kills to land in them, before and after the append.
fn appending_scenario() -> Scenario {
    let scripts: Vec<serde_json::Value> = STAGES
        .iter()
        .map(|stage| {
            serde_json::json!({
                "name": stage,
                "match": format!("Stage: {stage}"),
                "turns": [
                    {
                        "tool_uses": [{ "name": "Bash", "input": {
                            "command": format!("echo {stage} >> {{cwd}}/CHANGES.txt"),
                            "description": "record the stage"
                        } }],
                        "usage": { "input_tokens": 10, "output_tokens": 5 },
                        "delay_ms": 700
                    },
                    { "text": "Recorded.", "usage": { "input_tokens": 12, "output_tokens": 3 }, "delay_ms": 700 }
                ]
            })
        })
        .collect();
    Scenario::from_json(&serde_json::json!({ "scripts": scripts }).to_string()).expect("scenario")
}

/// splitmix64: a reproducible sequence of kills from one printed seed.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.next() % (to - from))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Victim {
    Worker,
    Executor,
    Nats,
}

/// Kills `victim` as a crash would, leaves it down for `down`, and starts it again.
fn crash(stack: &mut Stack, victim: Victim, down: Duration) {
    match victim {
        Victim::Worker => {
            stack.kill_worker();
            std::thread::sleep(down);
            stack.start_worker();
        }
        Victim::Executor => {
            // The first executor stays up; the last one started is the one that crashes.
            let last = stack.executors.len() - 1;
            stack.kill_executor(last);
            std::thread::sleep(down);
            stack.start_executor();
        }
        Victim::Nats => {
            stack.nats.kill();
            std::thread::sleep(down);
            stack.nats.restart();
        }
    }
}

/// How many of `ids` are no longer running.
fn finished(stack: &Stack, ids: &[String]) -> usize {
    let list = stack.cli(&["list", "--limit", "100", "--json"]);
    assert_eq!(list.code, 0, "list: {}", list.stderr);
    let rows = list.json();
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| ids.iter().any(|id| r["workflow_id"] == id.as_str()) && r["status"] != "running")
        .count()
}

/// Every event of workflow `id` in the stream, by type; fails on an id seen twice.
fn events_once(stack: &Stack, id: &str) -> BTreeMap<String, usize> {
    let watch = stack.cli(&["watch", id, "--json"]);
    assert_eq!(watch.code, 0, "watch {id}: {}", watch.stderr);
    let mut seen = BTreeSet::new();
    let mut counts = BTreeMap::new();
    for line in watch.stdout.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("CloudEvents JSON");
        let event_id = event["id"].as_str().expect("event id").to_owned();
        assert!(seen.insert(event_id), "{id}: event twice in the stream: {event}");
        *counts.entry(ct_e2e::event_kind(&event)).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_workflows_complete_while_worker_executor_and_nats_crash_at_random() {
    let seed = std::env::var("CT_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("chaos seed {seed} (CT_CHAOS_SEED={seed} replays the kills)");
    let mut dice = Dice(seed);

    let mut options = StackOptions::new(appending_scenario());
    options.executors = 2;
    options.executor_capacity = 3;
    options.sticky_timeout_secs = 1;
    let mut stack = Stack::start(options).await;
    let metrics_file = stack.dir.path().join("metrics.jsonl");
    let mut sink_cmd = Command::new(bin("ct-metrics-sink"));
    sink_cmd
        .args(["--nats-url", &stack.nats.url(), "--listen", "127.0.0.1:0"])
        .arg("--metrics-file")
        .arg(&metrics_file);
    let _sink = Service::spawn("metrics-sink", sink_cmd, &stack.dir.path().join("metrics-sink.log"));

    let stage_file = stack.dir.path().join("chaos-stages.toml");
    std::fs::write(&stage_file, STAGE_FILE).unwrap();
    let projects: Vec<_> = (0..WORKFLOWS).map(|_| git_project(&example("textstats"))).collect();
    let began = Instant::now();
    let ids: Vec<String> = projects
        .iter()
        .enumerate()
        .map(|(i, project)| {
            let out = stack.cli(&[
                "start",
                project.path().to_str().unwrap(),
                "--stages",
                stage_file.to_str().unwrap(),
                "--features",
                &format!("chaos-{i}"),
                "--json",
            ]);
            assert_eq!(out.code, 0, "start: {}", out.stderr);
            out.json()["workflow_id"].as_str().unwrap().to_owned()
        })
        .collect();

    let mut kills: BTreeMap<Victim, u32> = BTreeMap::new();
    let mut round: Vec<Victim> = Vec::new();
    loop {
        let done = finished(&stack, &ids);
        if done == WORKFLOWS {
            break;
        }
        assert!(
            began.elapsed() < ALL_DONE_WITHIN,
            "{done} of {WORKFLOWS} done after {ALL_DONE_WITHIN:?}\n{}",
            stack.logs()
        );
        std::thread::sleep(dice.millis(1500, 5000));
        // Rounds in which each of the three crashes once, in a random order.
        if round.is_empty() {
            round = vec![Victim::Worker, Victim::Executor, Victim::Nats];
            round.swap(0, (dice.next() % 3) as usize);
            round.swap(1, 1 + (dice.next() % 2) as usize);
        }
        let victim = round.pop().expect("refilled above");
        let down = dice.millis(200, 1500);
        eprintln!(
            "{:>6.1} s: {done}/{WORKFLOWS} done; killing the {victim:?} for {down:?}",
            began.elapsed().as_secs_f64()
        );
        crash(&mut stack, victim, down);
        *kills.entry(victim).or_default() += 1;
    }
    let wall = began.elapsed();

    let mut retries = 0;
    for (id, project) in ids.iter().zip(&projects) {
        let result = stack.cli(&["result", id, "--json"]);
        let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
        assert_eq!((result.code, status.state), (0, RunState::Completed), "{id}: {status:?}\n{}", stack.logs());
        retries += status.stages.iter().map(|s| s.attempts.saturating_sub(1) + s.lost_runs).sum::<u32>();
        let changes = std::fs::read_to_string(project.path().join("CHANGES.txt")).unwrap();
        assert_eq!(changes, "one\ntwo\nthree\n", "{id}: a stage's changes were applied twice or lost");
    }

    // Every workflow event once: the same types and counts for each workflow, whatever crashed.
    let expected: BTreeMap<String, usize> = [
        ("workflow.started", 1),
        ("tests.completed", 2), // the baseline and stage three
        ("stage.started", 3),
        ("snapshot.created", 3),
        ("cost.updated", 3),
        ("stage.completed", 3),
        ("workflow.completed", 1),
    ]
    .into_iter()
    .map(|(kind, n)| (kind.to_owned(), n))
    .collect();
    let mut progress_events = 0;
    for id in &ids {
        let mut counts = events_once(&stack, id);
        // The executors' progress and live figures are best-effort: an executor killed with
        // them buffered loses them.
        progress_events += counts.remove("agent.progress").unwrap_or(0);
        progress_events += counts.remove("cost.updated (running)").unwrap_or(0);
        assert_eq!(counts, expected, "{id}: workflow events missing or doubled");
    }

    // One metrics line per completed stage, once the sink has taken everything in the stream.
    stack.nats.wait_until_consumed("ct-metrics-sink", Duration::from_secs(60)).await.expect("the sink catches up");
    let mut lines: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&metrics_file).unwrap().lines() {
        let line: serde_json::Value = serde_json::from_str(line).expect("a metrics line is JSON");
        let key = (line["workflow_id"].as_str().unwrap().to_owned(), line["stage"].as_str().unwrap().to_owned());
        *lines.entry(key).or_default() += 1;
    }
    assert_eq!(lines.len(), WORKFLOWS * STAGES.len(), "a stage without its metrics line");
    assert!(lines.values().all(|&n| n == 1), "a stage with two metrics lines: {lines:?}");

    let agent_runs = stack.model.requests().iter().filter(|r| r.turn == 0).count();
    eprintln!(
        "chaos: {WORKFLOWS} workflows x {} stages completed in {:.1} s; kills {kills:?}; {retries} stage attempts retried; \
         {agent_runs} agent runs reached the model; {progress_events} progress and live cost events reached the stream",
        STAGES.len(),
        wall.as_secs_f64()
    );
    assert_eq!(kills.len(), 3, "the workflows finished before a whole round of crashes: {kills:?}");
}
