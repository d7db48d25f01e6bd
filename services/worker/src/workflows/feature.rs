//! One feature of the parallel workflow, as its child workflow: the agent in the feature's
//! worktree, the tests there, and a commit of the result on the feature's branch.

use ct_domain::git::FeatureWorktree;
use ct_domain::{AgentSettings, RunState, StageState, StageStatus, TestBaseline, WorkflowStatus};
use serde::{Deserialize, Serialize};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, WorkflowContext, WorkflowContextView, WorkflowResult, WorkflowTermination,
};

use super::events::EventLedger;
use super::gate::{self, Verdict};
use super::record::{record_agent, record_attempts, record_tests};
use super::{agent_run, options, spans};
use ct_contracts::{AgentTask, CommitTask, WorkspaceActivities};

/// Input of one feature's child workflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureTask {
    pub worktree: FeatureWorktree,
    pub prompt: String,
    pub agent: AgentSettings,
    pub test_timeout_secs: u64,
    /// The project's tests before any feature; see `gate`.
    #[serde(default)]
    pub baseline: Option<TestBaseline>,
    #[serde(default)]
    pub strict_tests: bool,
}

/// One feature in its worktree: the agent, the tests, and a commit of the result on the
/// feature's branch. A failing feature is reported, not raised, so that the parent's table
/// has its tokens and cost; only a cancel ends it otherwise.
#[workflow]
#[derive(Default)]
pub struct FeatureWorkflow {
    status: WorkflowStatus,
    events: EventLedger,
}

workflow_state!(FeatureWorkflow);

#[workflow_methods]
impl FeatureWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, task: FeatureTask) -> WorkflowResult<StageStatus> {
        let workflow_id = ctx.workflow_id().to_owned();
        let worktree = task.worktree.clone();
        let trace = spans::trace();
        ctx.state_mut(|s| {
            s.status = WorkflowStatus {
                workflow_id: workflow_id.clone(),
                state: RunState::Running,
                project_path: worktree.path.clone(),
                features: vec![worktree.feature.clone()],
                template: "feature".to_owned(),
                current_stage: Some(worktree.branch.clone()),
                stages: vec![StageStatus {
                    state: StageState::Running,
                    branch: Some(worktree.branch.clone()),
                    ..StageStatus::pending(&worktree.branch)
                }],
                trace_id: trace.0.clone(),
                traceparent: trace.1.clone(),
                build: super::pinned_build(ctx),
                ..WorkflowStatus::default()
            };
        });
        let outcome = feature(ctx, &task).await;
        let stage = ctx.state_mut(|s| {
            let stage = &mut s.status.stages[0];
            match &outcome {
                Ok(()) => {}
                Err(Some(message)) => {
                    stage.state = StageState::Failed;
                    stage.error = Some(message.clone());
                }
                Err(None) => stage.state = StageState::Cancelled,
            }
            s.status.state = match stage.state {
                StageState::Completed => RunState::Completed,
                StageState::Cancelled => RunState::Cancelled,
                _ => RunState::Failed,
            };
            s.status.error = stage.error.clone();
            s.status.current_stage = None;
            stage.clone()
        });
        match outcome {
            Err(None) => Err(WorkflowTermination::cancelled()),
            _ => Ok(stage),
        }
    }

    #[query]
    pub fn status(&self, ctx: &WorkflowContextView) -> WorkflowStatus {
        super::answered(&self.status, ctx)
    }
}

/// Runs the feature; `Err(Some(why))` when it failed, `Err(None)` when it was cancelled.
async fn feature(ctx: &mut WorkflowContext<FeatureWorkflow>, task: &FeatureTask) -> Result<(), Option<String>> {
    let worktree = &task.worktree;
    let run_id = format!("{}/{}", ctx.workflow_id(), worktree.branch);
    let agent_task = AgentTask {
        run_id: run_id.clone(),
        project_path: worktree.path.clone(),
        prompt: task.prompt.clone(),
        settings: task.agent.clone(),
        // Nothing is committed on the branch before the end, so its HEAD is where
        // every attempt starts from.
        restore_on_retry: Some("HEAD".to_owned()),
        earlier_attempts: 0,
        failures_allowed: 0,
        earlier_spend: Vec::new(),
        spent_before_usd: ctx.state(|s| s.status.total_cost_usd),
        budget: None,
        snapshot: None,
        #[cfg(feature = "upgrade-rehearsal")]
        rehearsal: None,
    };
    let report = match agent_run::run_agent(ctx, agent_task).await {
        Ok(report) => report,
        Err(err) => {
            ctx.state_mut(|s| {
                record_attempts(&mut s.status.stages[0], agent_run::attempts_of(&err));
                s.status.refresh_totals();
            });
            return Err(failure("agent", &err));
        }
    };
    ctx.state_mut(|s| {
        record_agent(&mut s.status.stages[0], &report);
        s.status.refresh_totals();
        s.status.stages[0].state = StageState::Testing;
    });
    let tests = gate::run_tests(ctx, run_id, &worktree.path, task.test_timeout_secs).await;
    let verdict = match &tests {
        Ok(tests) => {
            ctx.state_mut(|s| {
                record_tests(&mut s.status.stages[0], tests);
            });
            if tests.is_green() {
                format!("tests: {} passed", tests.passed)
            } else {
                format!("tests: {} passed, {} failed", tests.passed, tests.failed)
            }
        }
        Err(err) => format!("tests could not run: {}", options::failure_message(err)),
    };
    // The agent's work goes on the branch whatever the tests say: the branch is where the
    // user looks at it, and the worktree may be removed next.
    let committed = ctx
        .execute_activity(
            WorkspaceActivities::commit_worktree,
            CommitTask {
                worktree_path: worktree.path.clone(),
                message: format!(
                    "{}\n\nMade by claude-temporal workflow {}; {verdict}.\n",
                    worktree.feature,
                    ctx.workflow_id()
                ),
            },
            options::workspace(ctx.task_queue()),
        )
        .await
        .map_err(|err| failure("committing the feature", &err))?;
    if committed.is_none() {
        return Err(Some("the agent changed nothing".to_owned()));
    }
    let tests = tests.map_err(|err| failure("tests", &err))?;
    match gate::judge(task.baseline.as_ref(), &tests, task.strict_tests) {
        Verdict::Green => {}
        Verdict::Preexisting(names) => ctx.state_mut(|s| s.status.stages[0].preexisting_failures = names),
        Verdict::Broken(names) => {
            return Err(Some(gate::failure(&worktree.branch, &tests, task.baseline.is_some(), &names)));
        }
    }
    ctx.state_mut(|s| s.status.stages[0].state = StageState::Completed);
    Ok(())
}

/// Why the feature failed when an activity did; `None` when it was cancelled.
fn failure(what: &str, err: &ActivityExecutionError) -> Option<String> {
    match err {
        ActivityExecutionError::Cancelled(_) => None,
        _ => Some(options::activity_failed(what, err)),
    }
}
