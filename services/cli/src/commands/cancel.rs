use std::process::ExitCode;

use ct_contracts::workflows::KeepChanges;
use temporalio_client::errors::WorkflowInteractionError;
use temporalio_client::{WorkflowCancelOptions, WorkflowSignalOptions};

use super::Session;
use crate::cli::CancelArgs;

pub(super) async fn run(session: &Session, args: CancelArgs) -> anyhow::Result<ExitCode> {
    let handle = session.handle(&args.id);
    if args.keep_changes {
        // Sent first, so the workflow knows before it sees the cancel.
        handle.signal(KeepChanges, true, WorkflowSignalOptions::default()).await.map_err(|err| match err {
            WorkflowInteractionError::NotFound(_) => session.unknown(&args.id).into(),
            other => anyhow::anyhow!("cannot tell workflow `{}` to keep its changes: {other}", args.id),
        })?;
    }
    handle.cancel(WorkflowCancelOptions::builder().reason(args.reason).build()).await.map_err(|err| match err {
        WorkflowInteractionError::NotFound(_) => session.unknown(&args.id).into(),
        other => anyhow::anyhow!("cannot cancel workflow `{}`: {other}", args.id),
    })?;
    eprintln!(
        "cancellation requested for {}; `claude-temporal result {}` waits until it has stopped",
        args.id, args.id
    );
    Ok(ExitCode::SUCCESS)
}
