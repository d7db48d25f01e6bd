use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use ct_domain::templates::{self, PromptContext};
use ct_domain::{AgentSettings, DevelopInput};
use ct_worker::workflows::DevelopWorkflow;
use temporalio_client::WorkflowStartOptions;
use temporalio_client::errors::WorkflowStartError;

use super::Session;
use crate::cli::StartArgs;
use crate::error::CliError;

pub(super) async fn run(session: &Session, args: StartArgs) -> anyhow::Result<ExitCode> {
    let project = validate_project(&args.project)?;
    let project_path = project.to_string_lossy().into_owned();
    let features: Vec<String> = args
        .features
        .iter()
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    let template = templates::find(&args.template).map_err(|err| CliError::BadInput(err.to_string()))?;
    let stages = template
        .render(&PromptContext {
            project_path: &project_path,
            features: &features,
        })
        .map_err(|err| CliError::BadInput(err.to_string()))?;
    let id = args.id.clone().unwrap_or_else(|| default_id(&project));
    let input = DevelopInput {
        project_path,
        features,
        template: template.name.to_owned(),
        stages,
        approval_timeout_secs: args.approval_timeout,
        agent: AgentSettings {
            model: args.model,
            max_turns: args.max_turns,
            timeout_secs: args.agent_timeout,
            max_output_tokens: args.max_output_tokens,
        },
        test_timeout_secs: args.test_timeout,
    };
    session
        .client
        .start_workflow(
            DevelopWorkflow::run,
            input,
            WorkflowStartOptions::new(session.args.task_queue.clone(), id.clone()).build(),
        )
        .await
        .map_err(|err| match err {
            WorkflowStartError::AlreadyStarted { .. } => {
                CliError::BadInput(format!("a workflow with id `{id}` is already running; pick another --id"))
            }
            other => CliError::Unreachable(format!("cannot start workflow `{id}`: {other}")),
        })?;
    let ui_url = session.ui_link(&id);
    if args.json {
        println!("{}", serde_json::json!({ "workflow_id": id, "ui_url": ui_url }));
    } else {
        println!("{id}");
        eprintln!("started develop workflow `{id}` on {}", project.display());
        eprintln!("  watch:   claude-temporal status {id}");
        eprintln!("  web ui:  {ui_url}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The agent may only work in an existing git work tree: its changes must be
/// reviewable and recoverable.
fn validate_project(path: &Path) -> Result<PathBuf, CliError> {
    let project = path.canonicalize().map_err(|err| {
        CliError::BadInput(format!("project path {} does not exist ({err})", path.display()))
    })?;
    if !project.is_dir() {
        return Err(CliError::BadInput(format!("project path {} is not a directory", project.display())));
    }
    let inside = std::process::Command::new("git")
        .arg("-C")
        .arg(&project)
        .args(["rev-parse", "--is-inside-work-tree"])
        .output()
        .map_err(|err| CliError::BadInput(format!("cannot run git to check {}: {err}", project.display())))?;
    if !inside.status.success() || String::from_utf8_lossy(&inside.stdout).trim() != "true" {
        return Err(CliError::BadInput(format!(
            "{} is not a git repository; the agent's work is tracked with git. Run \
             `git init && git add -A && git commit -m initial` there first",
            project.display()
        )));
    }
    Ok(project)
}

fn default_id(project: &Path) -> String {
    let name: String = project
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format!("develop-{}-{millis}", name.trim_matches('-'))
}
