//! The fleet's builds: which one new workflows start on, what each still runs, and
//! `claude-temporal fleet promote BUILD`, which rolls the fleet forward or back.

use std::fmt::Write as _;
use std::process::ExitCode;

use ct_service::builds::{Build, Builds, BuildsError};

use super::Session;
use crate::cli::PromoteArgs;
use crate::error::CliError;

/// The builds of the session's deployment; `None` before any process of it has polled.
pub(super) async fn report(session: &Session) -> anyhow::Result<Option<Builds>> {
    match ct_service::builds::builds(&session.client, &session.args.deployment).await {
        Ok(builds) => Ok(Some(builds)),
        Err(BuildsError::NoDeployment(_)) => Ok(None),
        Err(err) => Err(CliError::Unreachable(format!(
            "cannot read the builds of deployment `{}`: {err}",
            session.args.deployment
        ))
        .into()),
    }
}

pub(super) fn table(deployment: &str, builds: Option<&Builds>) -> String {
    let mut out = String::new();
    let Some(builds) = builds else {
        let _ = writeln!(out, "builds of `{deployment}`: none has polled Temporal yet");
        return out;
    };
    let current = builds.current.as_deref().unwrap_or("none (new workflows wait for one)");
    let _ = writeln!(out, "builds of `{deployment}`: new workflows start on {current}");
    if let Some((ramping, percent)) = &builds.ramping {
        let _ = writeln!(out, "  and {percent:.0}% of them on {ramping}");
    }
    for version in &builds.versions {
        let running = version.running_workflows.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let _ = writeln!(out, "  {:<24} {:<9} {running} workflow(s) running on it", version.build_id, version.status);
    }
    out
}

pub(super) async fn promote(session: &Session, args: PromoteArgs) -> anyhow::Result<ExitCode> {
    let build = Build { deployment: session.args.deployment.clone(), build_id: args.build.clone() };
    let ramp = args.ramp.map(f32::from);
    ct_service::builds::promote(&session.client, &build, ramp, "claude-temporal-cli").await.map_err(|err| {
        CliError::BadInput(format!(
            "cannot make build `{}` of deployment `{}` {}: {err}. Start its worker, executors and \
             test-runners (CT_BUILD_ID={}) first; `claude-temporal fleet` lists the builds",
            args.build,
            build.deployment,
            if ramp.is_some() { "ramp" } else { "current" },
            args.build
        ))
    })?;
    match args.ramp {
        Some(percent) => eprintln!("build `{}` now gets {percent}% of new workflows", args.build),
        None => eprintln!(
            "build `{}` is current: new workflows start on it. Workflows already running stay on the build \
             that started them; keep its processes running until `claude-temporal fleet` shows it drained",
            args.build
        ),
    }
    Ok(ExitCode::SUCCESS)
}
