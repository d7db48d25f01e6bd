//! `integrate PROJECT BRANCH…`: merges existing branches into one integration branch (the
//! integrate workflow), and the integration flags `parallel --integrate` shares.

use std::process::ExitCode;

use super::{Session, project, status};
use crate::cli::{IdArgs, IntegrateArgs, IntegrationFlags};
use crate::error::CliError;
use ct_contracts::workflows::Integrate;
use ct_domain::integration::{DEFAULT_FIX_ATTEMPTS, FeatureOutcome, IntegrateBranch, IntegrateInput, IntegrateOptions};

pub(super) async fn run(
    session: &Session,
    config: &ct_config::Config,
    args: IntegrateArgs,
) -> anyhow::Result<ExitCode> {
    let project = project::checked(&args.project)?;
    let branches = branches(&args.branches)?;
    let names: Vec<String> = branches.iter().map(|b| b.branch.clone()).collect();
    ct_git::check_branches(&project, &names).map_err(|err| CliError::BadInput(err.to_string()))?;
    let options = options(&args.integration)?;
    let id = args.id.clone().unwrap_or_else(|| project::default_id("integrate", &project));
    let input = IntegrateInput {
        project_path: project.to_string_lossy().into_owned(),
        branches,
        options,
        keep_worktree: args.keep,
        agent: crate::settings::agent_settings(config),
        test_timeout_secs: config.settings.workflow.test_timeout_secs,
        strict_tests: args.strict_tests,
    };
    let launch = project::Launch { kind: "integrate", id: &id, project: &project, json: args.json, wait: args.wait };
    project::launch(session, launch, Integrate, input).await?;
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    status::wait_for_result(session, IdArgs { id: id.clone(), json: args.json }).await?;
    let held_back: Vec<String> = session
        .status(&id)
        .await?
        .integration
        .into_iter()
        .flat_map(|integration| integration.features)
        .filter(|feature| feature.outcome == FeatureOutcome::HeldBack)
        .map(|feature| feature.branch)
        .collect();
    if !held_back.is_empty() {
        return Err(CliError::WorkflowUnsuccessful(format!("held back: {}", held_back.join(", "))).into());
    }
    Ok(ExitCode::SUCCESS)
}

/// The branches, each named once; what each was for is its name.
fn branches(names: &[String]) -> Result<Vec<IntegrateBranch>, CliError> {
    let mut branches: Vec<IntegrateBranch> = Vec::new();
    for name in names.iter().map(|name| name.trim()) {
        if name.is_empty() || name.starts_with('-') {
            return Err(CliError::BadInput(format!("`{name}` is not a branch name")));
        }
        if branches.iter().any(|b| b.branch == name) {
            return Err(CliError::BadInput(format!("branch `{name}` is given twice: name each branch once")));
        }
        branches.push(IntegrateBranch { branch: name.to_owned(), goal: name.to_owned() });
    }
    Ok(branches)
}

/// The integration options the flags give; `--into` must be a name git accepts.
pub(super) fn options(flags: &IntegrationFlags) -> Result<IntegrateOptions, CliError> {
    if let Some(into) = &flags.into {
        let bad = into.is_empty()
            || into.starts_with(['-', '/', '.'])
            || into.ends_with(['/', '.'])
            || into.ends_with(".lock")
            || into.contains("..")
            || into.contains("//")
            || into.contains("@{")
            || into.chars().any(|c| c.is_control() || " ~^:?*[\\".contains(c));
        if bad {
            return Err(CliError::BadInput(format!(
                "--into `{into}` cannot name a branch: use letters, digits, `-`, `_` and `/`"
            )));
        }
    }
    Ok(IntegrateOptions {
        into: flags.into.clone(),
        as_given: flags.as_given,
        fix_attempts: flags.fix_attempts.unwrap_or(DEFAULT_FIX_ATTEMPTS),
        land: flags.land,
    })
}

impl IntegrationFlags {
    /// Whether any integration flag was given.
    pub(super) fn given(&self) -> bool {
        self.into.is_some() || self.land || self.fix_attempts.is_some() || self.as_given
    }
}
