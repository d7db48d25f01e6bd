use std::process::ExitCode;

use ct_contracts::workflows::Iterate;
use ct_domain::{IterateInput, MAX_ITERATIONS};

use super::{Session, project, status};
use crate::cli::{IdArgs, IterateArgs};
use crate::error::CliError;

pub(super) async fn run(session: &Session, config: &ct_config::Config, args: IterateArgs) -> anyhow::Result<ExitCode> {
    let project = project::checked(&args.project)?;
    let issue = args.issue.trim().to_owned();
    if issue.is_empty() {
        return Err(CliError::BadInput("the issue is empty: say what the agent should fix or build".to_owned()).into());
    }
    if args.max_iterations == 0 || args.max_iterations > MAX_ITERATIONS {
        return Err(CliError::BadInput(format!(
            "--max-iterations must be 1 to {MAX_ITERATIONS}, not {}: a longer loop is better started again \
             from the best result (the iterations' statuses would no longer fit one Temporal payload)",
            args.max_iterations
        ))
        .into());
    }
    let id = args.id.clone().unwrap_or_else(|| project::default_id("iterate", &project));
    let input = IterateInput {
        project_path: project.to_string_lossy().into_owned(),
        issue,
        max_iterations: args.max_iterations,
        backoff_initial_secs: args.backoff,
        backoff_max_secs: args.max_backoff.max(args.backoff),
        agent: crate::settings::agent_settings(config),
        test_timeout_secs: config.settings.workflow.test_timeout_secs,
        budget_usd: config.settings.workflow.budget_usd,
        budget_warn_at: config.settings.workflow.budget_warn_at,
        budget_wait_secs: config.settings.workflow.approval_timeout_secs,
        carried: None,
    };
    let launch = project::Launch { kind: "iterate", id: &id, project: &project, json: args.json, wait: args.wait };
    project::launch(session, launch, Iterate, input).await?;
    if args.wait {
        return status::wait_for_result(session, IdArgs { id, json: args.json }).await;
    }
    Ok(ExitCode::SUCCESS)
}
