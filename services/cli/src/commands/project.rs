//! What the iterate, parallel, snapshots and rollback commands share: a checked project
//! path and a default workflow id.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// Prints a started workflow's id (stdout) and how to follow it (stderr), or all of it as one
/// JSON object.
pub(super) fn announce(started: &Started<'_>, json: bool) {
    let Started { kind, id, project, detail, links } = started;
    if json {
        let announced = serde_json::json!({
            "workflow_id": id,
            "ui_url": links.ui_url,
            "trace_id": links.trace_id,
            "trace_url": links.trace_url,
        });
        println!("{announced}");
        return;
    }
    println!("{id}");
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
