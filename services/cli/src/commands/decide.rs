use std::process::ExitCode;

use ct_approvals::link::{LinkClaim, LinkKey};
use ct_approvals::{GateDecision, Verdict};
use ct_contracts::workflows::{ApproveGate, RejectGate};
use ct_domain::ApprovalDecision;

use super::Session;
use super::update::UpdateRequest;
use crate::cli::{ApproveArgs, LinkArgs, RejectArgs};
use crate::error::CliError;
use crate::output;

pub(super) async fn approve(session: &Session, args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let (stage, traceparent) = open_gate(session, &args.id, args.stage).await?;
    let request = decision_request(&args.id, "approval", "approve", &stage, traceparent);
    let decision = ApprovalDecision { stage, comment: args.comment, decided_by: Some(decider()) };
    let stage = request.send(session, ApproveGate, decision).await?;
    eprintln!("approved stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn reject(session: &Session, args: RejectArgs) -> anyhow::Result<ExitCode> {
    let (stage, traceparent) = open_gate(session, &args.id, args.stage).await?;
    let request = decision_request(&args.id, "rejection", "reject", &stage, traceparent);
    let decision = ApprovalDecision { stage, comment: args.reason, decided_by: Some(decider()) };
    let stage = request.send(session, RejectGate, decision).await?;
    eprintln!("rejected stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
}

/// Prints a signed link that decides the gate the workflow waits at.
pub(super) async fn link(session: &Session, args: LinkArgs) -> anyhow::Result<ExitCode> {
    let (stage, _) = open_gate(session, &args.id, None).await?;
    let secret = std::fs::read(&args.link_key_file).map_err(|err| {
        CliError::BadInput(format!("cannot read the link key {}: {err}", args.link_key_file.display()))
    })?;
    let secret = secret.strip_suffix(b"\n").unwrap_or(&secret);
    let key = LinkKey::new(secret).map_err(|err| CliError::BadInput(err.to_string()))?;
    let verdict = if args.reject { Verdict::Reject } else { Verdict::Approve };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let expires_unix = now + i64::from(args.expires_in) * 60;
    let claim = LinkClaim {
        decision: GateDecision { workflow_id: args.id.clone(), stage: stage.clone(), verdict },
        expires_unix,
    };
    let url = format!("{}/decide/{}", args.gateway_url.trim_end_matches('/'), ct_approvals::link::sign(&key, &claim));
    if args.json {
        let link = serde_json::json!({ "url": url, "stage": stage, "verdict": verdict.as_str(), "expires_unix": expires_unix });
        println!("{link}");
    } else {
        println!("{url}");
        eprintln!("{} stage `{stage}` of {}; works for {} minute(s), once", verdict.as_str(), args.id, args.expires_in);
    }
    Ok(ExitCode::SUCCESS)
}

/// Who decides from this shell: the login name, as the decision records it.
fn decider() -> String {
    let user = ["USER", "LOGNAME"].iter().find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    format!("{} (claude-temporal CLI)", user.as_deref().unwrap_or("unknown user"))
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
