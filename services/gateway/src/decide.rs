//! Sending a decision to its workflow: only while the gate it names is open, as the gate's own
//! Update (one id per gate and verdict, the one `claude-temporal approve` uses), so a gate is
//! decided once.

use std::time::Duration;

use ct_approvals::{GateDecision, Verdict};
use ct_contracts::workflows::{ApproveGate, Develop, RejectGate, Status};
use ct_domain::{ApprovalDecision, WorkflowStatus};
use temporalio_client::errors::{WorkflowQueryError, WorkflowUpdateError};
use temporalio_client::{
    Client, NamespacedClient, WorkflowExecuteUpdateOptions, WorkflowExecutionInfo, WorkflowHandle, WorkflowQueryOptions,
};
use tracing::Instrument as _;

/// The longest comment kept with a decision.
pub(crate) const MAX_COMMENT_CHARS: usize = 2_000;

/// How long a decision may take before the person is told to look again.
const DEADLINE: Duration = Duration::from_secs(20);

/// What became of a decision.
pub(crate) enum Outcome {
    /// The gate is decided as asked.
    Decided,
    /// Nothing was decided, and why (the gate is closed, the workflow is unknown).
    Refused(String),
    /// It could not be told whether anything was decided.
    Unknown(String),
}

/// Whether the one deciding may decide the run's gates, judged on its status once the gate is
/// found open: `Err` says why not.
pub(crate) type MayDecide<'a> = &'a (dyn Fn(&WorkflowStatus) -> Result<(), String> + Sync);

/// For those the door itself vouches for: a signed link's holder, a signed-in person.
pub(crate) const ANYONE: MayDecide<'static> = &|_| Ok(());

pub(crate) async fn decide(
    client: &Client,
    decision: &GateDecision,
    decided_by: String,
    comment: String,
    may_decide: MayDecide<'_>,
) -> Outcome {
    tokio::time::timeout(DEADLINE, send(client, decision, decided_by, comment, may_decide))
        .await
        .unwrap_or_else(|_| late(decision))
}

/// Why nothing can be decided now (the gate is closed, the run unknown), or `None` while the
/// gate is open: the confirmation page asks only then.
pub(crate) async fn closed(client: &Client, decision: &GateDecision) -> Option<Outcome> {
    let check = async { open_gate(&handle(client, decision), decision).await.err() };
    tokio::time::timeout(DEADLINE, check).await.unwrap_or_else(|_| Some(late(decision)))
}

fn late(decision: &GateDecision) -> Outcome {
    let id = &decision.workflow_id;
    Outcome::Unknown(format!(
        "workflow `{id}` did not answer within {} s; `claude-temporal status {id}` shows whether the gate was decided",
        DEADLINE.as_secs()
    ))
}

/// The run the decision was made for, never whichever run holds the workflow id now.
fn handle(client: &Client, decision: &GateDecision) -> WorkflowHandle<Client, Develop> {
    let run = WorkflowExecutionInfo::builder()
        .namespace(client.namespace())
        .workflow_id(decision.workflow_id.clone())
        .run_id(decision.run_id.clone())
        .build();
    WorkflowHandle::new(client.clone(), run)
}

/// The run's status while it waits at the decision's gate.
async fn open_gate(
    handle: &WorkflowHandle<Client, Develop>,
    decision: &GateDecision,
) -> Result<WorkflowStatus, Outcome> {
    let id = &decision.workflow_id;
    let status = match handle.query(Status, (), WorkflowQueryOptions::default()).await {
        Ok(status) => status,
        Err(WorkflowQueryError::NotFound(_)) => {
            return Err(Outcome::Refused(format!("there is no workflow `{id}` with the run this was made for")));
        }
        Err(err) => {
            // Temporal's own words stay in the log: the person is told what to do.
            tracing::warn!(workflow = %id, %err, "the workflow could not be asked for its state");
            return Err(Outcome::Unknown(format!(
                "workflow `{id}` could not be asked for its state; try again, or `claude-temporal status {id}`"
            )));
        }
    };
    if status.awaiting_approval.as_deref() != Some(decision.stage.as_str()) {
        return Err(Outcome::Refused(format!(
            "the gate of stage `{}` is not open: it was decided already, timed out, or not reached yet",
            decision.stage
        )));
    }
    Ok(status)
}

async fn send(
    client: &Client,
    decision: &GateDecision,
    decided_by: String,
    comment: String,
    may_decide: MayDecide<'_>,
) -> Outcome {
    // Temporal reads an empty run id as "the latest run": a decision must name its own.
    if decision.run_id.is_empty() {
        return Outcome::Refused("the decision names no run of the workflow".to_owned());
    }
    let handle = handle(client, decision);
    let status = match open_gate(&handle, decision).await {
        Ok(status) => status,
        Err(outcome) => return outcome,
    };
    if let Err(why) = may_decide(&status) {
        tracing::warn!(workflow = %decision.workflow_id, by = %decided_by, "refused: {why}");
        return Outcome::Refused(why);
    }
    let options = WorkflowExecuteUpdateOptions::builder().update_id(decision.update_id()).build();
    let input = ApprovalDecision {
        stage: decision.stage.clone(),
        comment: printable(&comment).chars().take(MAX_COMMENT_CHARS).collect(),
        decided_by: Some(printable(&decided_by)),
    };
    let decided_by = input.decided_by.clone().unwrap_or_default();
    // The decision joins the workflow's trace, saying who made it.
    let span = tracing::info_span!(
        "decide",
        otel.name = %format!("ct-gateway {}", decision.verdict.as_str()),
        ct.workflow.id = %decision.workflow_id,
        ct.stage.name = %decision.stage,
        ct.approval.decided_by = %decided_by,
    );
    if let Some(parent) = &status.traceparent {
        ct_telemetry::propagate::set_remote_parent(&span, parent);
    }
    let sent = async {
        match decision.verdict {
            Verdict::Approve => handle.execute_update(ApproveGate, input, options).await,
            Verdict::Reject => handle.execute_update(RejectGate, input, options).await,
        }
    }
    .instrument(span)
    .await;
    match sent {
        Ok(_) => Outcome::Decided,
        Err(WorkflowUpdateError::Failed(failure)) => Outcome::Refused(failure.message.clone()),
        Err(err) => {
            let id = &decision.workflow_id;
            tracing::warn!(workflow = %id, %err, "a decision's Update failed");
            Outcome::Unknown(format!(
                "the decision may not have reached workflow `{id}`; `claude-temporal status {id}` shows whether it did"
            ))
        }
    }
}

/// Text from outside (a comment, a Slack name) without control characters but newlines: `status`
/// and `watch` print it to terminals.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n').collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_do_not_reach_a_terminal() {
        assert_eq!(super::printable("ok\u{1b}[31m red\nline\u{7}"), "ok[31m red\nline");
    }
}
