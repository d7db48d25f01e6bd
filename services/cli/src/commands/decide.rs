use std::process::ExitCode;

use ct_domain::ApprovalDecision;
use ct_contracts::workflows::{Approve, Reject};
use temporalio_client::WorkflowSignalOptions;

use super::Session;
use crate::cli::{ApproveArgs, RejectArgs};
use crate::error::CliError;
use crate::output;

pub(super) async fn approve(session: &Session, args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let (stage, traceparent) = open_gate(session, &args.id, args.stage).await?;
    let decision = ApprovalDecision { stage: stage.clone(), comment: args.comment };
    let handle = session.handle(&args.id);
    let signal = handle.signal(Approve, decision, WorkflowSignalOptions::default());
    session
        .in_workflow_trace("approve", traceparent.as_deref(), signal)
        .await
        .map_err(|err| anyhow::anyhow!("cannot send approval to `{}`: {err}", args.id))?;
    eprintln!("approved stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn reject(session: &Session, args: RejectArgs) -> anyhow::Result<ExitCode> {
    let (stage, traceparent) = open_gate(session, &args.id, args.stage).await?;
    let decision = ApprovalDecision { stage: stage.clone(), comment: args.reason };
    let handle = session.handle(&args.id);
    let signal = handle.signal(Reject, decision, WorkflowSignalOptions::default());
    session
        .in_workflow_trace("reject", traceparent.as_deref(), signal)
        .await
        .map_err(|err| anyhow::anyhow!("cannot send rejection to `{}`: {err}", args.id))?;
    eprintln!("rejected stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
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
        Some(stage) if stage != awaiting => Err(CliError::BadInput(format!(
            "workflow `{id}` is waiting for approval of `{awaiting}`, not `{stage}`"
        ))
        .into()),
        _ => Ok((awaiting, status.traceparent)),
    }
}
