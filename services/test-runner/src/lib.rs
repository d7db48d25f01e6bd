//! The test-runner service: detects a project's test framework, runs its tests
//! in their own process group under a deadline, and parses the outcome from the
//! runner's structured output (JUnit XML, Jest JSON, `go test -json`) or, for
//! cargo on stable Rust, libtest's plain output.

mod cargo;
mod detect;
mod error;
mod gotest;
mod node;
mod process;
mod pytest;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ct_proto::test_runner::test_runner_server::{TestRunner, TestRunnerServer};
use ct_proto::test_runner::{Framework, RunTestsRequest, RunTestsResponse};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use error::Error;

/// Settings of the test-runner process.
#[derive(Clone, Debug)]
pub struct Config {
    /// Applied when a request's `timeout_ms` is 0.
    pub default_timeout: Duration,
    /// The interpreter for pytest when the project has no `.venv/bin/python`;
    /// `python3` from PATH when unset.
    pub python: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(600),
            python: None,
        }
    }
}

/// Serves `TestRunner` on `listener` until `shutdown` is cancelled. Test runs
/// still going at that moment are killed and answered with UNAVAILABLE.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let service = Service {
        config,
        shutdown: shutdown.clone(),
    };
    tonic::transport::Server::builder()
        .add_service(TestRunnerServer::new(service))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// What a framework module needs for one run.
pub(crate) struct RunContext<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) timeout: Duration,
    pub(crate) python: Option<&'a Path>,
    pub(crate) shutdown: &'a CancellationToken,
}

struct Service {
    config: Config,
    shutdown: CancellationToken,
}

impl Service {
    async fn run_tests(&self, request: RunTestsRequest) -> Result<RunTestsResponse, Error> {
        let dir = detect::project_dir(&request.project_path)?;
        let framework = detect::choose(request.framework, &dir)?;
        let timeout = match request.timeout_ms {
            0 => self.config.default_timeout,
            ms => Duration::from_millis(ms),
        };
        tracing::info!(framework = framework.as_str_name(), project = %dir.display(), "running tests");
        let ctx = RunContext {
            dir: &dir,
            timeout,
            python: self.config.python.as_deref(),
            shutdown: &self.shutdown,
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

#[tonic::async_trait]
impl TestRunner for Service {
    async fn run_tests(
        &self,
        request: tonic::Request<RunTestsRequest>,
    ) -> Result<tonic::Response<RunTestsResponse>, tonic::Status> {
        let request = request.into_inner();
        let span = tracing::info_span!(
            "TestRunner/RunTests",
            rpc.system = "grpc",
            rpc.service = "claude_temporal.test_runner.v1.TestRunner",
            rpc.method = "RunTests",
            run_id = %request.run_id,
        );
        async {
            self.run_tests(request)
                .await
                .map(tonic::Response::new)
                .map_err(|err| {
                    tracing::warn!(error = %err, "test run refused or failed");
                    tonic::Status::from(err)
                })
        }
        .instrument(span)
        .await
    }
}
