//! The integrate workflow (`integrate PROJECT BRANCH…`): branches that exist already merged
//! into one integration branch, as `parallel --integrate` does with its features' branches.

use std::time::SystemTime;

use ct_domain::integration::IntegrateInput;
use ct_domain::{RunState, WorkflowStatus};
use ct_events::EventData;
use ct_events::data::WorkflowStarted;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowContextView, WorkflowResult};

use super::clock::now;
use super::events::{EventLedger, emit};
use super::integration::{self, Plan};
use super::spans;

const KIND: &str = "integrate";

#[workflow]
#[derive(Default)]
pub struct IntegrateWorkflow {
    status: WorkflowStatus,
    events: EventLedger,
}

workflow_state!(IntegrateWorkflow);

#[workflow_methods]
impl IntegrateWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: IntegrateInput) -> WorkflowResult<WorkflowStatus> {
        let workflow_id = ctx.workflow_id().to_owned();
        let names: Vec<String> = input.branches.iter().map(|b| b.branch.clone()).collect();
        let trace = spans::trace();
        ctx.state_mut(|s| {
            s.status = WorkflowStatus {
                workflow_id: workflow_id.clone(),
                state: RunState::Running,
                project_path: input.project_path.clone(),
                features: names.clone(),
                template: KIND.to_owned(),
                trace_id: trace.0.clone(),
                traceparent: trace.1.clone(),
                build: super::pinned_build(ctx),
                ..WorkflowStatus::default()
            };
        });
        let started = now(ctx);
        let announced = WorkflowStarted {
            workflow_id: workflow_id.clone(),
            workflow_kind: KIND.to_owned(),
            project_path: input.project_path.clone(),
            features: names.clone(),
            template: KIND.to_owned(),
            stages: Vec::new(),
        };
        emit(ctx, EventData::WorkflowStarted(announced)).await;
        integration::predict_conflicts(ctx, &input.project_path, names).await;
        let plan = Plan {
            project_path: input.project_path.clone(),
            branches: input.branches.clone(),
            options: input.options.clone(),
            agent: input.agent.clone(),
            test_timeout_secs: input.test_timeout_secs,
            strict_tests: input.strict_tests,
            baseline: None,
            keep_worktree: input.keep_worktree,
        };
        let outcome = integration::integrate(ctx, plan).await;
        finish(ctx, outcome.err(), started).await
    }

    #[query]
    pub fn status(&self, ctx: &WorkflowContextView) -> WorkflowStatus {
        super::answered(&self.status, ctx)
    }
}

async fn finish(
    ctx: &mut WorkflowContext<IntegrateWorkflow>,
    failure: Option<String>,
    started: SystemTime,
) -> WorkflowResult<WorkflowStatus> {
    let cancelled = ctx.cancellation_token().is_cancelled();
    let status = ctx.state_mut(|s| {
        s.status.current_stage = None;
        if cancelled {
            s.status.state = RunState::Cancelled;
            s.status.error = Some("cancelled".to_owned());
        } else if let Some(failure) = &failure {
            s.status.state = RunState::Failed;
            s.status.error = Some(format!("integration: {failure}"));
        } else {
            s.status.state = RunState::Completed;
        }
        s.status.clone()
    });
    super::end::end(ctx, KIND, status, started).await
}
