use std::time::Duration;

use ct_proto::test_runner::{Framework, RunTestsRequest, test_runner_client::TestRunnerClient};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tonic::transport::Channel;

use super::failure::{self, NO_TEST_FRAMEWORK};
use super::{TestReport, TestTask};

const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

pub(super) async fn run(
    channel: Channel,
    ctx: &ActivityContext,
    task: TestTask,
) -> Result<TestReport, ActivityError> {
    let request = RunTestsRequest {
        run_id: task.run_id.clone(),
        project_path: task.project_path.clone(),
        framework: Framework::Unspecified as i32,
        timeout_ms: task.timeout_secs.saturating_mul(1000),
    };
    let mut client = TestRunnerClient::new(channel);
    let call = client.run_tests(request);
    tokio::pin!(call);
    let mut ticker = tokio::time::interval(HEARTBEAT_EVERY);
    let response = loop {
        tokio::select! {
            response = &mut call => break response,
            _ = ticker.tick() => ctx.record_heartbeat(()).await?,
            _ = ctx.cancelled() => return Err(ActivityError::cancelled()),
        }
    };
    let response = response
        .map_err(|status| failure::from_status("test-runner", &status, NO_TEST_FRAMEWORK))?
        .into_inner();
    let framework = Framework::try_from(response.framework)
        .map(|f| f.as_str_name().trim_start_matches("FRAMEWORK_").to_lowercase())
        .unwrap_or_default();
    Ok(TestReport {
        framework,
        command: response.command,
        passed: response.passed,
        failed: response.failed,
        skipped: response.skipped,
        failures: response
            .failures
            .into_iter()
            .map(|f| (f.name, f.output))
            .collect(),
        duration_ms: response.duration_ms,
        exit_code: response.exit_code,
        timed_out: response.timed_out,
        output_tail: response.output_tail,
    })
}
