use std::process::ExitCode;

use ct_contracts::workflows::{ApproveGate, RejectGate};
use ct_domain::ApprovalDecision;
use temporalio_client::WorkflowExecuteUpdateOptions;
use temporalio_client::errors::WorkflowUpdateError;

use super::Session;
use crate::cli::{ApproveArgs, RejectArgs};
use crate::error::CliError;
use crate::output;

pub(super) async fn approve(session: &Session, args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let (stage, traceparent) = open_gate(session, &args.id, args.stage).await?;
    let decision = ApprovalDecision { stage, comment: args.comment };
    let handle = session.handle(&args.id);
    let update = handle.execute_update(ApproveGate, decision, WorkflowExecuteUpdateOptions::default());
    let decided = session.in_workflow_trace("approve", &args.id, traceparent.as_deref(), update).await;
    let stage = decided.map_err(|err| refused(session, &args.id, "approval", err))?;
    eprintln!("approved stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn reject(session: &Session, args: RejectArgs) -> anyhow::Result<ExitCode> {
    let (stage, traceparent) = open_gate(session, &args.id, args.stage).await?;
    let decision = ApprovalDecision { stage, comment: args.reason };
    let handle = session.handle(&args.id);
    let update = handle.execute_update(RejectGate, decision, WorkflowExecuteUpdateOptions::default());
    let decided = session.in_workflow_trace("reject", &args.id, traceparent.as_deref(), update).await;
    let stage = decided.map_err(|err| refused(session, &args.id, "rejection", err))?;
    eprintln!("rejected stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
}

/// A decision the workflow did not take: its validator's reason (the gate closed between the
/// look and the decision: a timeout, someone else), or why it could not be delivered.
pub(super) fn refused(session: &Session, id: &str, what: &str, err: WorkflowUpdateError) -> anyhow::Error {
    match err {
        WorkflowUpdateError::Failed(failure) => {
            CliError::BadInput(format!("the {what} was refused by workflow `{id}`: {}", failure.message)).into()
        }
        WorkflowUpdateError::NotFound(_) => session.unknown(id).into(),
        other => CliError::Unreachable(format!("cannot send the {what} to `{id}`: {other}")).into(),
    }
}

/// The stage whose gate is open, checked against the one the user named, and the workflow's
/// `traceparent` (the decision joins its trace).
async fn open_gate(session: &Session, id: &str, named: Option<String>) -> anyhow::Result<(String, Option<String>)> {
    let status = session.status(id).await?;
    let Some(awaiting) = status.awaiting_approval else {
        return Err(CliError::BadInput(format!(
            "workflow `{id}` is not waiting for approval (state: {}, stage: {})",
            output::json_name(&status.state),
            status.current_stage.as_deref().unwrap_or("-")
        ))
        .into());
    };
    match named {
        Some(stage) if stage != awaiting => {
            Err(CliError::BadInput(format!("workflow `{id}` is waiting for approval of `{awaiting}`, not `{stage}`"))
                .into())
        }
        _ => Ok((awaiting, status.traceparent)),
    }
}
