use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ct_domain::WorkflowStatus;
use ct_events::testing::NatsServer;
use ct_scripted_model::{Scenario, ScriptedModel};
use ct_service::{TemporalTarget, connect_client};
use ct_worker::workflows::DevelopWorkflow;
use temporalio_client::{Client, WorkflowFetchHistoryOptions};

use crate::paths::{bin, tool};
use crate::process::{Service, free_port};

/// The variable that sets how long an agent run may go without a heartbeat.
const HEARTBEAT_TIMEOUT_VAR: &str = "CLAUDE_HEARTBEAT_TIMEOUT";

pub struct StackOptions {
    pub scenario: Scenario,
    /// Seconds before another worker may take a dead worker's workflows.
    pub sticky_timeout_secs: u64,
    /// Executors polling the agents queue.
    pub executors: usize,
    /// Agent runs each executor takes at once.
    pub executor_capacity: usize,
    /// Variables every process of the stack (and the CLI) gets, e.g. `OTEL_*`.
    pub env: Vec<(String, String)>,
    /// The dev server's dynamic config (`KEY=VALUE`), e.g. a lower history size at which
    /// Temporal suggests continue-as-new.
    pub temporal_config: Vec<String>,
}

impl StackOptions {
    pub fn new(scenario: Scenario) -> Self {
        // A run whose executor was killed is taken over after 5 s instead of the 45 s default,
        // so that tests that kill executors do not wait for minutes.
        let env = vec![(HEARTBEAT_TIMEOUT_VAR.to_owned(), "5".to_owned())];
        Self { scenario, sticky_timeout_secs: 10, executors: 1, executor_capacity: 4, env, temporal_config: Vec::new() }
    }

    /// Runs with the product's default heartbeat timeout (45 s) instead of the tests' 5 s.
    pub fn default_heartbeat_timeout(mut self) -> Self {
        self.env.retain(|(name, _)| name != HEARTBEAT_TIMEOUT_VAR);
        self
    }
}

/// The processes of one build of the fleet apart from the stack ([`Stack::start_build`],
/// [`Stack::take_own_build`]); dropped, they stop.
pub struct OtherBuild {
    worker: Service,
    executors: Vec<Executor>,
    test_runner: Service,
}

impl OtherBuild {
    /// Stops every process of the build as an orchestrator would (SIGTERM, then the grace
    /// period), the worker last.
    pub fn stop(mut self) {
        for executor in &mut self.executors {
            executor.service.terminate(Duration::from_secs(15));
        }
        self.test_runner.terminate(Duration::from_secs(15));
        self.worker.terminate(Duration::from_secs(15));
    }
}

/// Which binaries a build's worker and executors run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binaries {
    /// The workspace's.
    Built,
    /// The upgrade rehearsal's ([`crate::rehearsal_bin`]): another workflow and contract.
    UpgradeRehearsal,
}

impl Binaries {
    fn path(self, name: &str) -> PathBuf {
        match self {
            Binaries::Built => bin(name),
            Binaries::UpgradeRehearsal => crate::rehearsal_bin(name),
        }
    }
}

/// One executor process of the stack.
pub struct Executor {
    service: Service,
    /// Its control API port.
    pub port: u16,
    pub log: PathBuf,
}

impl Executor {
    pub fn pid(&self) -> u32 {
        self.service.pid()
    }
}

/// The whole system on loopback: Temporal, the scripted model (in-process),
/// executor, test-runner and worker (real binaries).
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub temporal_port: u16,
    pub model: ScriptedModel,
    /// Where the worker publishes events; tests may restart it.
    pub nats: NatsServer,
    temporal: Option<Service>,
    pub executors: Vec<Executor>,
    test_runner: Option<Service>,
    worker: Option<Service>,
    /// The control API's token file every executor and test-runner requires.
    pub control_token_file: PathBuf,
    pub test_runner_port: u16,
    sticky_timeout_secs: u64,
    executor_capacity: usize,
    /// See [`StackOptions::env`].
    pub env: Vec<(String, String)>,
    temporal_config: Vec<String>,
    worker_starts: u32,
    executor_starts: u32,
    temporal_starts: u32,
}

/// An event's type without the `dev.claude-temporal.` prefix; the executors' running
/// `cost.updated` figures are `cost.updated (running)`, apart from the workflow's final ones.
pub fn event_kind(event: &serde_json::Value) -> String {
    let mut kind = event["type"].as_str().unwrap_or_default().trim_start_matches("dev.claude-temporal.").to_owned();
    if event["data"]["running"] == true {
        kind.push_str(" (running)");
    }
    kind
}

pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

impl Stack {
    pub async fn start(options: StackOptions) -> Stack {
        let dir = tempfile::Builder::new().prefix("ct-e2e-stack-").tempdir().expect("tempdir");
        let temporal_port = free_port();
        let model = ScriptedModel::start(options.scenario).await.expect("scripted model starts");
        let nats = NatsServer::start();
        let control_token_file = dir.path().join("control.token");
        ct_fleet::ControlToken::create(&control_token_file).expect("control token");

        let mut stack = Stack {
            temporal_port,
            model,
            nats,
            temporal: None,
            executors: Vec::new(),
            test_runner: None,
            worker: None,
            control_token_file,
            test_runner_port: 0,
            sticky_timeout_secs: options.sticky_timeout_secs,
            executor_capacity: options.executor_capacity,
            env: options.env,
            temporal_config: options.temporal_config,
            worker_starts: 0,
            executor_starts: 0,
            temporal_starts: 0,
            dir,
        };
        stack.start_temporal();
        stack.wait_for_temporal().await;

        let (test_runner, port) = stack.spawn_test_runner("test-runner", &[]);
        stack.test_runner_port = port;
        stack.test_runner = Some(test_runner);
        for _ in 0..options.executors {
            stack.start_executor();
        }
        stack.start_worker();
        stack
    }

    /// Starts the Temporal dev server on the stack's port and database (again, after
    /// [`Stack::stop_temporal`]: its history survives).
    pub fn start_temporal(&mut self) {
        self.temporal_starts += 1;
        let mut temporal_cmd = Command::new(tool("temporal"));
        temporal_cmd
            .args(["server", "start-dev", "--headless", "--ip", "127.0.0.1", "--log-level", "warn"])
            .args(["--port", &self.temporal_port.to_string()])
            .arg("--db-filename")
            .arg(self.dir.path().join("temporal.db"));
        for value in &self.temporal_config {
            temporal_cmd.args(["--dynamic-config-value", value]);
        }
        let log = self.dir.path().join(format!("temporal-{}.log", self.temporal_starts));
        self.temporal = Some(Service::spawn("temporal", temporal_cmd, &log));
    }

    /// Stops the dev server (SIGTERM), as an outage would cut it off.
    pub fn stop_temporal(&mut self) {
        if let Some(mut temporal) = self.temporal.take() {
            temporal.stop();
        }
    }

    /// Starts one more executor and waits until it polls.
    pub fn start_executor(&mut self) -> &Executor {
        let executor = self.spawn_executor(Binaries::Built, &[]);
        self.executors.push(executor);
        self.executors.last().expect("just pushed")
    }

    /// An executor of `binaries` with the stack's settings and `extra` variables, polling.
    fn spawn_executor(&mut self, binaries: Binaries, extra: &[(String, String)]) -> Executor {
        self.executor_starts += 1;
        let n = self.executor_starts;
        let port_file = self.dir.path().join(format!("executor-{n}.port"));
        let log = self.dir.path().join(format!("executor-{n}.log"));
        let mut command = Command::new(binaries.path("ct-executor"));
        command
            .args(["--listen", "127.0.0.1:0", "--max-concurrent", &self.executor_capacity.to_string()])
            .args(["--temporal-address", &self.temporal_address()])
            .args(["--nats-url", &self.nats.url()])
            .arg("--port-file")
            .arg(&port_file)
            .arg("--control-token-file")
            .arg(&self.control_token_file)
            .arg("--workspace-root")
            .arg(std::env::temp_dir())
            .arg("--state-dir")
            .arg(self.dir.path().join(format!("executor-{n}")))
            .arg("--transcript-dir")
            .arg(self.dir.path().join("transcripts"))
            .arg("--claude-bin")
            .arg(tool("claude"))
            .arg("--commands-dir")
            .arg(crate::paths::workspace_root().join(".claude/commands"))
            .arg("--hook-bin")
            .arg(bin("claude-temporal"))
            .env("ANTHROPIC_BASE_URL", self.model.base_url())
            .env("ANTHROPIC_API_KEY", "e2e-test-key")
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
            .envs(self.env.clone())
            .envs(extra.iter().cloned());
        let mut service = Service::spawn(&format!("executor-{n}"), command, &log);
        let port = wait_for_port_file(&mut service, &port_file, &log);
        Executor { service, port, log }
    }

    /// A test-runner named `name` with the stack's settings and `extra` variables, polling, and
    /// its control port.
    fn spawn_test_runner(&self, name: &str, extra: &[(String, String)]) -> (Service, u16) {
        let port_file = self.dir.path().join(format!("{name}.port"));
        let log = self.dir.path().join(format!("{name}.log"));
        let mut command = Command::new(bin("ct-test-runner"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(["--temporal-address", &self.temporal_address()])
            .arg("--port-file")
            .arg(&port_file)
            .arg("--control-token-file")
            .arg(&self.control_token_file)
            .arg("--workspace-root")
            .arg(std::env::temp_dir())
            .env("PATH", path_with_tools())
            .envs(self.env.clone())
            .envs(extra.iter().cloned());
        let mut service = Service::spawn(name, command, &log);
        let port = wait_for_port_file(&mut service, &port_file, &log);
        (service, port)
    }

    /// Starts another build of the fleet beside the stack's own: a worker and an executor of
    /// `binaries` and a test-runner, polling as build `build_id` (`CT_BUILD_ID`). They stop
    /// when it is dropped.
    pub fn start_build(&mut self, build_id: &str, binaries: Binaries) -> OtherBuild {
        let extra = [("CT_BUILD_ID".to_owned(), build_id.to_owned())];
        let executor = self.spawn_executor(binaries, &extra);
        let (test_runner, _) = self.spawn_test_runner(&format!("test-runner-{build_id}"), &extra);
        let outbox = self.dir.path().join(format!("worker-{build_id}-events.outbox"));
        let worker = self.spawn_worker(binaries, &format!("worker-{build_id}"), &outbox, &extra);
        OtherBuild { worker, executors: vec![executor], test_runner }
    }

    /// The stack's own worker, executors and test-runner, taken out of it to be stopped as one
    /// build.
    pub fn take_own_build(&mut self) -> OtherBuild {
        OtherBuild {
            worker: self.worker.take().expect("the stack's worker runs"),
            executors: std::mem::take(&mut self.executors),
            test_runner: self.test_runner.take().expect("the stack's test-runner runs"),
        }
    }

    /// SIGKILLs executor `index`, as a crash would.
    pub fn kill_executor(&mut self, index: usize) {
        self.executors[index].service.kill_hard();
    }

    /// SIGTERMs executor `index`, as an orchestrator stopping it would, and waits up to
    /// `within` for it to exit; `None` if it did not.
    pub fn terminate_executor(&mut self, index: usize, within: Duration) -> Option<std::process::ExitStatus> {
        self.executors[index].service.terminate(within)
    }

    /// Waits until the dev server answers. The dev server picks its HTTP and internal ports
    /// itself, between choosing one and binding it another test's process may take it; a
    /// server that died that way is started again (on the same gRPC port, which is ours).
    pub async fn wait_for_temporal(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut restarts = 0;
        loop {
            if self.client_once().await.is_ok() {
                return;
            }
            let log = self.dir.path().join(format!("temporal-{}.log", self.temporal_starts));
            let died = self.temporal.as_mut().is_some_and(Service::has_exited);
            // Its panic's stack trace fills the tail; the reason is above it.
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let port_taken = text.contains("address already in use");
            if died && restarts < 3 && port_taken {
                restarts += 1;
                // Our own gRPC port taken (between `free_port` and the bind) at the first start,
                // when nothing uses the address yet: another port does as well.
                if text.contains("can't set frontend port") && self.temporal_starts == restarts {
                    self.temporal_port = free_port();
                }
                self.start_temporal();
                continue;
            }
            assert!(
                !died && Instant::now() < deadline,
                "Temporal dev server not ready in 30s (exited: {died}); log:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A gateway (`ct-gateway`) talking to the stack's Temporal with `args` besides, listening on
    /// a free loopback port; its process (stopped when dropped) and port.
    pub fn spawn_gateway(&self, args: &[&str]) -> (Service, u16) {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let port_file = self.dir.path().join(format!("gateway-{n}.port"));
        let log = self.dir.path().join(format!("gateway-{n}.log"));
        let mut command = Command::new(bin("ct-gateway"));
        command
            .args(["--listen", "127.0.0.1:0", "--temporal-address", &self.temporal_address()])
            .args(["--nats-url", &self.nats.url()])
            .arg("--port-file")
            .arg(&port_file)
            .args(args)
            .envs(self.env.clone());
        let mut service = Service::spawn("gateway", command, &log);
        let port = wait_for_port_file(&mut service, &port_file, &log);
        (service, port)
    }

    fn temporal_address(&self) -> String {
        format!("127.0.0.1:{}", self.temporal_port)
    }

    async fn client_once(&self) -> anyhow::Result<Client> {
        let client =
            connect_client(&TemporalTarget { address: self.temporal_address(), namespace: "default".into() }, "ct-e2e")
                .await?;
        Ok(client)
    }

    pub async fn client(&self) -> Client {
        self.client_once().await.expect("Temporal client")
    }

    /// Starts a worker process and waits until it polls.
    pub fn start_worker(&mut self) {
        self.worker_starts += 1;
        let name = format!("worker-{}", self.worker_starts);
        // The same file across restarts: a killed worker's successor publishes what it left.
        let outbox = self.dir.path().join("worker-events.outbox");
        let worker = self.spawn_worker(Binaries::Built, &name, &outbox, &[]);
        self.worker = Some(worker);
    }

    /// A worker of `binaries` named `name` with the stack's settings, `outbox` and `extra`
    /// variables, polling.
    fn spawn_worker(&self, binaries: Binaries, name: &str, outbox: &Path, extra: &[(String, String)]) -> Service {
        let log = self.dir.path().join(format!("{name}.log"));
        let mut command = Command::new(binaries.path("ct-worker"));
        command
            .args(["--temporal-address", &self.temporal_address()])
            .args(["--sticky-timeout-secs", &self.sticky_timeout_secs.to_string()])
            .args(["--nats-url", &self.nats.url()])
            .arg("--events-outbox")
            .arg(outbox)
            .envs(self.env.clone())
            .envs(extra.iter().cloned());
        let mut worker = Service::spawn("worker", command, &log);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("worker started") {
            assert!(Instant::now() < deadline, "worker did not start; log:\n{}", tail(&log));
            assert!(!worker.has_exited(), "worker exited at start-up; log:\n{}", tail(&log));
            std::thread::sleep(Duration::from_millis(100));
        }
        worker
    }

    /// SIGKILLs the worker, as a crash would.
    pub fn kill_worker(&mut self) {
        if let Some(mut worker) = self.worker.take() {
            worker.kill_hard();
        }
    }

    /// The worker process, while it runs.
    pub fn worker_pid(&self) -> Option<u32> {
        self.worker.as_ref().map(Service::pid)
    }

    /// The test-runner process, while it runs.
    pub fn test_runner_pid(&self) -> Option<u32> {
        self.test_runner.as_ref().map(Service::pid)
    }

    pub fn executor_pid(&self) -> u32 {
        self.executors[0].pid()
    }

    /// Runs the real `claude-temporal` binary against this stack.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let output = Command::new(bin("claude-temporal"))
            .args(args)
            .env("TEMPORAL_ADDRESS", self.temporal_address())
            .env("NATS_URL", self.nats.url())
            .env("CT_CONTROL_TOKEN_FILE", &self.control_token_file)
            .env_remove("CT_CONTROL_TOKEN")
            .env_remove("TEMPORAL_NAMESPACE")
            .env_remove("TEMPORAL_TASK_QUEUE")
            .envs(self.env.clone())
            .output()
            .expect("claude-temporal runs");
        CliOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// How many events of each type (without the `dev.claude-temporal.` prefix) workflow `id`
    /// published, as `watch --json` replays them once the workflow has ended; the executors'
    /// running `cost.updated` figures count as `cost.updated (running)`.
    pub fn event_counts(&self, id: &str) -> std::collections::BTreeMap<String, usize> {
        let watch = self.cli(&["watch", id, "--json"]);
        assert_eq!(watch.code, 0, "watch {id}: {}", watch.stderr);
        let mut counts = std::collections::BTreeMap::new();
        for line in watch.stdout.lines() {
            let event: serde_json::Value = serde_json::from_str(line).expect("CloudEvents JSON");
            assert_eq!(event["data"]["workflow_id"], id, "{event}");
            *counts.entry(event_kind(&event)).or_default() += 1;
        }
        counts
    }

    /// Polls `status --json` until `done` holds for it.
    pub fn wait_for_status(&self, id: &str, what: &str, done: impl Fn(&WorkflowStatus) -> bool) -> WorkflowStatus {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = self.cli(&["status", id, "--json"]);
            let last = if out.code == 0 {
                let status: WorkflowStatus = serde_json::from_str(&out.stdout).expect("status JSON");
                if done(&status) {
                    return status;
                }
                out.stdout
            } else {
                out.stderr
            };
            assert!(Instant::now() < deadline, "timed out waiting for {what}; last status:\n{last}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Replays the workflow's recorded history against the current workflow code
    /// and returns the history JSON (for fixtures).
    pub async fn replay(&self, id: &str) -> Vec<u8> {
        let json = self.history(id).await;
        let replayer = crate::fixtures::replayer();
        let history = temporalio_client::WorkflowHistory::from_json(&json).expect("history JSON");
        replayer
            .replay_workflow(history)
            .await
            .unwrap_or_else(|e| panic!("workflow `{id}` does not replay against the current code: {e}"));
        json
    }

    /// Workflow `id`'s history (of its newest run), as JSON.
    pub async fn history(&self, id: &str) -> Vec<u8> {
        let client = self.client().await;
        client
            .get_workflow_handle::<DevelopWorkflow>(id)
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .to_json()
            .await
            .expect("history")
    }

    /// The `result` line of every agent run, as the CLI printed it.
    pub fn reported_results(&self) -> Vec<serde_json::Value> {
        let dir = self.dir.path().join("transcripts");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|file| {
                std::fs::read_to_string(file)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                    .find(|value| value["type"] == "result")
            })
            .collect()
    }

    /// The tail of every log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "log")) {
            out.push_str(&format!("\n==== {} ====\n{}", path.display(), tail(path)));
        }
        out
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(mut worker) = self.worker.take() {
            worker.stop();
        }
        for executor in &mut self.executors {
            executor.service.stop();
        }
        if let Some(mut test_runner) = self.test_runner.take() {
            test_runner.stop();
        }
        if let Some(mut temporal) = self.temporal.take() {
            temporal.stop();
        }
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn wait_for_port_file(service: &mut Service, path: &Path, log: &Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(port) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()) {
            return port;
        }
        assert!(!service.has_exited(), "{} exited at start-up; log:\n{}", service.name, tail(log));
        assert!(Instant::now() < deadline, "{} not written in 30s; log:\n{}", path.display(), tail(log));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PATH with the project's tools first, so the test-runner finds pytest.
fn path_with_tools() -> String {
    let root = crate::paths::workspace_root();
    let mut paths = vec![root.join(".tools/venv/bin")];
    if let Some(existing) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).expect("PATH").to_string_lossy().into_owned()
}
