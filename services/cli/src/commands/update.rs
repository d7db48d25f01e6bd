//! The Updates the CLI sends to running workflows (`approve`, `reject`, `budget --add`). Each
//! goes under an id that names the request, so Temporal answers a retry of it with the first
//! outcome instead of applying it twice; each has a deadline, and every way it can go wrong
//! says whether anything was applied.

use std::time::Duration;

use temporalio_client::WorkflowExecuteUpdateOptions;
use temporalio_client::errors::WorkflowUpdateError;
use temporalio_common::UpdateDefinition;

use super::Session;
use crate::error::CliError;

/// How long the CLI waits for a workflow to take and answer an Update.
const UPDATE_DEADLINE: Duration = Duration::from_secs(30);

/// One Update to one workflow.
pub(super) struct UpdateRequest<'a> {
    /// The workflow it goes to.
    pub(super) workflow_id: &'a str,
    /// What it is, for messages: "approval", "budget raise".
    pub(super) what: &'static str,
    /// The CLI command, for its span.
    pub(super) command: &'static str,
    /// Names the request: the same request sent again carries the same id.
    pub(super) update_id: String,
    /// The workflow's trace, which the request joins.
    pub(super) traceparent: Option<String>,
}

impl UpdateRequest<'_> {
    /// Sends `input` as `update` and waits for the workflow's answer, at most [`UPDATE_DEADLINE`].
    pub(super) async fn send<D>(&self, session: &Session, update: D, input: D::Input) -> anyhow::Result<D::Output>
    where
        D: UpdateDefinition<Workflow = ct_contracts::workflows::Develop>,
        D::Input: Send,
        D::Output: 'static,
    {
        let options = WorkflowExecuteUpdateOptions::builder().update_id(self.update_id.clone()).build();
        let handle = session.handle(self.workflow_id);
        let call = handle.execute_update(update, input, options);
        let traced = session.in_workflow_trace(self.command, self.workflow_id, self.traceparent.as_deref(), call);
        match tokio::time::timeout(UPDATE_DEADLINE, traced).await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(err)) => Err(self.refused(session, err).await),
            Err(_) => Err(self.unanswered().into()),
        }
    }

    /// The deadline passed: the workflow may still take the request (Temporal keeps it while the
    /// workflow runs), so the message says how to find out before sending it again.
    fn unanswered(&self) -> CliError {
        CliError::Unreachable(format!(
            "workflow `{id}` did not answer the {what} within {secs}s: no worker is running for it, or it \
             is busy. It may still take it when a worker does; `claude-temporal status {id}` shows whether \
             it did. Sending the same command again before then is safe: it names the same request \
             (`{update_id}`)",
            id = self.workflow_id,
            what = self.what,
            secs = UPDATE_DEADLINE.as_secs(),
            update_id = self.update_id,
        ))
    }

    /// A request the workflow did not take: its validator's reason (the gate closed between the
    /// look and the decision, someone else raised the budget), or why it was not delivered.
    async fn refused(&self, session: &Session, err: WorkflowUpdateError) -> anyhow::Error {
        let (id, what) = (self.workflow_id, self.what);
        match err {
            WorkflowUpdateError::Failed(failure) => {
                CliError::BadInput(format!("the {what} was refused by workflow `{id}`: {}", failure.message)).into()
            }
            // The update is unknown when the workflow is, when it has ended, and when the
            // workflow task that would have taken it failed (its worker died).
            WorkflowUpdateError::NotFound(_) => match session.running(id).await {
                Some(true) => CliError::Unreachable(format!(
                    "the {what} was lost before workflow `{id}` took it (its worker stopped?); nothing \
                     was applied. Send it again"
                ))
                .into(),
                Some(false) => CliError::BadInput(format!(
                    "workflow `{id}` has ended; nothing was applied. `claude-temporal status {id}` says how it ended"
                ))
                .into(),
                None => session.unknown(id).into(),
            },
            other => CliError::Unreachable(format!(
                "cannot send the {what} to `{id}`: {other}; nothing is known to be applied, \
                 `claude-temporal status {id}` shows whether it was"
            ))
            .into(),
        }
    }
}
