//! The develop workflow: the stages of a template in order, each an agent run
//! followed by the project's tests, with approval gates where a stage asks.

use std::time::{Duration, SystemTime};

use ct_domain::budget::{BudgetRaise, BudgetRaised};
use ct_domain::git::Snapshot;
use ct_domain::{ApprovalDecision, DevelopInput, RunState, StagePlan, StageState, StageStatus, WorkflowStatus};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ApplicationFailure, CancellableFuture, SyncWorkflowContext, WorkflowContext,
    WorkflowContextView, WorkflowResult, WorkflowTermination,
};

use ct_events::EventData;
use ct_events::data::{
    ApprovalDecision as ApprovalEvent, ApprovalRequested, ApprovalTimedOut, Snapshot as SnapshotEvent, WorkflowStarted,
};

use super::WorkflowError;
use super::budget::{self, RunEnd, Waited};
use super::clock::{elapsed_ms, now};
use super::events::{self, EventLedger, emit};
use super::gate::{self, Verdict};
use super::record::{record_agent, record_tests};
use super::{options, snapshots, spans};
use ct_contracts::{AgentTask, SnapshotTask};
use tracing::Instrument as _;

#[workflow]
#[derive(Default)]
pub struct DevelopWorkflow {
    status: WorkflowStatus,
    /// The decision for the gate that is open now; cleared when a gate opens.
    decision: Option<Decision>,
    /// A cancel leaves the cancelled stage's edits in place (`cancel --keep-changes`).
    keep_changes: bool,
    events: EventLedger,
}

#[derive(Debug, Clone, PartialEq)]
enum Decision {
    Approved(ApprovalDecision),
    Rejected(ApprovalDecision),
}

const KIND: &str = "develop";

/// Why the workflow stops early.
enum Stop {
    Failed(String),
    Cancelled(String),
}

impl Stop {
    fn reason(&self) -> &str {
        match self {
            Stop::Failed(why) | Stop::Cancelled(why) => why,
        }
    }
}

workflow_state!(DevelopWorkflow);

#[workflow_methods]
impl DevelopWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: DevelopInput) -> WorkflowResult<WorkflowStatus> {
        let workflow_id = ctx.workflow_id().to_owned();
        let trace = spans::trace();
        ctx.state_mut(|s| {
            s.status = WorkflowStatus {
                workflow_id: workflow_id.clone(),
                state: RunState::Running,
                project_path: input.project_path.clone(),
                features: input.features.clone(),
                template: input.template.clone(),
                stages: input
                    .stages
                    .iter()
                    .map(|stage| StageStatus {
                        budget_usd: stage.budget_usd,
                        estimate: stage.estimate,
                        ..StageStatus::pending(&stage.name)
                    })
                    .collect(),
                budget: input.budget(),
                slack_approvers: input.slack_approvers.clone(),
                trace_id: trace.0.clone(),
                traceparent: trace.1.clone(),
                build: super::pinned_build(ctx),
                ..WorkflowStatus::default()
            };
        });
        let started = now(ctx);
        emit(
            ctx,
            EventData::WorkflowStarted(WorkflowStarted {
                workflow_id: workflow_id.clone(),
                workflow_kind: KIND.to_owned(),
                project_path: input.project_path.clone(),
                features: input.features.clone(),
                template: input.template.clone(),
                stages: input.stages.iter().map(|stage| stage.name.clone()).collect(),
            }),
        )
        .await;
        let baseline =
            gate::take_baseline(ctx, &input.project_path, input.test_timeout_secs, needs_baseline(&input)).await;
        ctx.state_mut(|s| s.status.test_baseline = baseline);
        for (index, stage) in input.stages.iter().enumerate() {
            let span = spans::stage(KIND, &stage.name, index);
            let ran = run_stage(ctx, &input, index, stage).instrument(span.clone()).await;
            spans::record_outcome(&span, ran.as_ref().map(drop).map_err(Stop::reason));
            if let Err(stop) = ran {
                return Err(finish_early(ctx, index, stop, started).await);
            }
        }
        let status = ctx.state_mut(|s| {
            s.status.state = RunState::Completed;
            s.status.current_stage = None;
            s.status.clone()
        });
        let finished = events::finished(KIND, &status, elapsed_ms(started, now(ctx)));
        events::emit_last(ctx, EventData::WorkflowCompleted(finished)).await;
        Ok(status)
    }

    /// Approves the stage whose gate is open. A signal for any other stage is ignored.
    #[signal]
    pub fn approve(&mut self, _ctx: &mut SyncWorkflowContext<Self>, decision: ApprovalDecision) {
        let stage = decision.stage.clone();
        self.decide(&stage, Decision::Approved(decision));
    }

    /// Rejects the stage whose gate is open; the workflow fails with the reason.
    #[signal]
    pub fn reject(&mut self, _ctx: &mut SyncWorkflowContext<Self>, decision: ApprovalDecision) {
        let stage = decision.stage.clone();
        self.decide(&stage, Decision::Rejected(decision));
    }

    /// Asks a later cancel to leave the cancelled stage's edits in the tree.
    #[signal]
    pub fn keep_changes(&mut self, _ctx: &mut SyncWorkflowContext<Self>, keep: bool) {
        self.keep_changes = keep;
    }

    /// Approves the open gate; refused by its validator unless the gate the decision names (or,
    /// naming none, any) is open and undecided. Answers with the stage it approved.
    #[update]
    pub fn approve_gate(&mut self, _ctx: &mut SyncWorkflowContext<Self>, decision: ApprovalDecision) -> String {
        let stage = self.status.awaiting_approval.clone().unwrap_or_default();
        self.decide(&stage, Decision::Approved(decision));
        stage
    }

    #[update_validator(approve_gate)]
    fn validate_approve_gate(
        &self,
        _ctx: &WorkflowContextView,
        decision: &ApprovalDecision,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.gate_open_for(&decision.stage).map_err(Into::into)
    }

    /// Rejects the open gate, like [`Self::approve_gate`]; the workflow fails with the reason.
    #[update]
    pub fn reject_gate(&mut self, _ctx: &mut SyncWorkflowContext<Self>, decision: ApprovalDecision) -> String {
        let stage = self.status.awaiting_approval.clone().unwrap_or_default();
        self.decide(&stage, Decision::Rejected(decision));
        stage
    }

    #[update_validator(reject_gate)]
    fn validate_reject_gate(
        &self,
        _ctx: &WorkflowContextView,
        decision: &ApprovalDecision,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.gate_open_for(&decision.stage).map_err(Into::into)
    }

    /// Raises the budget a stopped run waits on (else the workflow's) by the amount given;
    /// answers with the new limit. Refused by its validator when there is nothing to raise.
    #[update]
    pub fn raise_budget(&mut self, _ctx: &mut SyncWorkflowContext<Self>, raise: BudgetRaise) -> BudgetRaised {
        budget::raise(&mut self.status, &raise)
    }

    #[update_validator(raise_budget)]
    fn validate_raise_budget(
        &self,
        _ctx: &WorkflowContextView,
        raise: &BudgetRaise,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        budget::check_raise(&self.status, raise).map_err(Into::into)
    }

    #[query]
    pub fn status(&self, ctx: &WorkflowContextView) -> WorkflowStatus {
        super::answered(&self.status, ctx)
    }
}

impl DevelopWorkflow {
    /// Why a decision for `stage` (empty: whichever gate is open) cannot be taken now, if so.
    fn gate_open_for(&self, stage: &str) -> Result<(), String> {
        match self.status.awaiting_approval.as_deref() {
            None => Err(format!(
                "workflow `{}` has no approval gate open{}: it timed out, was decided, or was never reached",
                self.status.workflow_id,
                if stage.is_empty() { String::new() } else { format!(" for stage `{stage}`") },
            )),
            Some(open) if !stage.is_empty() && open != stage => Err(format!(
                "workflow `{}` is waiting for approval of `{open}`, not `{stage}`",
                self.status.workflow_id
            )),
            Some(open) if self.decision.is_some() => {
                Err(format!("the gate of stage `{open}` has been decided already"))
            }
            Some(_) => Ok(()),
        }
    }

    fn decide(&mut self, stage: &str, decision: Decision) {
        if self.status.awaiting_approval.as_deref() == Some(stage) && self.decision.is_none() {
            self.decision = Some(decision);
        }
    }

    fn stage_mut(&mut self, index: usize) -> &mut StageStatus {
        &mut self.status.stages[index]
    }
}

async fn run_stage(
    ctx: &mut WorkflowContext<DevelopWorkflow>,
    input: &DevelopInput,
    index: usize,
    stage: &StagePlan,
) -> Result<(), Stop> {
    let started = now(ctx);
    ctx.state_mut(|s| {
        s.status.current_stage = Some(stage.name.clone());
        s.stage_mut(index).state = StageState::Running;
    });
    let run_id = format!("{}/{}", ctx.workflow_id(), stage.name);
    events::stage_started(ctx, KIND, &stage.name).await;
    let (mut snapshot, taken_by_the_run) = snapshot_before(ctx, input, stage).await?;
    let settings = stage.agent_settings(&input.agent);
    let task = AgentTask {
        run_id: run_id.clone(),
        restore_on_retry: snapshot.as_ref().filter(|_| taken_by_the_run.is_none()).map(|s| s.reference.clone()),
        snapshot: taken_by_the_run,
        project_path: input.project_path.clone(),
        prompt: stage.prompt.clone(),
        settings: settings.clone(),
        earlier_attempts: 0,
        failures_allowed: 0,
        earlier_spend: Vec::new(),
        spent_before_usd: ctx.state(|s| s.status.total_cost_usd),
        budget: None,
        #[cfg(feature = "upgrade-rehearsal")]
        rehearsal: None,
    };
    let report = match budget::run_agent(ctx, index, task, input.approval_timeout_secs).await {
        Ok(report) => report,
        Err(ended) => {
            let stop = match ended {
                RunEnd::OutOfBudget(Waited::TimedOut(why)) => Stop::Failed(why),
                // A cancel during a wait (for budget, or a usage limit's reset) ends it.
                RunEnd::OutOfBudget(_) => {
                    Stop::Cancelled(format!("cancelled while stage `{}` waited for budget", stage.name))
                }
                RunEnd::Failed(_) if ctx.cancellation_token().is_cancelled() => {
                    Stop::Cancelled(format!("cancelled during stage `{}`", stage.name))
                }
                RunEnd::Failed(err) => activity_stop(&stage.name, "agent", &err),
            };
            return Err(roll_back_critical(ctx, input, stage, snapshot.as_ref(), stop).await);
        }
    };
    if let Some(taken) = report.snapshot.clone() {
        snapshot = Some(taken);
    }
    let cost = ctx.state_mut(|s| {
        record_agent(s.stage_mut(index), &report);
        s.status.refresh_totals();
        events::stage_cost(&s.status, index, Some(report.model.clone()))
    });
    emit(ctx, EventData::CostUpdated(cost)).await;
    budget::warn(ctx, index).await;

    if stage.run_tests {
        ctx.state_mut(|s| s.stage_mut(index).state = StageState::Testing);
        let tests = gate::run_tests(ctx, run_id, &input.project_path, input.test_timeout_secs).await;
        let tests = match tests {
            Ok(tests) => tests,
            Err(err) => {
                let stop = activity_stop(&stage.name, "tests", &err);
                return Err(roll_back_critical(ctx, input, stage, snapshot.as_ref(), stop).await);
            }
        };
        ctx.state_mut(|s| {
            record_tests(s.stage_mut(index), &tests);
        });
        events::tests_completed(ctx, &stage.name, &tests).await;
        let baseline = ctx.state(|s| s.status.test_baseline.clone());
        match gate::judge(baseline.as_ref(), &tests, input.strict_tests) {
            Verdict::Green => {}
            Verdict::Preexisting(names) => ctx.state_mut(|s| s.stage_mut(index).preexisting_failures = names),
            Verdict::Broken(names) => {
                let stop = Stop::Failed(gate::failure(&stage.name, &tests, baseline.is_some(), &names));
                return Err(roll_back_critical(ctx, input, stage, snapshot.as_ref(), stop).await);
            }
        }
    }

    if stage.requires_approval {
        await_approval(ctx, index, &stage.name, input.approval_timeout_secs).await?;
    }
    let finished = now(ctx);
    let outcome = ctx.state_mut(|s| {
        let status = s.stage_mut(index);
        status.state = StageState::Completed;
        status.duration_ms = elapsed_ms(started, finished);
        let model = Some(report.model.clone()).filter(|m| !m.is_empty());
        events::stage_outcome(KIND, &s.status, &s.status.stages[index], model)
    });
    emit(ctx, EventData::StageCompleted(outcome)).await;
    Ok(())
}

/// Snapshots the work tree before a stage, so that a retried agent attempt starts from it
/// and a failed critical stage can be rolled back. Every stage gets one, not only critical
/// ones: without it a retry would start from the failed attempt's half-done edits.
/// The agent run takes it itself (the task to hand it is returned too), where the history
/// allows; the snapshot returned then is the one it will take, its commit not yet known.
async fn snapshot_before(
    ctx: &mut WorkflowContext<DevelopWorkflow>,
    input: &DevelopInput,
    stage: &StagePlan,
) -> Result<(Option<Snapshot>, Option<SnapshotTask>), Stop> {
    if !ctx.patched(snapshots::SNAPSHOTS_PATCH) {
        return Ok((None, None));
    }
    let number = ctx.state(|s| s.status.snapshots.len()) as u32 + 1;
    if let Some((planned, task)) = snapshots::by_the_run(ctx, &input.project_path, number, &stage.name) {
        ctx.state_mut(|s| s.status.snapshots.push(snapshots::label(&planned)));
        return Ok((Some(planned), Some(task)));
    }
    let snapshot = snapshots::take(ctx, &input.project_path, number, &stage.name)
        .await
        .map_err(|err| activity_stop(&stage.name, "snapshot", &err))?;
    ctx.state_mut(|s| s.status.snapshots.push(snapshots::label(&snapshot)));
    events::snapshot_created(ctx, &stage.name, &snapshot).await;
    Ok((Some(snapshot), None))
}

/// A critical stage that failed is rolled back to its snapshot before the workflow ends, and a
/// stage cancelled while it ran loses its half-done edits (unless asked to keep them).
/// A rejected stage is left as it is for the reviewer (`claude-temporal rollback` undoes it).
async fn roll_back_critical(
    ctx: &mut WorkflowContext<DevelopWorkflow>,
    input: &DevelopInput,
    stage: &StagePlan,
    snapshot: Option<&Snapshot>,
    stop: Stop,
) -> Stop {
    match (stop, snapshot) {
        (Stop::Failed(message), Some(snapshot)) if stage.critical_path => {
            let (message, restored) = snapshots::roll_back(ctx, &input.project_path, snapshot, message).await;
            emit(
                ctx,
                EventData::SnapshotRestored(SnapshotEvent {
                    workflow_id: ctx.workflow_id().to_owned(),
                    stage: Some(stage.name.clone()),
                    // A snapshot the agent run took is known by its ref until the restore says
                    // which commit that is.
                    commit: restored.unwrap_or_else(|| snapshot.commit.clone()),
                    reason: Some(message.clone()),
                }),
            )
            .await;
            Stop::Failed(message)
        }
        (Stop::Cancelled(message), Some(snapshot)) if !ctx.state(|s| s.keep_changes) => {
            Stop::Cancelled(snapshots::undo_cancelled(ctx, &input.project_path, snapshot, message).await)
        }
        (stop, _) => stop,
    }
}

async fn await_approval(
    ctx: &mut WorkflowContext<DevelopWorkflow>,
    index: usize,
    stage: &str,
    timeout_secs: u64,
) -> Result<(), Stop> {
    let run_id = ctx.run_id().to_owned();
    let request = ctx.state_mut(|s| {
        s.decision = None;
        s.status.state = RunState::AwaitingApproval;
        s.status.awaiting_approval = Some(stage.to_owned());
        let status = s.stage_mut(index);
        status.state = StageState::AwaitingApproval;
        let summary = format!(
            "{}{} files changed (+{}/-{}), tests {}",
            if status.files_truncated { "over " } else { "" },
            status.files_changed.len(),
            status.lines_added,
            status.lines_removed,
            match (status.tests_passed, status.tests_failed) {
                (Some(passed), Some(failed)) => format!("{passed} passed, {failed} failed"),
                _ => "not run".to_owned(),
            }
        );
        ApprovalRequested {
            workflow_id: s.status.workflow_id.clone(),
            run_id,
            stage: stage.to_owned(),
            summary: Some(summary),
            cost_so_far_usd: s.status.total_cost_usd,
            timeout_secs: Some(timeout_secs),
            estimate_rest_usd: budget::estimate_after(&s.status, index),
        }
    });
    emit(ctx, EventData::ApprovalRequested(request)).await;
    events::settle(ctx).await;
    let mut timer = ctx.timer(Duration::from_secs(timeout_secs));
    let decided = temporalio_sdk::workflows::select! {
        decided = ctx.wait_condition(|s| s.decision.is_some()) => decided.is_ok(),
        _ = timer => false,
    };
    if decided {
        timer.cancel();
    }
    let decision = ctx.state_mut(|s| {
        s.status.awaiting_approval = None;
        s.status.state = RunState::Running;
        s.decision.take()
    });
    let workflow_id = ctx.workflow_id().to_owned();
    let decision_event = |decision: &ApprovalDecision| ApprovalEvent {
        workflow_id: workflow_id.clone(),
        stage: stage.to_owned(),
        comment: Some(decision.comment.clone()).filter(|c| !c.is_empty()),
        decided_by: decision.decided_by.clone(),
    };
    match &decision {
        Some(Decision::Approved(approved)) => {
            spans::record_decision("approved", approved.decided_by.as_deref());
            emit(ctx, EventData::ApprovalGranted(decision_event(approved))).await
        }
        Some(Decision::Rejected(rejected)) => {
            spans::record_decision("rejected", rejected.decided_by.as_deref());
            emit(ctx, EventData::ApprovalRejected(decision_event(rejected))).await
        }
        None if ctx.cancellation_token().is_cancelled() => {}
        None => {
            let timed_out = ApprovalTimedOut {
                workflow_id: workflow_id.clone(),
                stage: stage.to_owned(),
                waited_secs: timeout_secs,
            };
            emit(ctx, EventData::ApprovalTimedOut(timed_out)).await;
        }
    }
    match decision {
        Some(Decision::Approved(approved)) => {
            ctx.state_mut(|s| {
                let stage = s.stage_mut(index);
                stage.approval_comment = Some(approved.comment);
                stage.approved_by = approved.decided_by;
            });
            Ok(())
        }
        Some(Decision::Rejected(rejected)) => {
            let by = rejected.decided_by.map(|who| format!(" by {who}")).unwrap_or_default();
            Err(Stop::Failed(format!("stage `{stage}` was rejected{by}: {}", rejected.comment)))
        }
        None if ctx.cancellation_token().is_cancelled() => {
            Err(Stop::Cancelled(format!("cancelled while stage `{stage}` awaited approval")))
        }
        None => Err(Stop::Failed(format!(
            "approval of stage `{stage}` timed out after {timeout_secs}s; nothing after it ran. \
             Start the workflow again (or raise --approval-timeout) to continue"
        ))),
    }
}

fn activity_stop(stage: &str, what: &str, err: &ActivityExecutionError) -> Stop {
    match err {
        ActivityExecutionError::Cancelled(_) => Stop::Cancelled(format!("cancelled during stage `{stage}`")),
        _ => Stop::Failed(format!("stage `{stage}` {}", options::activity_failed(what, err))),
    }
}

/// Marks the workflow and the stage as ended, says so on the event bus and
/// returns the termination.
async fn finish_early(
    ctx: &mut WorkflowContext<DevelopWorkflow>,
    index: usize,
    stop: Stop,
    started: SystemTime,
) -> WorkflowTermination {
    let (run_state, stage_state, message) = match &stop {
        Stop::Failed(message) => (RunState::Failed, StageState::Failed, message.clone()),
        Stop::Cancelled(message) => (RunState::Cancelled, StageState::Cancelled, message.clone()),
    };
    let status = ctx.state_mut(|s| {
        s.status.state = run_state;
        s.status.awaiting_approval = None;
        s.status.error = Some(message.clone());
        let stage = s.stage_mut(index);
        stage.state = stage_state;
        stage.error = Some(message.clone());
        s.status.clone()
    });
    emit(ctx, EventData::StageFailed(events::stage_outcome(KIND, &status, &status.stages[index], None))).await;
    let finished = events::finished(KIND, &status, elapsed_ms(started, now(ctx)));
    events::emit_last(
        ctx,
        match stop {
            Stop::Failed(_) => EventData::WorkflowFailed(finished),
            Stop::Cancelled(_) => EventData::WorkflowCancelled(finished),
        },
    )
    .await;
    match stop {
        Stop::Failed(message) => ApplicationFailure::non_retryable(WorkflowError(message)).into(),
        Stop::Cancelled(_) => WorkflowTermination::cancelled(),
    }
}

/// A baseline is worth taking when some stage's tests gate it and failures may be forgiven.
fn needs_baseline(input: &DevelopInput) -> bool {
    !input.strict_tests && input.stages.iter().any(|stage| stage.run_tests)
}
