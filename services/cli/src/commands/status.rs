use std::process::ExitCode;
use std::time::Duration;

use ct_domain::{RunState, WorkflowStatus};
use temporalio_client::errors::{WorkflowGetResultError, WorkflowInteractionError};
use temporalio_client::{WorkflowDescribeOptions, WorkflowGetResultOptions};

use super::Session;
use crate::cli::IdArgs;
use crate::error::CliError;
use crate::output;

const PROGRESS_EVERY: Duration = Duration::from_secs(2);

pub(super) async fn show(session: &Session, args: IdArgs) -> anyhow::Result<ExitCode> {
    let mut status = session.status(&args.id).await?;
    ct_service::pending::overlay(&mut status, &ct_service::pending::of(&session.client, &args.id).await);
    print_status(session, &status, args.json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_status(session: &Session, status: &WorkflowStatus, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(status)?);
    } else {
        print!("{}", output::status_table(status));
        if let Some(trace_url) = session.trace_url(status.trace_id.as_deref()) {
            println!("jaeger    {trace_url}");
        }
    }
    Ok(())
}

/// Waits for the workflow to end, printing a progress line to stderr whenever
/// it changes; the final status goes to stdout.
pub(super) async fn wait_for_result(session: &Session, args: IdArgs) -> anyhow::Result<ExitCode> {
    let handle = session.handle(&args.id);
    handle.describe(WorkflowDescribeOptions::default()).await.map_err(|err| match err {
        WorkflowInteractionError::NotFound(_) => session.unknown(&args.id).into(),
        other => anyhow::anyhow!("cannot look up workflow `{}`: {other}", args.id),
    })?;
    let result = handle.get_result(WorkflowGetResultOptions::default());
    tokio::pin!(result);
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    let mut last_line = String::new();
    let outcome = loop {
        tokio::select! {
            outcome = &mut result => break outcome,
            _ = ticker.tick() => {
                if let Ok(status) = session.status(&args.id).await {
                    let line = output::progress_line(&status);
                    if line != last_line {
                        eprintln!("{line}");
                        last_line = line;
                    }
                }
            }
        }
    };
    match outcome {
        Ok(status) => {
            print_status(session, &status, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            let (state, message) = match &err {
                WorkflowGetResultError::Failed(failure) => (RunState::Failed, innermost_message(failure.as_ref())),
                WorkflowGetResultError::Cancelled { .. } => {
                    (RunState::Cancelled, "the workflow was cancelled".to_owned())
                }
                WorkflowGetResultError::Terminated { .. } => {
                    (RunState::Terminated, "the workflow was terminated".to_owned())
                }
                WorkflowGetResultError::TimedOut => (RunState::TimedOut, "the workflow timed out".to_owned()),
                other => return Err(anyhow::anyhow!("waiting for workflow `{}` failed: {other}", args.id)),
            };
            // The workflow's own account has the per-stage detail; it needs a live worker.
            let mut status = session
                .status(&args.id)
                .await
                .unwrap_or_else(|_| WorkflowStatus { workflow_id: args.id.clone(), ..WorkflowStatus::default() });
            status.state = state;
            status.error.get_or_insert(message.clone());
            print_status(session, &status, args.json)?;
            Err(CliError::WorkflowUnsuccessful(format!(
                "workflow `{}` {}: {message}",
                args.id,
                output::json_name(&state)
            ))
            .into())
        }
    }
}

fn innermost_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !text.is_empty() {
            message = text;
        }
        source = inner.source();
    }
    message
}
