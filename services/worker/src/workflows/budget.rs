//! Budgets in workflow code: the limit each agent run is stopped at, the warning once a limit
//! is nearly used up, and the durable wait, after a run was stopped at its budget, for
//! `claude-temporal budget ID --add USD` (an Update) or the approval timeout.

use std::time::Duration;

use ct_domain::budget::{BudgetRaise, BudgetRaised, BudgetScope, BudgetWait, RunLimit, check_amount};
use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_events::EventData;
use ct_events::data::{BudgetExhausted, BudgetRaised as RaisedEvent, BudgetWarning};
use temporalio_sdk::{CancellableFuture, WorkflowContext};

use ct_contracts::{AgentReport, AgentTask};
use temporalio_sdk::ActivityExecutionError;

use super::develop::record_attempts;
use super::events::emit;
use super::{HasStatus, agent_run};

/// How a wait for more budget ended.
pub(super) enum Waited {
    Raised,
    /// Nobody raised it in time: why the stage fails.
    TimedOut(String),
    Cancelled,
}

/// Why a stage's agent run under a budget ended without a report.
pub(super) enum RunEnd {
    /// The run failed, as any run can.
    Failed(Box<ActivityExecutionError>),
    /// The run (or its start) waited for more budget, and none came: timed out or cancelled.
    OutOfBudget(Waited),
}

/// Runs stage `index`'s agent within its budget: waits before it starts when nothing (or not
/// its estimate) is left, and after the executor stopped it at the crossing response, then
/// schedules it again once the budget is raised. Failed attempts are on the stage's status.
pub(super) async fn run_agent<W: HasStatus>(
    ctx: &WorkflowContext<W>,
    index: usize,
    mut task: AgentTask,
    wait_secs: u64,
) -> Result<AgentReport, RunEnd> {
    loop {
        task.budget = ctx.state(|s| run_limit(s.status(), index));
        if let Some(limit) = task.budget
            && let Some(shortfall) = ctx.state(|s| cannot_start(s.status(), index, &limit))
        {
            match wait_for_more(ctx, index, limit, shortfall, wait_secs).await {
                Waited::Raised => continue,
                ended => return Err(RunEnd::OutOfBudget(ended)),
            }
        }
        let err = match agent_run::run_agent(ctx, task.clone()).await {
            Ok(report) => return Ok(report),
            Err(err) => err,
        };
        let attempts = agent_run::attempts_of(&err);
        ctx.state_mut(|s| {
            let status = s.status_mut();
            record_attempts(&mut status.stages[index], attempts.clone());
            status.refresh_totals();
        });
        let Some(limit) = task.budget.filter(|_| agent_run::over_budget(&err)) else {
            return Err(RunEnd::Failed(Box::new(err)));
        };
        warn(ctx, index).await;
        task.earlier_attempts = attempts.last().map_or(task.earlier_attempts, |a| a.attempt);
        task.earlier_spend = attempts;
        match wait_for_more(ctx, index, limit, Shortfall::StoppedRun, wait_secs).await {
            Waited::Raised => {}
            ended => return Err(RunEnd::OutOfBudget(ended)),
        }
    }
}

/// The limit the agent run of stage `index` is stopped at, if any limit applies.
fn run_limit(status: &WorkflowStatus, index: usize) -> Option<RunLimit> {
    let budget = status.budget.as_ref()?;
    let stage = &status.stages[index];
    budget.run_limit(status.total_cost_usd - stage.cost_usd, stage.budget_usd)
}

/// Why stage `index` cannot start its agent under `limit`, if so: nothing is left, or its
/// estimate does not fit in what is.
fn cannot_start(status: &WorkflowStatus, index: usize, limit: &RunLimit) -> Option<Shortfall> {
    let stage = &status.stages[index];
    let left = limit.allowance_usd - stage.cost_usd;
    match stage.estimate {
        _ if left <= 0.0 => Some(Shortfall::CannotStart(None)),
        Some(estimate) if estimate.usd > left => Some(Shortfall::CannotStart(Some(estimate.usd))),
        _ => None,
    }
}

/// What the stages after `index` will likely cost, when any of them ran before.
pub(super) fn estimate_after(status: &WorkflowStatus, index: usize) -> Option<f64> {
    let estimates: Vec<f64> = status.stages[index + 1..].iter().filter_map(|s| s.estimate.map(|e| e.usd)).collect();
    (!estimates.is_empty()).then(|| estimates.iter().sum())
}

/// Why a raise cannot be taken, if so.
pub(super) fn check_raise(status: &WorkflowStatus, raise: &BudgetRaise) -> Result<(), String> {
    check_amount(raise.add_usd)?;
    let id = &status.workflow_id;
    match &status.budget {
        None => Err(format!("workflow `{id}` has no budget to raise; start it with --budget-usd to give it one")),
        Some(budget) if budget.waiting.is_none() && budget.limit_usd.is_none() => {
            Err(format!("workflow `{id}` has only stage budgets and no stage waits on one; nothing to raise now"))
        }
        Some(_) if status.state.is_final() => Err(format!("workflow `{id}` has ended; its budget no longer applies")),
        Some(_) => Ok(()),
    }
}

/// Raises the limit a stopped run waits on (else the workflow's), and wakes the wait.
pub(super) fn raise(status: &mut WorkflowStatus, raise: &BudgetRaise) -> BudgetRaised {
    let budget = status.budget.get_or_insert_default();
    budget.raises += 1;
    match budget.waiting.as_ref().filter(|wait| wait.scope == BudgetScope::Stage) {
        Some(wait) => {
            let stage_name = wait.stage.clone();
            // A raised limit warns again when its new warning fraction is reached.
            budget.warned.retain(|key| *key != format!("stage:{stage_name}"));
            let stage = status.stages.iter_mut().find(|stage| stage.name == stage_name);
            let limit = stage.and_then(|stage| stage.budget_usd.as_mut()).map_or(raise.add_usd, |limit| {
                *limit += raise.add_usd;
                *limit
            });
            BudgetRaised { scope: BudgetScope::Stage, stage: Some(stage_name), limit_usd: limit, resumed: true }
        }
        None => {
            budget.warned.retain(|key| key != "workflow");
            let limit = budget.limit_usd.get_or_insert(0.0);
            *limit += raise.add_usd;
            BudgetRaised {
                scope: BudgetScope::Workflow,
                stage: budget.waiting.as_ref().map(|wait| wait.stage.clone()),
                limit_usd: *limit,
                resumed: budget.waiting.is_some(),
            }
        }
    }
}

/// `budget.warning` for each limit stage `index`'s figures brought to its warning fraction.
pub(super) async fn warn<W: HasStatus>(ctx: &WorkflowContext<W>, index: usize) {
    let warnings = ctx.state_mut(|s| {
        let status = s.status_mut();
        let stage = &status.stages[index];
        let (name, stage_limit, stage_spent) = (stage.name.clone(), stage.budget_usd, stage.cost_usd);
        let total = status.total_cost_usd;
        let Some(budget) = status.budget.as_mut() else {
            return Vec::new();
        };
        let warn_at = budget.warn_at;
        budget
            .take_warnings(total, &name, stage_limit, stage_spent)
            .into_iter()
            .map(|(scope, limit_usd, spent_usd)| BudgetWarning {
                workflow_id: status.workflow_id.clone(),
                stage: name.clone(),
                scope: scope.as_str().to_owned(),
                limit_usd,
                spent_usd,
                warn_at,
            })
            .collect::<Vec<_>>()
    });
    for warning in warnings {
        emit(ctx, EventData::BudgetWarning(warning)).await;
    }
}

/// Why the workflow waits for budget.
#[derive(Debug, Clone, Copy)]
enum Shortfall {
    /// The stage's agent was stopped at the response that crossed the limit.
    StoppedRun,
    /// The stage cannot start: nothing is left, or not its estimate (given).
    CannotStart(Option<f64>),
}

/// Waits, durably, until a raise or `timeout_secs`.
async fn wait_for_more<W: HasStatus>(
    ctx: &WorkflowContext<W>,
    index: usize,
    limit: RunLimit,
    shortfall: Shortfall,
    timeout_secs: u64,
) -> Waited {
    let (stopped_run, estimate_usd) = match shortfall {
        Shortfall::StoppedRun => (true, None),
        Shortfall::CannotStart(estimate) => (false, estimate),
    };
    let (exhausted, raises) = ctx.state_mut(|s| {
        let status = s.status_mut();
        let stage = &status.stages[index];
        let spent_usd = match limit.scope {
            BudgetScope::Workflow => status.total_cost_usd,
            BudgetScope::Stage => stage.cost_usd,
        };
        let wait = BudgetWait {
            stage: stage.name.clone(),
            scope: limit.scope,
            limit_usd: limit.limit_usd,
            spent_usd,
            stopped_run,
            estimate_usd,
            timeout_secs,
        };
        let exhausted = BudgetExhausted {
            workflow_id: status.workflow_id.clone(),
            stage: wait.stage.clone(),
            scope: limit.scope.as_str().to_owned(),
            limit_usd: limit.limit_usd,
            spent_usd,
            stopped_run,
            estimate_usd,
            timeout_secs,
        };
        status.state = RunState::AwaitingBudget;
        status.stages[index].state = StageState::AwaitingBudget;
        let budget = status.budget.get_or_insert_default();
        budget.waiting = Some(wait);
        (exhausted, budget.raises)
    });
    emit(ctx, EventData::BudgetExhausted(exhausted.clone())).await;
    let mut timer = ctx.timer(Duration::from_secs(timeout_secs));
    let raised = temporalio_sdk::workflows::select! {
        raised = ctx.wait_condition(|s: &W| s.status().budget.as_ref().is_some_and(|b| b.raises != raises)) => raised.is_ok(),
        _ = timer => false,
    };
    if raised {
        timer.cancel();
    }
    let raised_to = ctx.state_mut(|s| {
        let status = s.status_mut();
        status.state = RunState::Running;
        status.stages[index].state = StageState::Running;
        let after = run_limit(status, index);
        if let Some(budget) = status.budget.as_mut() {
            budget.waiting = None;
        }
        after
    });
    if raised {
        let raised = RaisedEvent {
            workflow_id: exhausted.workflow_id,
            stage: exhausted.stage,
            scope: raised_to.map_or(limit.scope, |l| l.scope).as_str().to_owned(),
            limit_usd: raised_to.map_or(limit.limit_usd, |l| l.limit_usd),
            spent_usd: exhausted.spent_usd,
        };
        emit(ctx, EventData::BudgetRaised(raised)).await;
        return Waited::Raised;
    }
    if ctx.cancellation_token().is_cancelled() {
        return Waited::Cancelled;
    }
    let what = match shortfall {
        Shortfall::StoppedRun => "was stopped at".to_owned(),
        Shortfall::CannotStart(None) => "could not start within".to_owned(),
        Shortfall::CannotStart(Some(usd)) => format!("could not start (estimated at ${usd:.4}) within"),
    };
    Waited::TimedOut(format!(
        "stage `{}` {what} its {} budget of ${:.4} (${:.4} spent) and nobody raised it within {timeout_secs}s; \
         nothing after it ran. Start the workflow again with a larger --budget-usd to continue",
        exhausted.stage,
        limit.scope.as_str(),
        limit.limit_usd,
        exhausted.spent_usd,
    ))
}
