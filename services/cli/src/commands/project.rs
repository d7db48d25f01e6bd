//! What the iterate, parallel, snapshots and rollback commands share: a checked project
//! path and a default workflow id.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::CliError;

/// The project's absolute path, once it is known to be a git work tree the worker can
/// snapshot (not mid-merge or mid-rebase).
pub(super) fn checked(path: &Path) -> Result<PathBuf, CliError> {
    ct_workspace::check_project(path).map_err(|err| CliError::BadInput(err.to_string()))?;
    path.canonicalize()
        .map_err(|err| CliError::BadInput(format!("cannot resolve {}: {err}", path.display())))
}

/// `<kind>-<project directory name>-<milliseconds>`.
pub(super) fn default_id(kind: &str, project: &Path) -> String {
    let name: String = project
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{kind}-{}-{millis}", name.trim_matches('-'))
}

/// Prints a started workflow's id (stdout) and how to follow it (stderr).
pub(super) fn announce(kind: &str, id: &str, project: &Path, ui_url: &str, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({ "workflow_id": id, "ui_url": ui_url })
        );
    } else {
        println!("{id}");
        eprintln!("started {kind} workflow `{id}` on {}", project.display());
        eprintln!("  watch:   claude-temporal status {id}");
        eprintln!("  result:  claude-temporal result {id}");
        eprintln!("  web ui:  {ui_url}");
    }
}
