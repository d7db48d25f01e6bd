//! `StageActivities::run_tests` as the test-runner serves it from the tests task queue,
//! heartbeating from the process that runs the tests.

use std::sync::Arc;

use ct_contracts::{TestReport, TestTask, names};
use ct_fleet::{RunInfo, RunRegistry};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::Tests;

pub(crate) struct TestActivities {
    pub(crate) tests: Tests,
    pub(crate) runs: RunRegistry,
    pub(crate) identity: String,
    /// Its build (`CT_BUILD_ID`), named in every report.
    pub(crate) build_id: String,
    /// Fires when the service begins to shut down: runs it stops then are handed back.
    pub(crate) stopping: CancellationToken,
}

#[activities]
impl TestActivities {
    #[activity(name = names::RUN_TESTS)]
    pub(crate) async fn run_tests(
        self: Arc<Self>,
        ctx: ActivityContext,
        task: TestTask,
    ) -> Result<TestReport, ActivityError> {
        let span = tracing::info_span!(
            "run_tests",
            otel.name = "run_tests",
            otel.status_code = tracing::field::Empty,
            run_id = %task.run_id,
            ct.tests.framework = tracing::field::Empty,
            ct.tests.passed = tracing::field::Empty,
            ct.tests.failed = tracing::field::Empty,
            ct.tests.skipped = tracing::field::Empty,
            ct.tests.timed_out = tracing::field::Empty,
            process.exit.code = tracing::field::Empty,
        );
        let report = self.run(&ctx, task).instrument(span.clone()).await;
        if let Ok(report) = &report {
            span.record("ct.tests.framework", report.framework.as_str())
                .record("ct.tests.passed", report.passed)
                .record("ct.tests.failed", report.failed)
                .record("ct.tests.skipped", report.skipped)
                .record("ct.tests.timed_out", report.timed_out)
                .record("process.exit.code", report.exit_code);
        }
        if report.as_ref().is_err() {
            span.record("otel.status_code", "ERROR");
        }
        report
    }
}

impl TestActivities {
    async fn run(&self, ctx: &ActivityContext, task: TestTask) -> Result<TestReport, ActivityError> {
        let info = ctx.info();
        let ticket = self.runs.register(RunInfo::started_now(
            task.run_id.clone(),
            info.workflow_id.clone().unwrap_or_default(),
            info.activity_id.clone(),
            info.attempt,
            task.project_path.clone(),
        ));
        // Dropping the run on an interruption kills its process group.
        let stop = CancellationToken::new();
        let outcome = ct_fleet::Guard::new(ctx, &ticket).run(self.tests.run(&task, &stop)).await;
        let who = format!("test-runner {}", self.identity);
        let mut report = match outcome {
            Ok(Ok(report)) => report,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "test run refused or failed");
                return Err(err.into_activity_error());
            }
            Err(interruption) => return Err(interruption.into_activity_error(&who, self.stopping.is_cancelled())),
        };
        report.runner_id = self.identity.clone();
        report.runner_build = self.build_id.clone();
        Ok(report)
    }
}
