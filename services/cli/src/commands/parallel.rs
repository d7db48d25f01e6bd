use std::fmt::Write as _;
use std::process::ExitCode;

use ct_contracts::workflows::Parallel;
use ct_domain::{FeaturePlan, ParallelInput, StageState, WorkflowStatus};
use temporalio_client::WorkflowGetResultOptions;

use super::{Session, integrate, project};
use crate::cli::ParallelArgs;
use crate::error::CliError;
use crate::output;

pub(super) async fn run(session: &Session, config: &ct_config::Config, args: ParallelArgs) -> anyhow::Result<ExitCode> {
    let project = project::checked(&args.project)?;
    let names: Vec<String> = args.features.iter().map(|f| f.trim().to_owned()).collect();
    ct_domain::git::feature_branches(&names).map_err(|err| CliError::BadInput(err.to_string()))?;
    let integrate = match args.integrate {
        true => Some(integrate::options(&args.integration)?),
        false if args.integration.given() => {
            return Err(CliError::BadInput(
                "--into, --land, --fix-attempts and --as-given say how to integrate: add --integrate".to_owned(),
            )
            .into());
        }
        false => None,
    };
    let id = args.id.clone().unwrap_or_else(|| project::default_id("parallel", &project));
    let input = ParallelInput {
        project_path: project.to_string_lossy().into_owned(),
        features: names.iter().map(|name| FeaturePlan { name: name.clone(), prompt: prompt(name) }).collect(),
        keep_worktrees: args.keep,
        strict_tests: args.strict_tests,
        max_concurrent: args.max_concurrent.unwrap_or(0),
        integrate,
        agent: crate::settings::agent_settings(config),
        test_timeout_secs: config.settings.workflow.test_timeout_secs,
    };
    let launch = project::Launch { kind: "parallel", id: &id, project: &project, json: args.json, wait: args.wait };
    project::launch(session, launch, Parallel, input).await?;
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = session.handle(&id).get_result(WorkflowGetResultOptions::default()).await;
    // The table comes from the workflow's own account, which has every feature, failed or not.
    let status = match &outcome {
        Ok(status) => status.clone(),
        Err(_) => session.status(&id).await?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", table(&status));
    }
    match outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(err) => Err(CliError::WorkflowUnsuccessful(format!(
            "workflow `{id}` {}: {}",
            output::json_name(&status.state),
            status.error.clone().unwrap_or_else(|| err.to_string())
        ))
        .into()),
    }
}

/// The prompt of one feature's agent. It runs in the feature's worktree, so it names no
/// path; the `Feature:` line lets a scripted model tell the runs apart.
fn prompt(feature: &str) -> String {
    format!(
        "Stage: feature\nFeature: {feature}\nImplement this feature in the project in the current \
         directory: {feature}. The directory is a git worktree on the feature's own branch; other \
         features are built elsewhere at the same time, so change only what this feature needs. \
         Keep the project's tests passing and add tests for what you build. Do not commit: the \
         workflow commits your work on the branch."
    )
}

/// One row per feature: its branch, whether its tests passed, tokens and cost.
fn table(status: &WorkflowStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "workflow  {}", status.workflow_id);
    let _ = writeln!(out, "state     {}", output::json_name(&status.state));
    let _ = writeln!(out, "project   {}\n", status.project_path);
    let _ = writeln!(
        out,
        "{:<28} {:<36} {:<7} {:>7} {:>10} {:>10}",
        "FEATURE", "BRANCH", "RESULT", "TESTS", "TOKENS", "COST $"
    );
    for (feature, stage) in status.features.iter().zip(&status.stages) {
        let result = match stage.state {
            StageState::Completed => "passed",
            StageState::Cancelled => "cancel",
            StageState::Failed => "failed",
            _ => "running",
        };
        let tests = match (stage.tests_passed, stage.tests_failed) {
            (Some(passed), Some(failed)) => format!("{passed}/{}", passed + failed),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<28} {:<36} {:<7} {:>7} {:>10} {:>10.4}",
            feature,
            stage.branch.as_deref().unwrap_or(&stage.name),
            result,
            tests,
            stage.total_tokens(),
            stage.cost_usd
        );
        if let Some(worktree) = &stage.worktree {
            let _ = writeln!(out, "{:<28} worktree kept: {worktree}", "");
        }
        if let Some(error) = &stage.error {
            let _ = writeln!(out, "{:<28} {error}", "");
        }
    }
    if let Some(integration) = &status.integration {
        let _ = write!(out, "\n{}", output::integration_lines(integration));
    }
    let _ = writeln!(out, "\ntotal     {} tokens, ${:.4}", status.total_tokens, status.total_cost_usd);
    out
}
