use std::process::ExitCode;

use ct_approvals::link::LinkClaim;
use ct_approvals::{GateDecision, Verdict};
use ct_contracts::workflows::{ApproveGate, RejectGate};
use ct_domain::ApprovalDecision;

use super::Session;
use super::update::UpdateRequest;
use crate::cli::{ApproveArgs, LinkArgs, RejectArgs};
use crate::error::CliError;
use crate::output;

pub(super) async fn approve(session: &Session, args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let OpenGate { stage, traceparent, .. } = open_gate(session, &args.id, args.stage).await?;
    let request = decision_request(&args.id, "approval", "approve", &stage, traceparent);
    let decision = ApprovalDecision { stage, comment: args.comment, decided_by: Some(decider()) };
    let stage = request.send(session, ApproveGate, decision).await?;
    eprintln!("approved stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn reject(session: &Session, args: RejectArgs) -> anyhow::Result<ExitCode> {
    let OpenGate { stage, traceparent, .. } = open_gate(session, &args.id, args.stage).await?;
    let request = decision_request(&args.id, "rejection", "reject", &stage, traceparent);
    let decision = ApprovalDecision { stage, comment: args.reason, decided_by: Some(decider()) };
    let stage = request.send(session, RejectGate, decision).await?;
    eprintln!("rejected stage `{stage}` of {}", args.id);
    Ok(ExitCode::SUCCESS)
}

/// Prints a signed link that decides the gate the workflow waits at.
pub(super) async fn link(session: &Session, config: &ct_config::Config, args: LinkArgs) -> anyhow::Result<ExitCode> {
    let (gateway_url, key) = super::gateway::url_and_key(config)?;
    let gate = open_gate(session, &args.id, None).await?;
    if gate.run_id.is_empty() {
        return Err(CliError::BadInput(format!(
            "the worker answering for `{}` does not say which run waits (an older build): a link bound to no run \
             could decide a later one; upgrade the workers (`claude-temporal builds`) or use `claude-temporal approve`",
            args.id
        ))
        .into());
    }
    let stage = gate.stage;
    let verdict = if args.reject { Verdict::Reject } else { Verdict::Approve };
    let now = ct_approvals::unix_now();
    let expires_unix = now + i64::from(args.expires_in) * 60;
    let claim = LinkClaim {
        decision: GateDecision { workflow_id: args.id.clone(), run_id: gate.run_id, stage: stage.clone(), verdict },
        expires_unix,
    };
    let url = format!("{}/decide/{}", gateway_url.trim_end_matches('/'), ct_approvals::link::sign(&key, &claim));
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
    format!("{} (claude-temporal CLI)", login_name())
}

/// The login name of whoever runs the CLI.
pub(super) fn login_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown user".to_owned())
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

/// The gate a workflow waits at.
struct OpenGate {
    stage: String,
    /// The run waiting there.
    run_id: String,
    /// The workflow's `traceparent`: the decision joins its trace.
    traceparent: Option<String>,
}

/// The gate that is open, checked against the stage the user named.
async fn open_gate(session: &Session, id: &str, named: Option<String>) -> anyhow::Result<OpenGate> {
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
        _ => Ok(OpenGate { stage: awaiting, run_id: status.run_id, traceparent: status.traceparent }),
    }
}
