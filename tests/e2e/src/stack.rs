use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ct_domain::WorkflowStatus;
use ct_events::testing::NatsServer;
use ct_scripted_model::{Scenario, ScriptedModel};
use ct_worker::workflows::DevelopWorkflow;
use ct_worker::{TemporalTarget, connect_client};
use temporalio_client::{Client, WorkflowFetchHistoryOptions};

use crate::paths::{bin, tool};
use crate::process::{Service, free_port};

pub struct StackOptions {
    pub scenario: Scenario,
    /// Seconds before another worker may take a dead worker's workflows.
    pub sticky_timeout_secs: u64,
}

impl StackOptions {
    pub fn new(scenario: Scenario) -> Self {
        Self { scenario, sticky_timeout_secs: 10 }
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
    temporal: Service,
    executor: Service,
    test_runner: Service,
    worker: Option<Service>,
    executor_port: u16,
    test_runner_port: u16,
    sticky_timeout_secs: u64,
    worker_starts: u32,
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
        let mut temporal_cmd = Command::new(tool("temporal"));
        temporal_cmd
            .args(["server", "start-dev", "--headless", "--ip", "127.0.0.1", "--log-level", "warn"])
            .args(["--port", &temporal_port.to_string()])
            .arg("--db-filename")
            .arg(dir.path().join("temporal.db"));
        let temporal = Service::spawn("temporal", temporal_cmd, &dir.path().join("temporal.log"));

        let model = ScriptedModel::start(options.scenario).await.expect("scripted model starts");
        let nats = NatsServer::start();

        let executor_port_file = dir.path().join("executor.port");
        let mut executor_cmd = Command::new(bin("ct-executor"));
        executor_cmd
            .args(["--listen", "127.0.0.1:0", "--max-concurrent", "4"])
            .arg("--port-file")
            .arg(&executor_port_file)
            .arg("--state-dir")
            .arg(dir.path().join("executor"))
            .arg("--transcript-dir")
            .arg(dir.path().join("transcripts"))
            .arg("--claude-bin")
            .arg(tool("claude"))
            .arg("--commands-dir")
            .arg(crate::paths::workspace_root().join(".claude/commands"))
            .arg("--hook-bin")
            .arg(bin("claude-temporal"))
            .env("ANTHROPIC_BASE_URL", model.base_url())
            .env("ANTHROPIC_API_KEY", "e2e-test-key")
            .env("CLAUDE_CODE_MAX_RETRIES", "0");
        let executor = Service::spawn("executor", executor_cmd, &dir.path().join("executor.log"));

        let test_runner_port_file = dir.path().join("test-runner.port");
        let mut test_runner_cmd = Command::new(bin("ct-test-runner"));
        test_runner_cmd
            .args(["--listen", "127.0.0.1:0"])
            .arg("--port-file")
            .arg(&test_runner_port_file)
            .env("PATH", path_with_tools());
        let test_runner = Service::spawn("test-runner", test_runner_cmd, &dir.path().join("test-runner.log"));

        let mut executor = executor;
        let mut test_runner = test_runner;
        let executor_port = wait_for_port_file(&mut executor, &executor_port_file, &dir.path().join("executor.log"));
        let test_runner_port =
            wait_for_port_file(&mut test_runner, &test_runner_port_file, &dir.path().join("test-runner.log"));
        let mut stack = Stack {
            dir,
            temporal_port,
            model,
            nats,
            temporal,
            executor,
            test_runner,
            worker: None,
            executor_port,
            test_runner_port,
            sticky_timeout_secs: options.sticky_timeout_secs,
            worker_starts: 0,
        };
        stack.wait_for_temporal().await;
        stack.start_worker();
        stack
    }

    async fn wait_for_temporal(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.client_once().await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Temporal dev server not ready in 30s; log:\n{}",
                tail(&self.dir.path().join("temporal.log"))
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn temporal_address(&self) -> String {
        format!("127.0.0.1:{}", self.temporal_port)
    }

    async fn client_once(&self) -> anyhow::Result<Client> {
        let client = connect_client(
            &TemporalTarget { address: self.temporal_address(), namespace: "default".into() },
            "ct-e2e",
        )
        .await?;
        Ok(client)
    }

    pub async fn client(&self) -> Client {
        self.client_once().await.expect("Temporal client")
    }

    /// Starts a worker process and waits until it polls.
    pub fn start_worker(&mut self) {
        self.worker_starts += 1;
        let log = self.dir.path().join(format!("worker-{}.log", self.worker_starts));
        let mut command = Command::new(bin("ct-worker"));
        command
            .args(["--temporal-address", &self.temporal_address()])
            .args(["--executor-addr", &format!("http://127.0.0.1:{}", self.executor_port)])
            .args(["--test-runner-addr", &format!("http://127.0.0.1:{}", self.test_runner_port)])
            .args(["--sticky-timeout-secs", &self.sticky_timeout_secs.to_string()])
            .args(["--nats-url", &self.nats.url()]);
        let mut worker = Service::spawn("worker", command, &log);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("worker started") {
            assert!(Instant::now() < deadline, "worker did not start; log:\n{}", tail(&log));
            assert!(!worker.has_exited(), "worker exited at start-up; log:\n{}", tail(&log));
            std::thread::sleep(Duration::from_millis(100));
        }
        self.worker = Some(worker);
    }

    /// SIGKILLs the worker, as a crash would.
    pub fn kill_worker(&mut self) {
        if let Some(mut worker) = self.worker.take() {
            worker.kill_hard();
        }
    }

    pub fn executor_pid(&self) -> u32 {
        self.executor.pid()
    }

    /// Runs the real `claude-temporal` binary against this stack.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let output = Command::new(bin("claude-temporal"))
            .args(args)
            .env("TEMPORAL_ADDRESS", self.temporal_address())
            .env("NATS_URL", self.nats.url())
            .env_remove("TEMPORAL_NAMESPACE")
            .env_remove("TEMPORAL_TASK_QUEUE")
            .output()
            .expect("claude-temporal runs");
        CliOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
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
        let client = self.client().await;
        let json = client
            .get_workflow_handle::<DevelopWorkflow>(id)
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .to_json()
            .await
            .expect("history");
        let replayer = crate::fixtures::replayer();
        let history = temporalio_client::WorkflowHistory::from_json(&json).expect("history JSON");
        replayer
            .replay_workflow(history)
            .await
            .unwrap_or_else(|e| panic!("workflow `{id}` does not replay against the current code: {e}"));
        json
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
        self.executor.stop();
        self.test_runner.stop();
        self.temporal.stop();
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
