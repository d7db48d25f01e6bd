//! The parallel workflow: one child workflow per feature, all at once, each with its own
//! branch `feature-<i>-<slug>` from HEAD checked out in a worktree of its own, so the agents
//! never see each other's files and the user's checkout, HEAD and index stay untouched.
//! Each child runs the agent and the tests in its worktree and commits the result on its
//! branch; then the pairs of branches that would conflict when merged are predicted (in
//! memory), with `--integrate` the branches are merged into one integration branch
//! (`integration`), and the worktrees are removed unless asked to keep them.

use std::time::SystemTime;

use ct_domain::git::FeatureWorktree;
use ct_domain::{ParallelInput, RunState, StageState, StageStatus, TestBaseline, WorkflowStatus};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ApplicationFailure, ChildWorkflowOptions, WorkflowContext, WorkflowContextView, WorkflowResult};

use super::WorkflowError;
use super::clock::now;
use super::events::{self, EventLedger, emit};
use super::{gate, options, snapshots, spans};
use ct_domain::integration::IntegrateBranch;
use ct_events::EventData;
use ct_events::data::WorkflowStarted;

use super::integration::{self, Plan};
use ct_contracts::{RemoveWorktreeTask, WorkspaceActivities, WorktreesTask};

use super::feature::{FeatureTask, FeatureWorkflow};

const KIND: &str = "parallel";

/// Marks histories that predict the conflicts between their features' branches.
const PREDICT_CONFLICTS_PATCH: &str = "parallel-predict-conflicts";

/// Marks histories whose test baseline runs in a feature's worktree.
const BASELINE_IN_WORKTREE_PATCH: &str = "parallel-baseline-in-worktree";

#[workflow]
#[derive(Default)]
pub struct ParallelWorkflow {
    status: WorkflowStatus,
    events: EventLedger,
    /// Features running now, for `max_concurrent`.
    running: u32,
}

workflow_state!(ParallelWorkflow);

#[workflow_methods]
impl ParallelWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: ParallelInput) -> WorkflowResult<WorkflowStatus> {
        let workflow_id = ctx.workflow_id().to_owned();
        let names: Vec<String> = input.features.iter().map(|f| f.name.clone()).collect();
        let branches = ct_domain::git::feature_branches(&names)
            .map_err(|err| ApplicationFailure::non_retryable(WorkflowError(err.to_string())))?;
        let trace = spans::trace();
        ctx.state_mut(|s| {
            s.status = WorkflowStatus {
                workflow_id: workflow_id.clone(),
                state: RunState::Running,
                project_path: input.project_path.clone(),
                features: names.clone(),
                template: "parallel".to_owned(),
                stages: branches
                    .iter()
                    .map(|branch| StageStatus { branch: Some(branch.clone()), ..StageStatus::pending(branch) })
                    .collect(),
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
            stages: branches.clone(),
        };
        emit(ctx, EventData::WorkflowStarted(announced)).await;
        let worktrees = ctx
            .execute_activity(
                WorkspaceActivities::create_worktrees,
                WorktreesTask {
                    project_path: input.project_path.clone(),
                    workflow_id: workflow_id.clone(),
                    features: names,
                },
                options::workspace(ctx.task_queue()),
            )
            .await;
        let worktrees = match worktrees {
            Ok(worktrees) => worktrees,
            Err(err) => {
                return finish(ctx, Some(options::activity_failed("creating the worktrees", &err)), started).await;
            }
        };
        ctx.state_mut(|s| {
            for (stage, worktree) in s.status.stages.iter_mut().zip(&worktrees) {
                stage.worktree = Some(worktree.path.clone());
            }
        });
        // Worktrees start from HEAD: the project's tests before any feature are every feature's.
        let wanted = !input.strict_tests;
        let baseline = match take_baseline(ctx, &input, &worktrees, wanted).await {
            Ok(baseline) => baseline,
            Err(failure) => {
                if !input.keep_worktrees {
                    remove_worktrees(ctx, &input.project_path, &worktrees).await;
                }
                return finish(ctx, Some(failure), started).await;
            }
        };
        ctx.state_mut(|s| s.status.test_baseline = baseline.clone());

        let runs: Vec<_> = worktrees
            .iter()
            .zip(&input.features)
            .enumerate()
            .map(|(index, (worktree, plan))| {
                run_feature(
                    ctx.clone(),
                    index,
                    input.max_concurrent,
                    FeatureTask {
                        worktree: worktree.clone(),
                        prompt: plan.prompt.clone(),
                        agent: input.agent.clone(),
                        test_timeout_secs: input.test_timeout_secs,
                        baseline: baseline.clone(),
                        strict_tests: input.strict_tests,
                    },
                )
            })
            .collect();
        temporalio_sdk::workflows::join!(events::settle(ctx), temporalio_sdk::workflows::join_all(runs));
        let completed = completed_features(ctx);
        if ctx.patched(PREDICT_CONFLICTS_PATCH) {
            let branches = completed.iter().map(|branch| branch.branch.clone()).collect();
            integration::predict_conflicts(ctx, &input.project_path, branches).await;
        }
        let integrated = match &input.integrate {
            Some(options) if !completed.is_empty() && !ctx.cancellation_token().is_cancelled() => {
                let plan = Plan {
                    project_path: input.project_path.clone(),
                    branches: completed,
                    options: options.clone(),
                    agent: input.agent.clone(),
                    test_timeout_secs: input.test_timeout_secs,
                    strict_tests: input.strict_tests,
                    baseline,
                    keep_worktree: input.keep_worktrees,
                };
                integration::integrate(ctx, plan).await.map_err(|err| format!("integration: {err}"))
            }
            _ => Ok(()),
        };

        if !input.keep_worktrees {
            remove_worktrees(ctx, &input.project_path, &worktrees).await;
        }
        finish(ctx, integrated.err(), started).await
    }

    #[query]
    pub fn status(&self, ctx: &WorkflowContextView) -> WorkflowStatus {
        super::answered(&self.status, ctx)
    }
}

/// The project's tests at HEAD, run in the first feature's worktree (never in the user's
/// checkout), which is then put back to HEAD so that nothing they left reaches the feature.
/// Histories recorded before ran them in the user's checkout.
async fn take_baseline(
    ctx: &WorkflowContext<ParallelWorkflow>,
    input: &ParallelInput,
    worktrees: &[FeatureWorktree],
    wanted: bool,
) -> Result<Option<TestBaseline>, String> {
    if !wanted {
        return Ok(None);
    }
    if !ctx.patched(BASELINE_IN_WORKTREE_PATCH) {
        return Ok(gate::take_baseline(ctx, &input.project_path, input.test_timeout_secs, wanted).await);
    }
    let Some(first) = worktrees.first() else {
        return Ok(None);
    };
    let baseline = gate::take_baseline(ctx, &first.path, input.test_timeout_secs, wanted).await;
    snapshots::restore(ctx, &first.path, "HEAD").await.map_err(|err| {
        options::activity_failed(&format!("putting worktree {} back to HEAD after the test baseline", first.path), &err)
    })?;
    Ok(baseline)
}

/// The branches of the features that completed, with what each was for.
fn completed_features(ctx: &WorkflowContext<ParallelWorkflow>) -> Vec<IntegrateBranch> {
    ctx.state(|s| {
        s.status
            .stages
            .iter()
            .zip(&s.status.features)
            .filter(|(stage, _)| stage.state == StageState::Completed)
            .filter_map(|(stage, feature)| {
                stage.branch.clone().map(|branch| IntegrateBranch { branch, goal: feature.clone() })
            })
            .collect()
    })
}

/// Starts feature `index`'s child workflow once fewer than `max_concurrent` (0: no limit) run,
/// and records its outcome in the parent's status.
async fn run_feature(ctx: WorkflowContext<ParallelWorkflow>, index: usize, max_concurrent: u32, task: FeatureTask) {
    if max_concurrent > 0 {
        // Futures are polled in feature order, so the turns go in that order too.
        let turn = ctx.wait_condition(|s| s.running < max_concurrent).await;
        if turn.is_err() || ctx.cancellation_token().is_cancelled() {
            ctx.state_mut(|s| {
                let stage = &mut s.status.stages[index];
                stage.state = StageState::Cancelled;
                stage.error = Some("cancelled before its turn".to_owned());
            });
            return;
        }
        ctx.state_mut(|s| s.running += 1);
    }
    feature_run(ctx.clone(), index, task).await;
    if max_concurrent > 0 {
        ctx.state_mut(|s| s.running -= 1);
    }
}

/// Runs feature `index`'s child workflow and records its outcome in the parent's status.
async fn feature_run(ctx: WorkflowContext<ParallelWorkflow>, index: usize, task: FeatureTask) {
    let child_id = format!("{}-feature-{}", ctx.workflow_id(), task.worktree.index);
    let started =
        ctx.start_child_workflow(FeatureWorkflow::run, task, ChildWorkflowOptions::workflow_id(child_id.clone())).await;
    let outcome = match started {
        Err(err) => Err(format!("child workflow {child_id} did not start: {err}")),
        Ok(child) => {
            let branch = ctx.state_mut(|s| {
                s.status.stages[index].state = StageState::Running;
                s.status.stages[index].name.clone()
            });
            events::stage_started(&ctx, KIND, &branch).await;
            child.result().await.map_err(|err| format!("child workflow {child_id}: {err}"))
        }
    };
    let cancelled = ctx.cancellation_token().is_cancelled();
    ctx.state_mut(|s| {
        let stage = &mut s.status.stages[index];
        match outcome {
            Ok(result) => *stage = StageStatus { worktree: stage.worktree.take(), ..result },
            Err(message) => {
                stage.state = if cancelled { StageState::Cancelled } else { StageState::Failed };
                stage.error = Some(message);
            }
        }
        s.status.refresh_totals();
    });
    // The feature's figures, as the parent now has them, under the parent's id (the feature
    // is the stage), so a subscriber to the parallel run sees every feature.
    let (cost, outcome, completed) = ctx.state(|s| {
        let stage = &s.status.stages[index];
        let cost = events::stage_cost(&s.status, index, None);
        (cost, events::stage_outcome(KIND, &s.status, stage, None), stage.state == StageState::Completed)
    });
    emit(&ctx, EventData::CostUpdated(cost)).await;
    emit(&ctx, if completed { EventData::StageCompleted(outcome) } else { EventData::StageFailed(outcome) }).await;
}

/// Removes the worktrees one after the other, also after a cancel: they are ours to clean.
async fn remove_worktrees(
    ctx: &mut WorkflowContext<ParallelWorkflow>,
    project_path: &str,
    worktrees: &[FeatureWorktree],
) {
    for (index, worktree) in worktrees.iter().enumerate() {
        let removed = ctx
            .execute_activity(
                WorkspaceActivities::remove_worktree,
                RemoveWorktreeTask { project_path: project_path.to_owned(), worktree_path: worktree.path.clone() },
                options::workspace_cleanup(ctx.task_queue()),
            )
            .await;
        ctx.state_mut(|s| {
            let stage = &mut s.status.stages[index];
            match removed {
                Ok(()) => stage.worktree = None,
                Err(err) => {
                    let note =
                        format!("worktree {} was not removed: {}", worktree.path, options::failure_message(&err));
                    stage.error = Some(stage.error.take().map_or(note.clone(), |e| format!("{e}; {note}")));
                }
            }
        });
    }
}

async fn finish(
    ctx: &mut WorkflowContext<ParallelWorkflow>,
    failure: Option<String>,
    started: SystemTime,
) -> WorkflowResult<WorkflowStatus> {
    let cancelled = ctx.cancellation_token().is_cancelled();
    let status = ctx.state_mut(|s| {
        let failed: Vec<String> = s
            .status
            .stages
            .iter()
            .filter(|stage| stage.state != StageState::Completed)
            .map(|stage| match &stage.error {
                Some(error) => format!("{} ({error})", stage.name),
                None => stage.name.clone(),
            })
            .collect();
        s.status.current_stage = None;
        if cancelled {
            s.status.state = RunState::Cancelled;
            s.status.error = Some("cancelled".to_owned());
        } else if let Some(failure) = &failure {
            s.status.state = RunState::Failed;
            s.status.error = Some(failure.clone());
        } else if failed.is_empty() {
            s.status.state = RunState::Completed;
        } else {
            s.status.state = RunState::Failed;
            s.status.error =
                Some(format!("{} of {} feature(s) failed: {}", failed.len(), s.status.stages.len(), failed.join("; ")));
        }
        s.status.clone()
    });
    super::end::end(ctx, KIND, status, started).await
}
