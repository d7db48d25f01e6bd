use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use ct_config::stages::{self, StageSelection};
use ct_contracts::workflows::Develop;
use ct_domain::DevelopInput;
use ct_domain::templates::PromptContext;
use temporalio_client::WorkflowStartOptions;
use temporalio_client::errors::WorkflowStartError;

use super::Session;
use crate::cli::StartArgs;
use crate::error::CliError;

/// A checked start: everything that can be wrong with the input is found before Temporal is
/// contacted, so bad input fails the same way with or without a server.
pub(super) struct StartPlan {
    id: String,
    project: PathBuf,
    input: DevelopInput,
    origin: String,
    json: bool,
}

pub(super) fn plan(config: &ct_config::Config, args: StartArgs) -> Result<StartPlan, CliError> {
    let settings = &config.settings;
    let project = validate_project(project(config)?)?;
    let project_path = project.to_string_lossy().into_owned();
    let features: Vec<String> = args.features.iter().map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect();
    let selected = stages::select(StageSelection {
        template: args.stages.template.as_deref(),
        stages_file: args.stages.stages.as_deref(),
        project: Some(&project),
    })
    .map_err(|err| CliError::BadInput(err.to_string()))?;
    let mut stages = selected
        .template
        .render(&PromptContext::new(&project_path, &features))
        .map_err(|err| CliError::BadInput(err.to_string()))?;
    add_estimates(config, &mut stages);
    let id = args.id.clone().unwrap_or_else(|| default_id(&project));
    let input = DevelopInput {
        project_path,
        features,
        template: selected.template.name.clone(),
        stages,
        approval_timeout_secs: settings.workflow.approval_timeout_secs,
        agent: crate::settings::agent_settings(config),
        test_timeout_secs: settings.workflow.test_timeout_secs,
        strict_tests: args.strict_tests,
        budget_usd: settings.workflow.budget_usd,
        budget_warn_at: settings.workflow.budget_warn_at,
        slack_approvers: slack_approvers(&args.slack_approvers)?,
    };
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(StartPlan { id, project, input, origin: selected.origin, json: args.json })
}

/// The Slack user ids given, trimmed; refuses what Slack never makes, so that a typo is not
/// a list that nobody is on.
fn slack_approvers(given: &[String]) -> Result<Vec<String>, CliError> {
    let ids: Vec<String> = given.iter().map(|id| id.trim().to_owned()).filter(|id| !id.is_empty()).collect();
    match ids.iter().find(|id| !id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())) {
        Some(bad) => Err(CliError::BadInput(format!(
            "--slack-approvers: `{bad}` is not a Slack user id (like U012AB3CD: the member id in the user's \
             Slack profile, not a name)"
        ))),
        None => Ok(ids),
    }
}

pub(super) async fn run(session: &Session, plan: StartPlan) -> anyhow::Result<ExitCode> {
    let StartPlan { id, project, input, origin, json } = plan;
    let stage_names: Vec<String> = input.stages.iter().map(|stage| stage.name.clone()).collect();
    let options = WorkflowStartOptions::new(session.args.task_queue.clone(), id.clone()).build();
    let (started, trace_id) =
        session.in_root_span("start", &id, session.client.start_workflow(Develop, input, options)).await;
    started.map_err(|err| match err {
        WorkflowStartError::AlreadyStarted { .. } => {
            CliError::BadInput(format!("a workflow with id `{id}` is already running; pick another --id"))
        }
        other => CliError::Unreachable(format!("cannot start workflow `{id}`: {other}")),
    })?;
    let started = super::project::Started {
        kind: "develop",
        id: &id,
        project: &project,
        detail: Some(format!("stages:  {} from {origin}", stage_names.join(", "))),
        links: session.links(&id, trace_id),
    };
    super::project::announce(&started, json, false);
    Ok(ExitCode::SUCCESS)
}

/// Each stage's estimate from its earlier runs in the metrics file. Estimates are advice: a
/// file that cannot be read leaves them out, with a warning.
fn add_estimates(config: &ct_config::Config, stages: &mut [ct_domain::StagePlan]) {
    let history = super::metrics::metrics_file(config)
        .and_then(|file| ct_metrics::StageHistory::read(&file).map_err(anyhow::Error::from));
    let history = match history {
        Ok(history) => history,
        Err(err) => {
            eprintln!("warning: no cost estimates: {err:#}");
            return;
        }
    };
    for stage in stages {
        stage.estimate = history
            .estimate(&stage.name)
            .map(|estimate| ct_domain::budget::CostEstimate { usd: estimate.usd, runs: estimate.runs });
    }
}

/// The project argument, else PROJECT_PATH from the configuration.
fn project(config: &ct_config::Config) -> Result<&Path, CliError> {
    config.settings.project_path.as_deref().ok_or_else(|| {
        CliError::BadInput("no project given: pass the path of a git work tree, or set PROJECT_PATH".to_owned())
    })
}

/// The agent may only work in an existing git work tree: its changes must be
/// reviewable and recoverable.
fn validate_project(path: &Path) -> Result<PathBuf, CliError> {
    let project = path
        .canonicalize()
        .map_err(|err| CliError::BadInput(format!("project path {} does not exist ({err})", path.display())))?;
    if !project.is_dir() {
        return Err(CliError::BadInput(format!("project path {} is not a directory", project.display())));
    }
    let inside = std::process::Command::new("git")
        .arg("-C")
        .arg(&project)
        .args(["rev-parse", "--is-inside-work-tree"])
        .output()
        .map_err(|err| CliError::BadInput(format!("cannot run git to check {}: {err}", project.display())))?;
    if String::from_utf8_lossy(&inside.stderr).contains("dubious ownership") {
        return Err(CliError::BadInput(format!(
            "{0} belongs to another user and git refuses to work in it; run as its owner (the \
             executors run as that user too), or trust it: `git config --global --add safe.directory {0}`",
            project.display()
        )));
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn slack_approvers_are_member_ids() {
        let given = |ids: &[&str]| super::slack_approvers(&ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>());
        assert_eq!(given(&[" U012AB3CD", "W0A1", ""]).unwrap(), ["U012AB3CD", "W0A1"]);
        let err = given(&["U1", "@ann"]).unwrap_err().to_string();
        assert!(err.contains("`@ann` is not a Slack user id"), "{err}");
    }
}
