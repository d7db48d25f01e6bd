//! The test-runner: a Temporal activity worker on the tests task queue. Each
//! `StageActivities::run_tests` activity detects a project's test framework, runs its tests
//! in their own process group under a deadline, and parses the outcome from the runner's
//! structured output (JUnit XML, Jest JSON, `go test -json`) or, for cargo on stable Rust,
//! libtest's plain output. Beside it, the authenticated control API.

mod activity;
mod cargo;
mod detect;
mod error;
mod gotest;
mod node;
mod process;
mod pytest;
mod report;
mod serve;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ct_fleet::WorkspaceRoots;
use ct_proto::test_runner::{Framework, RunTestsRequest, RunTestsResponse};
use tokio_util::sync::CancellationToken;

pub use error::Error;
pub use serve::{Fleet, run};

/// Settings of the test-runner process.
#[derive(Clone, Debug)]
pub struct Config {
    /// Applied when a request's `timeout_ms` is 0.
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
        }
    }
}

/// What a framework module needs for one run.
pub(crate) struct RunContext<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) timeout: Duration,
    pub(crate) python: Option<&'a Path>,
    pub(crate) shutdown: &'a CancellationToken,
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
    pub async fn run(&self, request: RunTestsRequest, stop: &CancellationToken) -> Result<RunTestsResponse, Error> {
        let dir = detect::project_dir(&request.project_path)?;
        let dir = self.config.roots.check(&dir.to_string_lossy())?;
        let framework = detect::choose(request.framework, &dir)?;
        let asked = match request.timeout_ms {
            0 => self.config.default_timeout,
            ms => Duration::from_millis(ms),
        };
        let timeout = self.config.max_timeout.map_or(asked, |max| asked.min(max));
        tracing::info!(framework = framework.as_str_name(), project = %dir.display(), "running tests");
        let ctx = RunContext {
            dir: &dir,
            timeout,
            python: self.config.python.as_deref(),
            shutdown: stop,
        };
        let outcome = match framework {
            Framework::Pytest => pytest::run(&ctx).await?,
            Framework::Cargo => cargo::run(&ctx).await?,
            Framework::Go => gotest::run(&ctx).await?,
            Framework::Jest => node::run(&ctx).await?,
            Framework::Unspecified => unreachable!("detect::choose resolves Unspecified"),
        };
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let response = report::response(framework, outcome, timeout_ms);
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
}
