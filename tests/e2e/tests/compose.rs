//! The compose stack for real: `docker-compose.yml` brought up with 3 executors and 2
//! test-runners on its own network, a develop workflow and a parallel workflow of four features
//! run on projects in the shared workspace with the real Claude Code CLI in the executor image
//! (the scripted model reached through ANTHROPIC_BASE_URL), one executor container killed while
//! it runs an agent, and `down -v` leaving nothing behind.
//!
//! Needs a Docker engine and the images: run it with `cargo xtask compose-test`, which installs
//! and starts Docker where needed and builds the images first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{bin, example, free_port, git, git_project_at, workspace_root};
use serde_json::json;

const EXECUTORS: usize = 3;
const TEST_RUNNERS: usize = 2;
const FEATURES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
/// The uid the services run as (the images' `ct` user); the workspace belongs to it.
const SERVICE_UID: &str = "10001";

fn docker() -> Command {
    Command::new(std::env::var("DOCKER").unwrap_or_else(|_| "docker".to_owned()))
}

fn run(mut command: Command, what: &str) -> Output {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The develop scenario plus one script per parallel feature; each feature's agent takes three
/// seconds over its first turn, so there is an agent to kill.
fn scenario() -> serde_json::Value {
    let develop: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example("scenarios/develop-textstats.json")).unwrap()).unwrap();
    let mut scripts: Vec<serde_json::Value> = FEATURES
        .iter()
        .map(|feature| {
            json!({ "name": feature, "match": format!("Feature: {feature}\n"), "turns": [
                { "text": format!("Adding {feature}."), "delay_ms": 3000,
                  "tool_uses": [
                      { "name": "Write", "input": { "file_path": format!("{{cwd}}/textstats/{feature}.py"),
                        "content": "def count(text):\n    return len(text)\n" } },
                      { "name": "Write", "input": { "file_path": format!("{{cwd}}/tests/test_{feature}.py"),
                        "content": format!("from textstats.{feature} import count\n\n\ndef test_{feature}():\n    assert count('') == 0\n") } }
                  ],
                  "usage": { "input_tokens": 200, "output_tokens": 50 } },
                { "text": "Done.", "usage": { "input_tokens": 20, "output_tokens": 5 } }
            ]})
        })
        .collect();
    scripts.extend(develop["scripts"].as_array().unwrap().iter().cloned());
    json!({ "scripts": scripts })
}

/// A compose project of its own (`ct-compose-<pid>`), torn down with its volumes on drop.
struct ComposeStack {
    project: String,
    env: BTreeMap<String, String>,
    workspace: PathBuf,
    /// The files `scripts/make-secrets.sh` made: outside the workspace, which runs can read.
    secrets: PathBuf,
}

impl ComposeStack {
    fn compose(&self, args: &[&str]) -> Command {
        let program = std::env::var("COMPOSE").unwrap_or_else(|_| "docker-compose".to_owned());
        let mut words = program.split_whitespace();
        let mut command = Command::new(words.next().expect("COMPOSE names a program"));
        command
            .args(words)
            .args(["-p", &self.project, "-f", "docker-compose.yml", "-f", "deploy/compose.scripted-model.yml"])
            .args(args)
            .current_dir(workspace_root())
            .envs(&self.env);
        command
    }

    /// `service state health` of every container of the project.
    fn containers(&self) -> Vec<(String, String, String)> {
        let mut ps = docker();
        ps.args(["ps", "-a", "--filter", &format!("label=com.docker.compose.project={}", self.project)])
            .args(["--format", "{{.Label \"com.docker.compose.service\"}} {{.ID}} {{.Status}}"]);
        stdout(&run(ps, "docker ps"))
            .lines()
            .map(|line| {
                let mut words = line.splitn(3, ' ');
                let service = words.next().unwrap_or_default().to_owned();
                let id = words.next().unwrap_or_default().to_owned();
                (service, id, words.next().unwrap_or_default().to_owned())
            })
            .collect()
    }

    fn wait_healthy(&self, expected: usize, deadline: Duration) {
        let start = Instant::now();
        loop {
            let containers = self.containers();
            let healthy = containers.iter().filter(|(_, _, status)| status.contains("(healthy)")).count();
            if containers.len() == expected && healthy == expected {
                eprintln!("compose: {expected} containers healthy after {:.1?}", start.elapsed());
                return;
            }
            assert!(start.elapsed() < deadline, "not all healthy after {deadline:?}: {containers:#?}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn logs(&self) -> String {
        self.compose(&["logs", "--no-color", "--tail", "40"]).output().map(|out| stdout(&out)).unwrap_or_default()
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin("claude-temporal"))
            .args(args)
            .env("TEMPORAL_ADDRESS", format!("127.0.0.1:{}", self.env["TEMPORAL_PORT"]))
            .env("NATS_URL", format!("nats://127.0.0.1:{}", self.env["NATS_PORT"]))
            .env("CT_CONTROL_TOKEN_FILE", self.secrets.join("control_token"))
            .env("NATS_USER", "cli")
            .env("NATS_PASSWORD_FILE", self.secrets.join("nats_cli"))
            .env("CT_WORKSPACE_ROOTS", &self.workspace)
            .env("CT_STATE_DIR", self.workspace.join(".cli-state"))
            .env("METRICS_FILE", self.workspace.join(".cli-state/metrics.jsonl"))
            // The projects belong to the services' uid, not to this test's user: a HOME whose
            // git config trusts them (git and libgit2 both read it).
            .env("HOME", self.workspace.join(".cli-home"))
            .current_dir(&self.workspace)
            .output()
            .expect("claude-temporal runs")
    }

    fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "claude-temporal {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", stdout(&out)))
    }

    fn status(&self, id: &str) -> WorkflowStatus {
        serde_json::from_value(self.cli_json(&["status", id, "--json"])).expect("status JSON")
    }

    fn wait_for(&self, id: &str, what: &str, done: impl Fn(&WorkflowStatus) -> bool) -> WorkflowStatus {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let status = self.status(id);
            if done(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "{id}: no {what} within 180 s: {status:#?}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "--timeout", "5"]).output();
    }
}

/// A copy of examples/textstats as a git repository in the workspace.
fn project_in(workspace: &Path, name: &str) -> PathBuf {
    let dir = workspace.join(name);
    git_project_at(&example("textstats"), &dir);
    dir
}

fn chown_to_services(dir: &Path) {
    let mut chown = Command::new("chown");
    chown.args(["-R", &format!("{SERVICE_UID}:{SERVICE_UID}")]).arg(dir);
    run(chown, "chown the workspace");
}

fn project_label_resources(kind: &str, project: &str) -> Vec<String> {
    let mut ls = docker();
    ls.args([kind, "ls", "-q", "--filter", &format!("label=com.docker.compose.project={project}")]);
    stdout(&run(ls, "docker ls")).lines().map(str::to_owned).collect()
}

#[test]
#[ignore = "needs Docker and the images: run by `cargo xtask compose-test`"]
fn the_compose_stack_runs_workflows_over_scaled_executors_and_survives_losing_one() {
    let workspace = tempfile::Builder::new().prefix("ct-compose-ws").tempdir_in("/tmp").unwrap();
    let root = workspace.path().canonicalize().unwrap();
    std::fs::write(root.join("scenario.json"), scenario().to_string()).unwrap();
    let develop_project = project_in(&root, "develop-project");
    let parallel_project = project_in(&root, "parallel-project");
    chown_to_services(&root);
    std::fs::create_dir_all(root.join(".cli-home")).unwrap();
    std::fs::write(root.join(".cli-home/.gitconfig"), "[safe]\n\tdirectory = *\n").unwrap();

    let secrets_dir = tempfile::Builder::new().prefix("ct-compose-secrets").tempdir_in("/tmp").unwrap();
    let secrets = secrets_dir.path().join("secrets");
    let mut make_secrets = Command::new(workspace_root().join("scripts/make-secrets.sh"));
    make_secrets.arg(&secrets);
    run(make_secrets, "make the secrets");

    let project = format!("ct-compose-{}", std::process::id());
    let env = BTreeMap::from([
        ("CT_WORKSPACE".to_owned(), root.display().to_string()),
        ("CT_SECRETS".to_owned(), secrets.display().to_string()),
        ("CT_SCENARIO".to_owned(), root.join("scenario.json").display().to_string()),
        ("TEMPORAL_PORT".to_owned(), free_port().to_string()),
        ("TEMPORAL_UI_PORT".to_owned(), free_port().to_string()),
        ("NATS_PORT".to_owned(), free_port().to_string()),
        ("METRICS_PORT".to_owned(), free_port().to_string()),
        ("GATEWAY_PORT".to_owned(), free_port().to_string()),
        ("EXECUTOR_MAX_CONCURRENT".to_owned(), "2".to_owned()),
    ]);
    let stack = ComposeStack { project: project.clone(), env, workspace: root.clone(), secrets: secrets.clone() };

    let started = Instant::now();
    run(
        stack.compose(&[
            "up",
            "-d",
            "--no-build",
            "--scale",
            &format!("executor={EXECUTORS}"),
            "--scale",
            &format!("test-runner={TEST_RUNNERS}"),
        ]),
        "compose up",
    );
    // temporal, nats, scripted-model, worker, notifier, metrics-sink, gateway, and the scaled two.
    stack.wait_healthy(7 + EXECUTORS + TEST_RUNNERS, Duration::from_secs(240));
    eprintln!("compose: stack up in {:.1?}", started.elapsed());

    // Every replica polls its queue, and the fleet view reaches each one's control API.
    let reachable = |fleet: &serde_json::Value, kind: &str| -> usize {
        fleet["queues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["kind"] == kind)
            .flat_map(|q| q["members"].as_array().unwrap().iter())
            .filter(|m| m["reachable"] == true)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Temporal lists a poller once its first poll has arrived, a moment after it is healthy.
        let fleet = stack.cli_json(&["fleet", "--json"]);
        if reachable(&fleet, "agents") == EXECUTORS && reachable(&fleet, "tests") == TEST_RUNNERS {
            break;
        }
        assert!(Instant::now() < deadline, "the fleet never listed every replica: {fleet:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // Every replica confines its runs in namespaces with Landlock (CT_SANDBOX=required).
    let fleet = stack.cli_json(&["fleet", "--json"]);
    for member in fleet["queues"].as_array().unwrap().iter().flat_map(|q| q["members"].as_array().unwrap()) {
        let confinement = member["confinement"].as_str().unwrap_or_default();
        assert!(confinement.starts_with("bwrap+landlock-v"), "{member:#}");
    }
    // Inside the network (where a host cannot reach the replicas, as on Docker Desktop), the
    // CLI in an executor container sees the same fleet with the token it was given.
    let inside =
        run(stack.compose(&["exec", "-T", "executor", "claude-temporal", "fleet", "--json"]), "fleet in a container");
    let inside: serde_json::Value = serde_json::from_slice(&inside.stdout).expect("fleet --json in a container");
    assert_eq!(reachable(&inside, "agents"), EXECUTORS, "{inside:#}");

    let develop = stack.cli_json(&[
        "start",
        develop_project.to_str().unwrap(),
        "--features",
        "word counts",
        "streaming counts",
        "--json",
    ]);
    let develop_id = develop["workflow_id"].as_str().unwrap().to_owned();
    let mut parallel_args = vec!["parallel", parallel_project.to_str().unwrap()];
    parallel_args.extend(FEATURES);
    parallel_args.push("--json");
    let parallel_id = stack.cli_json(&parallel_args)["workflow_id"].as_str().unwrap().to_owned();

    // Kill the container of an executor while it runs one of the features' agents, as the
    // fleet view (each executor's own list of runs in flight) shows it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let victim = loop {
        let fleet = stack.cli_json(&["fleet", "--json"]);
        let busy = fleet["queues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["kind"] == "agents")
            .flat_map(|q| q["members"].as_array().unwrap().iter())
            .find(|m| {
                m["runs"].as_array().is_some_and(|runs| {
                    runs.iter().any(|r| r["workflow_id"].as_str().is_some_and(|w| w.starts_with(&parallel_id)))
                })
            });
        if let Some(member) = busy {
            break member["identity"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no executor ever ran a feature's agent: {fleet:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let victim_host = victim.split(':').nth(1).expect("identity names its host").to_owned();
    let mut kill = docker();
    kill.args(["kill", &victim_host]);
    run(kill, "docker kill an executor");
    let killed_at = Instant::now();
    eprintln!("compose: killed executor container {victim_host} while it ran a feature's agent");

    stack.wait_for(&develop_id, "approval gate", |s| s.awaiting_approval.as_deref() == Some("core-implementation"));
    let approve = stack.cli(&["approve", &develop_id]);
    assert!(approve.status.success(), "{}", String::from_utf8_lossy(&approve.stderr));

    let parallel: WorkflowStatus = serde_json::from_value(stack.cli_json(&["result", &parallel_id, "--json"])).unwrap();
    eprintln!("compose: parallel workflow completed {:.1?} after the kill", killed_at.elapsed());
    let develop: WorkflowStatus = serde_json::from_value(stack.cli_json(&["result", &develop_id, "--json"])).unwrap();

    assert_eq!(parallel.state, RunState::Completed, "{parallel:#?}\n{}", stack.logs());
    assert_eq!(develop.state, RunState::Completed, "{develop:#?}\n{}", stack.logs());
    for stage in parallel.stages.iter().chain(&develop.stages) {
        assert_eq!(stage.state, StageState::Completed, "{stage:#?}");
        assert_eq!(stage.tests_failed.unwrap_or(0), 0, "{stage:#?}");
    }
    let tested = parallel.stages.iter().chain(&develop.stages).filter(|st| st.tests_passed.unwrap_or(0) > 0).count();
    assert!(tested >= FEATURES.len(), "the test-runner containers ran each feature's tests: {parallel:#?}");
    let reruns: Vec<_> = parallel.stages.iter().filter(|st| st.lost_runs >= 1).collect();
    assert!(!reruns.is_empty(), "the killed executor's run was retried: {parallel:#?}");
    for rerun in reruns {
        assert_ne!(rerun.executor_id.as_deref(), Some(victim.as_str()), "retried elsewhere: {rerun:#?}");
    }
    for feature in FEATURES {
        let branch = format!("feature-{}-{feature}", FEATURES.iter().position(|f| *f == feature).unwrap() + 1);
        // The project belongs to the services' uid now; git would refuse it to anyone else.
        let file =
            git(&parallel_project, &["-c", "safe.directory=*", "show", &format!("{branch}:textstats/{feature}.py")]);
        assert!(file.contains("def count"), "{branch} holds the agent's module");
    }
    assert!(develop_project.join("textstats/stream.py").exists(), "the develop agents wrote the streaming module");
    let executors: BTreeSet<&str> =
        parallel.stages.iter().chain(&develop.stages).filter_map(|st| st.executor_id.as_deref()).collect();
    eprintln!("compose: runs spread over {} executors: {executors:?}", executors.len());
    assert!(executors.len() >= 2, "{executors:?}");

    // The metrics-sink recorded the stages and publishes them on the host's loopback, and the
    // notifier told of the workflows: both read the events with credentials that only read.
    let metrics = http_get(&format!("http://127.0.0.1:{}/metrics", stack.env["METRICS_PORT"]));
    assert!(metrics.contains("ct_stages_total"), "{metrics}");
    let notifier_log = stdout(&run(stack.compose(&["logs", "--no-color", "notifier"]), "notifier logs"));
    assert!(notifier_log.contains(&develop_id), "the notifier saw no event of {develop_id}:\n{notifier_log}");
    nats_refuses_whoever_lacks_the_right(&stack);

    run(stack.compose(&["down", "-v", "--remove-orphans", "--timeout", "5"]), "compose down");
    for kind in ["container", "network", "volume"] {
        let left = project_label_resources(kind, &project);
        assert!(left.is_empty(), "{kind}s left behind: {left:?}");
    }
    eprintln!("compose: whole test {:.1?}", started.elapsed());
}

/// What NATS lets a client do without the right credentials: with none it cannot even connect;
/// with the notifier's (read-only) it can neither publish an event nor open the checkpoints.
fn nats_refuses_whoever_lacks_the_right(stack: &ComposeStack) {
    let url = format!("nats://127.0.0.1:{}", stack.env["NATS_PORT"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let anonymous = async_nats::ConnectOptions::new().connect(&url).await;
        assert!(anonymous.is_err(), "NATS let a client in without credentials");

        let login =
            ct_events::NatsLogin::load(Some("notifier"), Some(&stack.secrets.join("nats_notifier"))).unwrap().unwrap();
        let client = ct_events::connect(&url, Some(&login), "compose-test-reader").await.unwrap();
        let mut jetstream = async_nats::jetstream::new(client);
        jetstream.set_timeout(Duration::from_secs(3));
        // A forged event: NATS drops it, so no acknowledgement ever comes.
        let forged = async { jetstream.publish("ct.events.forged.workflow.completed", "{}".into()).await?.await };
        assert!(forged.await.is_err(), "a reader published an event");
        let bucket = jetstream.get_object_store(ct_contracts::names::CHECKPOINT_BUCKET).await;
        assert!(bucket.is_err(), "a reader opened the checkpoint bucket");
        eprintln!("compose: NATS refused the anonymous client, and a reader's event and checkpoint access");
    });
}

/// A plain HTTP/1.0 GET on loopback, without adding an HTTP client to the test crate.
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}
