//! `claude-temporal budget ID [--add USD]`: what a workflow may spend and has spent, and the
//! raise that lets a run stopped at its budget go on.

use std::fmt::Write as _;
use std::process::ExitCode;

use ct_contracts::workflows::RaiseBudget;
use ct_domain::WorkflowStatus;
use ct_domain::budget::{BudgetRaise, BudgetScope};

use super::Session;
use super::update::UpdateRequest;
use crate::cli::BudgetArgs;
use crate::error::CliError;

pub(super) async fn run(session: &Session, args: BudgetArgs) -> anyhow::Result<ExitCode> {
    let status = session.status(&args.id).await?;
    let Some(add_usd) = args.add else {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report(&status))?);
        } else {
            print!("{}", table(&status));
        }
        return Ok(ExitCode::SUCCESS);
    };
    ct_domain::budget::check_amount(add_usd).map_err(|reason| CliError::BadInput(format!("--add: {reason}")))?;
    if status.state.is_final() {
        return Err(CliError::BadInput(format!(
            "workflow `{}` has ended ({}); a raise cannot restart it. Start it again with a larger --budget-usd",
            args.id,
            crate::output::json_name(&status.state)
        ))
        .into());
    }
    // The raise names the budget as this command saw it: sent again, it is refused (or, under
    // the same id, answered with the first outcome) instead of adding twice.
    let seen_raises = status.budget.as_ref().map_or(0, |budget| budget.raises);
    let request = UpdateRequest {
        workflow_id: &args.id,
        what: "budget raise",
        command: "budget",
        update_id: format!("raise-budget/{seen_raises}/{add_usd}"),
        traceparent: status.traceparent.clone(),
    };
    let raised = request.send(session, RaiseBudget, BudgetRaise { add_usd, seen_raises: Some(seen_raises) }).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&raised)?);
    } else {
        let limit = match (raised.scope, &raised.stage) {
            (BudgetScope::Stage, Some(stage)) => format!("the budget of stage `{stage}`"),
            _ => "the workflow's budget".to_owned(),
        };
        let resumed = match (&raised.stage, raised.resumed) {
            (Some(stage), true) => format!("; stage `{stage}` goes on"),
            _ => String::new(),
        };
        eprintln!("raised {limit} of {} to ${:.4}{resumed}", args.id, raised.limit_usd);
    }
    Ok(ExitCode::SUCCESS)
}

/// What `--json` prints: the budget as the workflow keeps it, with what each limit counts.
fn report(status: &WorkflowStatus) -> serde_json::Value {
    let stages: Vec<serde_json::Value> = status
        .stages
        .iter()
        .map(|stage| serde_json::json!({ "name": stage.name, "budget_usd": stage.budget_usd, "spent_usd": stage.cost_usd }))
        .collect();
    serde_json::json!({
        "workflow_id": status.workflow_id,
        "state": status.state,
        "budget": status.budget,
        "spent_usd": status.total_cost_usd,
        "stages": stages,
    })
}

fn table(status: &WorkflowStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "workflow  {}", status.workflow_id);
    let Some(budget) = &status.budget else {
        let _ = writeln!(out, "budget    none (start with --budget-usd, or give stages budget_usd)");
        let _ = writeln!(out, "spent     ${:.4}", status.total_cost_usd);
        return out;
    };
    match budget.limit_usd {
        Some(limit) => {
            let _ = writeln!(
                out,
                "budget    ${:.4} of ${limit:.4} spent; warning at {:.0}%",
                status.total_cost_usd,
                budget.warn_at * 100.0
            );
        }
        None => {
            let _ = writeln!(out, "budget    stages only; ${:.4} spent", status.total_cost_usd);
        }
    }
    for stage in status.stages.iter().filter(|stage| stage.budget_usd.is_some()) {
        let _ = writeln!(
            out,
            "stage     {}: ${:.4} of ${:.4}",
            stage.name,
            stage.cost_usd,
            stage.budget_usd.unwrap_or_default()
        );
    }
    if let Some(line) = crate::output::budget_wait_line(status) {
        let _ = writeln!(out, "{line}");
    }
    out
}
