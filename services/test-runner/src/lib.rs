//! The test-runner: a Temporal activity worker on the tests task queue. Each
//! `StageActivities::run_tests` activity detects a project's test framework, runs its tests
//! in their own process group under a deadline, and parses the outcome from the runner's
//! structured output (JUnit XML, Jest JSON, `go test -json`) or, for cargo on stable Rust,
//! libtest's plain output. Beside it, the authenticated control API.
//!
//! Tests run what an agent just wrote, so they get what an agent run gets: an allow-listed
//! environment with a private HOME and TMPDIR, a Landlock domain (writes only in the project,
//! the run's directory and the toolchains' caches), `no_new_privs`, resource limits, and output
//! redacted before it leaves.

mod activity;
mod cargo;
mod configure;
mod detect;
mod env;
mod error;
mod gotest;
mod node;
mod process;
mod pytest;
mod report;
mod serve;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ct_confine::{AllowList, Egress, Policy, Redactor, ResourceLimits, Sandbox};
use ct_contracts::{TestReport, TestTask};
use ct_fleet::WorkspaceRoots;
use detect::Framework;
use tokio_util::sync::CancellationToken;

pub use error::Error;

pub use serve::run;

/// Settings of the test-runner process.
#[derive(Clone, Debug)]
pub struct Config {
    /// Applied when a task's `timeout_secs` is 0.
    pub default_timeout: Duration,
    /// Longest run allowed, whatever a request asks.
    pub max_timeout: Option<Duration>,
    /// The only directories whose tests it runs.
    pub roots: WorkspaceRoots,
    /// Test runs at once: the activity slots it offers on its task queue.
    pub capacity: usize,
    /// The interpreter for pytest when the project has no `.venv/bin/python`;
    /// `python3` from PATH when unset.
    pub python: Option<PathBuf>,
    /// Where each run's private HOME, TMPDIR and reports are made (and removed afterwards);
    /// tests cannot read it beyond their own directory.
    pub state_dir: PathBuf,
    /// How test runs are confined, decided at start.
    pub sandbox: Sandbox,
    /// Paths tests may write besides the project, their own directory and the toolchains'.
    pub writable: Vec<PathBuf>,
    /// Hosts test runs in namespaces may reach through the egress proxy; empty: none.
    pub allow_hosts: Arc<AllowList>,
    /// Paths tests may not read besides the state directory: the control token.
    pub hidden: Vec<PathBuf>,
    /// Per-process limits of every test process.
    pub run_limits: ResourceLimits,
    /// Hides the test-runner's secrets in the output it reports.
    pub redactor: Arc<Redactor>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(600),
            max_timeout: None,
            // Where tests make their projects; a real test-runner is given its roots.
            roots: WorkspaceRoots::new([std::env::temp_dir()]).unwrap_or_default(),
            capacity: 2,
            python: None,
            state_dir: ct_confine::default_state_dir("ct-test-runner"),
            sandbox: Sandbox::auto(),
            writable: Vec::new(),
            allow_hosts: Arc::default(),
            hidden: Vec::new(),
            run_limits: ResourceLimits::default(),
            redactor: Arc::new(Redactor::from_env([])),
        }
    }
}

/// What a framework module needs for one run.
pub(crate) struct RunContext<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) timeout: Duration,
    pub(crate) python: Option<&'a Path>,
    pub(crate) shutdown: &'a CancellationToken,
    /// The run's own directory, for report files.
    pub(crate) run_dir: &'a Path,
    /// The value of the run's marker variable, unique per run.
    pub(crate) marker: &'a str,
    pub(crate) env: &'a BTreeMap<String, String>,
    pub(crate) sandbox: &'a Sandbox,
    pub(crate) policy: &'a Policy,
}

/// Runs tests in this process: what the `run_tests` activity does inside its lease, usable
/// without Temporal.
#[derive(Debug, Clone)]
pub struct Tests {
    config: Config,
}

impl Tests {
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs the project's tests until they finish, time out or `stop` fires; every process
    /// they started is dead when this returns.
    pub async fn run(&self, task: &TestTask, stop: &CancellationToken) -> Result<TestReport, Error> {
        let dir = detect::project_dir(&task.project_path)?;
        let dir = self.config.roots.check(&dir.to_string_lossy())?;
        let framework = detect::detect(&dir)?;
        let asked = match task.timeout_secs {
            0 => self.config.default_timeout,
            secs => Duration::from_secs(secs),
        };
        let timeout = self.config.max_timeout.map_or(asked, |max| asked.min(max));
        let run_dir = self.run_dir()?;
        let home = run_dir.path().join("home");
        let tmp = run_dir.path().join("tmp");
        for private in [&home, &tmp] {
            ct_confine::make_private_dir(private).map_err(Error::TempDir)?;
        }
        let mut env = env::test_env(std::env::vars(), &home, &tmp);
        let cache = if self.config.sandbox.has_namespaces() {
            let cache = self.cache_dir(&dir)?;
            env::use_cache(&mut env, &cache);
            Some(cache)
        } else {
            None
        };
        let egress = self.egress(&mut env)?;
        let mut policy = self.policy(&dir, run_dir.path(), &env, cache);
        if let Some((egress, _)) = &egress {
            policy.bridges.push(egress.bridge());
        }
        let confinement = self.config.sandbox.confinement();
        tracing::info!(
            framework = framework.name(),
            project = %dir.display(),
            %confinement,
            "running tests"
        );
        let marker = run_dir.path().display().to_string();
        let ctx = RunContext {
            dir: &dir,
            timeout,
            python: self.config.python.as_deref(),
            shutdown: stop,
            run_dir: run_dir.path(),
            marker: &marker,
            env: &env.vars,
            sandbox: &self.config.sandbox,
            policy: &policy,
        };
        let outcome = match framework {
            Framework::Pytest => pytest::run(&ctx).await?,
            Framework::Cargo => cargo::run(&ctx).await?,
            Framework::Go => gotest::run(&ctx).await?,
            Framework::Jest => node::run(&ctx).await?,
        };
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let mut response = report::report(framework, outcome, timeout_ms);
        response.confinement = confinement.to_string();
        let refused: Vec<String> =
            egress.iter().flat_map(|(e, _)| e.refused()).map(|r| format!("{}:{}", r.host, r.port)).collect();
        if !refused.is_empty() {
            tracing::warn!(?refused, "the sandbox refused the tests' connections");
            response.output_tail.push_str(&format!(
                "\n[claude-temporal] the sandbox refused connections to {} (allow hosts with CT_SANDBOX_ALLOW_HOSTS)\n",
                refused.join(", ")
            ));
        }
        self.redact(&mut response);
        tracing::info!(
            command = %response.command,
            passed = response.passed,
            failed = response.failed,
            skipped = response.skipped,
            exit_code = response.exit_code,
            timed_out = response.timed_out,
            duration_ms = response.duration_ms,
            "tests finished"
        );
        Ok(response)
    }

    fn run_dir(&self) -> Result<tempfile::TempDir, Error> {
        ct_confine::make_private_dir(&self.config.state_dir).map_err(Error::TempDir)?;
        tempfile::Builder::new().prefix("run-").tempdir_in(&self.config.state_dir).map_err(Error::TempDir)
    }

    /// The egress proxy of a run in namespaces when the operator allows hosts, with the run's
    /// proxy variables pointed at it; its socket lives in a directory no test can write.
    fn egress(&self, env: &mut env::TestEnv) -> Result<Option<(Egress, tempfile::TempDir)>, Error> {
        if !self.config.sandbox.has_namespaces() || self.config.allow_hosts.is_empty() {
            return Ok(None);
        }
        // A directory of its own: the run sees the socket's directory, read-only.
        let dir =
            tempfile::Builder::new().prefix("outlets-").tempdir_in(&self.config.state_dir).map_err(Error::TempDir)?;
        let egress =
            Egress::start(dir.path().join("egress.sock"), self.config.allow_hosts.clone()).map_err(Error::TempDir)?;
        Egress::point_env(&mut env.vars);
        Ok(Some((egress, dir)))
    }

    /// The project's own writable cache (package downloads, build caches) under the state
    /// directory: kept between its runs, shared with no other project, never the user's.
    fn cache_dir(&self, project: &Path) -> Result<PathBuf, Error> {
        let cache = self.config.state_dir.join("caches").join(cache_key(project));
        ct_confine::make_private_dir(&cache).map_err(Error::TempDir)?;
        Ok(cache)
    }

    /// What one test run may touch: the project, its own directory, its cache and what the
    /// operator added; read-only the toolchains (without namespaces, which cannot make them
    /// read-only, their homes stay writable) and the repository's git directory; never the
    /// test-runner's state or its token.
    fn policy(&self, project: &Path, run_dir: &Path, env: &env::TestEnv, cache: Option<PathBuf>) -> Policy {
        let namespaces = cache.is_some();
        let writable = [project, run_dir]
            .into_iter()
            .map(Path::to_path_buf)
            .chain(cache)
            .chain(env.tool_dirs.iter().filter(|_| !namespaces).cloned())
            .chain(self.config.writable.iter().cloned())
            .collect();
        // The tests' PATH is the test-runner's own (env.rs passes it through).
        let read_only = ct_confine::service_tool_dirs().iter().chain(&env.tool_dirs).cloned().collect();
        let hidden = std::iter::once(self.config.state_dir.clone()).chain(self.config.hidden.iter().cloned()).collect();
        Policy {
            workdir: project.to_path_buf(),
            writable,
            read_only,
            protected: ct_confine::git_dirs(project),
            hidden,
            connect_ports: None,
            bridges: Vec::new(),
            limits: self.config.run_limits,
        }
    }

    fn redact(&self, response: &mut TestReport) {
        let redactor = &self.config.redactor;
        response.output_tail = redactor.redact_owned(std::mem::take(&mut response.output_tail));
        for (_, output) in &mut response.failures {
            *output = redactor.redact_owned(std::mem::take(output));
        }
    }
}

/// A directory name for `project`'s cache: its last component (for people reading the state
/// directory) and a hash of its whole path (for uniqueness).
fn cache_key(project: &Path) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let hash = project
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    let name: String = project
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .take(40)
                .collect()
        })
        .unwrap_or_default();
    format!("{name}-{hash:016x}")
}
