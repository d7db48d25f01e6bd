//! Sending a decision to its workflow: only while the gate it names is open, as the gate's own
//! Update (one id per gate and verdict, the one `claude-temporal approve` uses), so a gate is
//! decided once.

use std::time::Duration;

use ct_approvals::{GateDecision, Verdict};
use ct_contracts::workflows::{ApproveGate, Develop, RejectGate, Status};
use ct_domain::ApprovalDecision;
use temporalio_client::errors::{WorkflowQueryError, WorkflowUpdateError};
use temporalio_client::{Client, WorkflowExecuteUpdateOptions, WorkflowQueryOptions};

/// How long a decision may take before the person is told to look again.
const DEADLINE: Duration = Duration::from_secs(20);

/// What became of a decision.
pub(crate) enum Outcome {
    /// The gate of `stage` is decided as asked.
    Decided { stage: String },
    /// Nothing was decided, and why (the gate is closed, the workflow is unknown).
    Refused(String),
    /// It could not be told whether anything was decided.
    Unknown(String),
}

pub(crate) async fn decide(client: &Client, decision: &GateDecision, decided_by: String, comment: String) -> Outcome {
    match tokio::time::timeout(DEADLINE, send(client, decision, decided_by, comment)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Unknown(format!(
            "workflow `{}` did not answer within {} s; `claude-temporal status {}` shows whether the gate was decided",
            decision.workflow_id,
            DEADLINE.as_secs(),
            decision.workflow_id
        )),
    }
}

async fn send(client: &Client, decision: &GateDecision, decided_by: String, comment: String) -> Outcome {
    let id = &decision.workflow_id;
    let handle = client.get_workflow_handle::<Develop>(id);
    let status = match handle.query(Status, (), WorkflowQueryOptions::default()).await {
        Ok(status) => status,
        Err(WorkflowQueryError::NotFound(_)) => return Outcome::Refused(format!("there is no workflow `{id}`")),
        Err(err) => return Outcome::Unknown(format!("workflow `{id}` could not be asked for its state: {err}")),
    };
    if status.awaiting_approval.as_deref() != Some(decision.stage.as_str()) {
        return Outcome::Refused(format!(
            "the gate of stage `{}` is not open: it was decided already, timed out, or not reached yet",
            decision.stage
        ));
    }
    let options = WorkflowExecuteUpdateOptions::builder().update_id(decision.update_id()).build();
    let input = ApprovalDecision { stage: decision.stage.clone(), comment, decided_by: Some(decided_by) };
    let sent = match decision.verdict {
        Verdict::Approve => handle.execute_update(ApproveGate, input, options).await,
        Verdict::Reject => handle.execute_update(RejectGate, input, options).await,
    };
    match sent {
        Ok(stage) => Outcome::Decided { stage },
        Err(WorkflowUpdateError::Failed(failure)) => Outcome::Refused(failure.message.clone()),
        Err(err) => Outcome::Unknown(format!("the decision may not have reached workflow `{id}`: {err}")),
    }
}
