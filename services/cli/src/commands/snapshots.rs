//! `snapshots ID` and `rollback ID [N]`: the git snapshots a workflow took of its project,
//! read and restored here directly (the CLI runs where the repository is).

use std::path::Path;
use std::process::ExitCode;

use ct_domain::RunState;
use ct_domain::git::Snapshot;

use super::Session;
use crate::cli::{IdArgs, RollbackArgs};
use crate::error::CliError;

pub(super) async fn list(session: &Session, args: IdArgs) -> anyhow::Result<ExitCode> {
    let status = session.status(&args.id).await?;
    let snapshots =
        ct_git::list(Path::new(&status.project_path), &args.id).map_err(|err| CliError::BadInput(err.to_string()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&snapshots)?);
        return Ok(ExitCode::SUCCESS);
    }
    if snapshots.is_empty() {
        eprintln!("workflow `{}` has taken no snapshots of {}", args.id, status.project_path);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:>3}  {:<22} {:<20} FILES", "N", "BEFORE STAGE", "TAKEN (UTC)");
    for snapshot in &snapshots {
        println!(
            "{:>3}  {:<22} {:<20} {}",
            snapshot.number,
            snapshot.stage,
            taken_at(snapshot),
            files_summary(&snapshot.files, snapshot.files_truncated)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn rollback(session: &Session, args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let status = session.status(&args.id).await?;
    // A stage's agent or tests may be working in the tree; pulling it from under them
    // would mix two states. At a gate or after the end nothing touches it.
    if status.state == RunState::Running {
        let what =
            status.current_stage.map_or_else(|| "is running".to_owned(), |stage| format!("is running stage `{stage}`"));
        return Err(CliError::BadInput(format!(
            "workflow `{}` {what}; roll back once it waits for approval or has ended \
             (`claude-temporal cancel {}` stops it)",
            args.id, args.id
        ))
        .into());
    }
    let project = Path::new(&status.project_path);
    let snapshots = ct_git::list(project, &args.id).map_err(|err| CliError::BadInput(err.to_string()))?;
    let chosen = match args.number {
        Some(number) => snapshots.iter().find(|s| s.number == number),
        None => snapshots.last(),
    };
    let Some(snapshot) = chosen else {
        let available: Vec<String> = snapshots.iter().map(|s| s.number.to_string()).collect();
        return Err(CliError::BadInput(match args.number {
            Some(number) if !available.is_empty() => {
                format!("workflow `{}` has no snapshot {number}; it has {}", args.id, available.join(", "))
            }
            _ => format!("workflow `{}` has taken no snapshots of {}", args.id, status.project_path),
        })
        .into());
    };
    let report = ct_git::restore(project, &snapshot.reference).map_err(|err| CliError::BadInput(err.to_string()))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "snapshot": snapshot, "written": report.written, "removed": report.removed,
                                "truncated": report.truncated })
        );
    } else {
        let at_least = if report.truncated { "at least " } else { "" };
        println!(
            "restored snapshot {} (before `{}`, taken {}) in {}: {at_least}{} file(s) written back, {} removed",
            snapshot.number,
            snapshot.stage,
            taken_at(snapshot),
            status.project_path,
            report.written.len(),
            report.removed.len()
        );
        eprintln!("the index and HEAD are as they were: `git status` shows the restored files as changes");
    }
    Ok(ExitCode::SUCCESS)
}

fn taken_at(snapshot: &Snapshot) -> String {
    chrono::DateTime::from_timestamp(snapshot.created_unix, 0)
        .map_or_else(|| snapshot.created_unix.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn files_summary(files: &[String], truncated: bool) -> String {
    const SHOWN: usize = 4;
    let mut text = if truncated { format!("over {}", files.len()) } else { files.len().to_string() };
    if !files.is_empty() {
        text.push_str(&format!(": {}", files.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ")));
    }
    if files.len() > SHOWN {
        text.push_str(&format!(", +{} more", files.len() - SHOWN));
    }
    text
}
