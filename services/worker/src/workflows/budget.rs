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

use super::events::emit;
use super::record::record_attempts;
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
        Some(budget) if raise.seen_raises.is_some_and(|seen| seen != budget.raises) => Err(format!(
            "the budget of workflow `{id}` was raised since this request looked at it (raises: {} now, {} then); \
             nothing was added. `claude-temporal budget {id}` shows the limits; raise again if still needed",
            budget.raises,
            raise.seen_raises.unwrap_or_default()
        )),
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
#[derive(Debug, Clone, Copy, PartialEq)]
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
    super::events::settle(ctx).await;
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

#[cfg(test)]
mod tests {
    use ct_domain::StageStatus;
    use ct_domain::budget::{Budget, CostEstimate};

    use super::*;

    /// A workflow at stage 1 of two, stage 0 having spent $3 and stage 1 $1 so far.
    fn status(limit_usd: Option<f64>, stage_budget_usd: Option<f64>) -> WorkflowStatus {
        let stage = |name: &str, cost_usd: f64, budget_usd: Option<f64>| StageStatus {
            name: name.to_owned(),
            cost_usd,
            budget_usd,
            ..StageStatus::default()
        };
        WorkflowStatus {
            workflow_id: "develop-x".to_owned(),
            budget: Some(Budget { limit_usd, warn_at: 0.8, ..Budget::default() }),
            stages: vec![stage("scaffold", 3.0, None), stage("core", 1.0, stage_budget_usd), stage("docs", 0.0, None)],
            total_cost_usd: 4.0,
            ..WorkflowStatus::default()
        }
    }

    #[test]
    fn a_run_is_limited_by_what_the_other_stages_left_or_its_own_tighter_budget() {
        let limit = run_limit(&status(Some(10.0), None), 1).unwrap();
        assert_eq!((limit.scope, limit.limit_usd, limit.allowance_usd), (BudgetScope::Workflow, 10.0, 7.0));
        let limit = run_limit(&status(Some(10.0), Some(2.0)), 1).unwrap();
        assert_eq!((limit.scope, limit.allowance_usd), (BudgetScope::Stage, 2.0));
        let limit = run_limit(&status(Some(4.0), Some(2.0)), 1).unwrap();
        assert_eq!((limit.scope, limit.allowance_usd), (BudgetScope::Workflow, 1.0));
        let mut unlimited = status(None, None);
        assert_eq!(run_limit(&unlimited, 1), None);
        unlimited.budget = None;
        assert_eq!(run_limit(&unlimited, 1), None);
    }

    #[test]
    fn a_stage_does_not_start_when_nothing_or_less_than_its_estimate_is_left() {
        let mut status = status(Some(10.0), None);
        let limit = run_limit(&status, 1).unwrap();
        assert_eq!(cannot_start(&status, 1, &limit), None);
        status.stages[1].estimate = Some(CostEstimate { usd: 5.0, runs: 3 });
        assert_eq!(cannot_start(&status, 1, &limit), None, "$6 is left of the $7 allowance");
        status.stages[1].estimate = Some(CostEstimate { usd: 6.5, runs: 3 });
        assert_eq!(cannot_start(&status, 1, &limit), Some(Shortfall::CannotStart(Some(6.5))));
        status.stages[1].cost_usd = 7.0;
        assert_eq!(cannot_start(&status, 1, &limit), Some(Shortfall::CannotStart(None)));
    }

    #[test]
    fn the_estimate_after_a_stage_sums_the_later_stages_that_have_one() {
        let mut status = status(Some(10.0), None);
        assert_eq!(estimate_after(&status, 0), None);
        status.stages[2].estimate = Some(CostEstimate { usd: 0.5, runs: 1 });
        status.stages[1].estimate = Some(CostEstimate { usd: 2.0, runs: 1 });
        assert_eq!(estimate_after(&status, 0), Some(2.5));
        assert_eq!(estimate_after(&status, 1), Some(0.5));
        assert_eq!(estimate_after(&status, 2), None);
    }

    fn waiting(scope: BudgetScope) -> BudgetWait {
        BudgetWait {
            stage: "core".to_owned(),
            scope,
            limit_usd: 2.0,
            spent_usd: 2.0,
            stopped_run: true,
            estimate_usd: None,
            timeout_secs: 60,
        }
    }

    #[test]
    fn raises_are_refused_with_what_to_do_where_nothing_can_take_them() {
        let add = |add_usd| BudgetRaise { add_usd, seen_raises: None };
        let mut status = status(None, Some(2.0));
        assert!(check_raise(&status, &add(-1.0)).unwrap_err().contains("positive number"));
        assert!(check_raise(&status, &add(1.0)).unwrap_err().contains("only stage budgets"));
        status.budget.as_mut().unwrap().waiting = Some(waiting(BudgetScope::Stage));
        assert_eq!(check_raise(&status, &add(1.0)), Ok(()));
        status.state = RunState::Completed;
        assert!(check_raise(&status, &add(1.0)).unwrap_err().contains("has ended"));
        status.budget = None;
        assert!(check_raise(&status, &add(1.0)).unwrap_err().contains("--budget-usd"));
    }

    #[test]
    fn a_raise_sent_twice_goes_in_once() {
        let mut status = status(Some(10.0), None);
        let request = BudgetRaise { add_usd: 5.0, seen_raises: Some(0) };
        assert_eq!(check_raise(&status, &request), Ok(()));
        raise(&mut status, &request);
        let again = check_raise(&status, &request).unwrap_err();
        assert!(
            again.contains("was raised since this request looked") && again.contains("nothing was added"),
            "{again}"
        );
        assert_eq!(status.budget.as_ref().unwrap().limit_usd, Some(15.0));
        // The next raise, from someone who saw the first, goes in.
        assert_eq!(check_raise(&status, &BudgetRaise { add_usd: 1.0, seen_raises: Some(1) }), Ok(()));
    }

    #[test]
    fn a_raise_goes_to_the_limit_the_run_waits_on_and_warns_again() {
        let mut status = status(Some(10.0), Some(2.0));
        let budget = status.budget.as_mut().unwrap();
        budget.waiting = Some(waiting(BudgetScope::Stage));
        budget.warned = vec!["workflow".to_owned(), "stage:core".to_owned()];
        let raised = raise(&mut status, &BudgetRaise { add_usd: 1.5, seen_raises: Some(0) });
        assert_eq!((raised.scope, raised.stage.as_deref(), raised.limit_usd), (BudgetScope::Stage, Some("core"), 3.5));
        assert!(raised.resumed);
        assert_eq!(status.stages[1].budget_usd, Some(3.5));
        let budget = status.budget.as_ref().unwrap();
        assert_eq!(
            (budget.limit_usd, budget.raises, budget.warned.as_slice()),
            (Some(10.0), 1, ["workflow".to_owned()].as_slice())
        );

        // With no stage waiting, the workflow's limit is raised; nothing resumes.
        let mut unwaited = super::tests::status(Some(10.0), None);
        let raised = raise(&mut unwaited, &BudgetRaise { add_usd: 5.0, seen_raises: None });
        assert_eq!(
            (raised.scope, raised.stage, raised.limit_usd, raised.resumed),
            (BudgetScope::Workflow, None, 15.0, false)
        );
    }
}
