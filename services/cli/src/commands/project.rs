//! What the workflow-starting, snapshots and rollback commands share: a checked project path,
//! a default workflow id, and starting and announcing a workflow.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use temporalio_client::WorkflowStartOptions;
use temporalio_client::errors::WorkflowStartError;
use temporalio_common::HasWorkflowDefinition;

use super::Session;
use crate::error::CliError;

/// The project's absolute path, once it is known to be a git work tree the worker can
/// snapshot (not mid-merge or mid-rebase).
pub(super) fn checked(path: &Path) -> Result<PathBuf, CliError> {
    ct_git::check_project(path).map_err(|err| CliError::BadInput(err.to_string()))?;
    path.canonicalize().map_err(|err| CliError::BadInput(format!("cannot resolve {}: {err}", path.display())))
}

/// `<kind>-<project directory name>-<milliseconds>`.
pub(super) fn default_id(kind: &str, project: &Path) -> String {
    let name: String = project
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!("{kind}-{}-{millis}", name.trim_matches('-'))
}

/// Where a started workflow can be followed.
pub(super) struct Links {
    pub(super) ui_url: String,
    /// The workflow's trace, when spans are exported.
    pub(super) trace_id: Option<String>,
    /// The trace in the Jaeger UI, when one is configured.
    pub(super) trace_url: Option<String>,
}

/// A workflow just started, as the command announces it.
pub(super) struct Started<'a> {
    pub(super) kind: &'a str,
    pub(super) id: &'a str,
    pub(super) project: &'a Path,
    /// A line on what it will do (e.g. its stages), if any.
    pub(super) detail: Option<String>,
    pub(super) links: Links,
}

/// A workflow a command starts, and how the command prints what it started.
pub(super) struct Launch<'a> {
    pub(super) kind: &'static str,
    pub(super) id: &'a str,
    pub(super) project: &'a Path,
    /// `--json`.
    pub(super) json: bool,
    /// `--wait`: the final status follows the announcement.
    pub(super) wait: bool,
}

/// Starts `workflow` with `input` as workflow `launch.id` on the session's task queue (inside the
/// command's root span, where the workflow's trace begins) and announces it.
pub(super) async fn launch<W>(
    session: &Session,
    launch: Launch<'_>,
    workflow: W,
    input: W::Input,
) -> Result<(), CliError>
where
    W: HasWorkflowDefinition,
    W::Input: Send,
{
    let Launch { kind, id, project, json, wait } = launch;
    let options = WorkflowStartOptions::new(session.args.task_queue.clone(), id.to_owned()).build();
    let (started, trace_id) =
        session.in_root_span(kind, id, session.client.start_workflow(workflow, input, options)).await;
    started.map_err(|err| start_error(id, err))?;
    let started = Started { kind, id, project, detail: None, links: session.links(id, trace_id) };
    announce(&started, json, json && wait);
    Ok(())
}

pub(super) fn start_error(id: &str, err: WorkflowStartError) -> CliError {
    match err {
        WorkflowStartError::AlreadyStarted { .. } => {
            CliError::BadInput(format!("a workflow with id `{id}` is already running; pick another --id"))
        }
        other => CliError::Unreachable(format!("cannot start workflow `{id}`: {other}")),
    }
}

/// Prints a started workflow's id (stdout) and how to follow it (stderr), or all of it as one
/// JSON object. When the command waits and prints the result as JSON (`json_result_follows`),
/// all of it goes to stderr, so stdout is that one JSON document.
pub(super) fn announce(started: &Started<'_>, json: bool, json_result_follows: bool) {
    let Started { kind, id, project, detail, links } = started;
    if json && !json_result_follows {
        let announced = serde_json::json!({
            "workflow_id": id,
            "ui_url": links.ui_url,
            "trace_id": links.trace_id,
            "trace_url": links.trace_url,
        });
        println!("{announced}");
        return;
    }
    if json_result_follows {
        eprintln!("{id}");
    } else {
        println!("{id}");
    }
    eprintln!("started {kind} workflow `{id}` on {}", project.display());
    if let Some(detail) = detail {
        eprintln!("  {detail}");
    }
    eprintln!("  watch:   claude-temporal status {id}");
    eprintln!("  result:  claude-temporal result {id}");
    eprintln!("  web ui:  {}", links.ui_url);
    if let Some(trace_id) = &links.trace_id {
        eprintln!("  trace:   {trace_id}");
    }
    if let Some(trace_url) = &links.trace_url {
        eprintln!("  jaeger:  {trace_url}");
    }
}
