use std::process::ExitCode;

use futures::StreamExt;
use temporalio_client::WorkflowListOptions;

use super::Session;
use crate::cli::ListArgs;
use crate::error::CliError;

pub(super) async fn run(session: &Session, args: ListArgs) -> anyhow::Result<ExitCode> {
    let mut stream = session.client.list_workflows("", WorkflowListOptions::builder().limit(args.limit).build());
    let mut rows = Vec::new();
    while let Some(execution) = stream.next().await {
        let execution = execution.map_err(|err| CliError::Unreachable(format!("cannot list workflows: {err}")))?;
        let started = execution
            .start_time()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let status = format!("{:?}", execution.status()).to_lowercase();
        // Only a running workflow has work in flight; describing the others would cost a call each.
        let (queued, running) = if status == "running" {
            ct_service::pending::counts(&ct_service::pending::of(&session.client, execution.id()).await)
        } else {
            (0, 0)
        };
        rows.push(serde_json::json!({
            "workflow_id": execution.id(),
            "type": execution.workflow_type(),
            "status": status,
            "start_time_unix": started,
            "queued": queued,
            "running": running,
        }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        eprintln!("no workflows in namespace `{}`", session.args.namespace);
    }
    if !rows.is_empty() {
        println!("{:<48} {:<18} {:<11} {:>6} {:>7} STARTED", "WORKFLOW", "TYPE", "STATUS", "QUEUED", "RUNNING");
    }
    for row in &rows {
        println!(
            "{:<48} {:<18} {:<11} {:>6} {:>7} {}",
            row["workflow_id"].as_str().unwrap_or_default(),
            row["type"].as_str().unwrap_or_default(),
            row["status"].as_str().unwrap_or_default(),
            row["queued"],
            row["running"],
            row["start_time_unix"]
        );
    }
    Ok(ExitCode::SUCCESS)
}
