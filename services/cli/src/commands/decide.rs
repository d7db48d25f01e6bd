use std::process::ExitCode;

use ct_contracts::workflows::{ApproveGate, RejectGate};
use ct_domain::ApprovalDecision;

use super::Session;
use super::update::UpdateRequest;
use crate::cli::{ApproveArgs, RejectArgs};
use crate::error::CliError;
use crate::output;

pub(super) async fn approve(session: &Session, args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let (stage, traceparent) = open_gate(session, &args.id, args.stage).await?;
    let request = decision_request(&args.id, "approval", "approve", &stage, traceparent);
    let stage = request.send(session, ApproveGate, ApprovalDecision { stage, comment: args.comment }).await?;
    eprintln!("approved stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn reject(session: &Session, args: RejectArgs) -> anyhow::Result<ExitCode> {
    let (stage, traceparent) = open_gate(session, &args.id, args.stage).await?;
    let request = decision_request(&args.id, "rejection", "reject", &stage, traceparent);
    let stage = request.send(session, RejectGate, ApprovalDecision { stage, comment: args.reason }).await?;
    eprintln!("rejected stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
}

/// A decision on the gate of `stage`: one gate, one decision, so the request is named by both
/// and a retry of it is answered with the first outcome.
fn decision_request<'a>(
    id: &'a str,
    what: &'static str,
    command: &'static str,
    stage: &str,
    traceparent: Option<String>,
) -> UpdateRequest<'a> {
    UpdateRequest { workflow_id: id, what, command, update_id: format!("{command}/{stage}"), traceparent }
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
