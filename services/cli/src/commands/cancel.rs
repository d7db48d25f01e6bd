use std::process::ExitCode;

use temporalio_client::WorkflowCancelOptions;
use temporalio_client::errors::WorkflowInteractionError;

use super::Session;
use crate::cli::CancelArgs;

pub(super) async fn run(session: &Session, args: CancelArgs) -> anyhow::Result<ExitCode> {
    session
        .handle(&args.id)
        .cancel(WorkflowCancelOptions::builder().reason(args.reason).build())
        .await
        .map_err(|err| match err {
            WorkflowInteractionError::NotFound(_) => session.unknown(&args.id).into(),
            other => anyhow::anyhow!("cannot cancel workflow `{}`: {other}", args.id),
        })?;
    eprintln!(
        "cancellation requested for {}; `claude-temporal result {}` waits until it has stopped",
        args.id, args.id
    );
    Ok(ExitCode::SUCCESS)
}
