//! The fleet's builds: which one new workflows start on, what each still runs, and
//! `claude-temporal fleet promote BUILD`, which rolls the fleet forward or back.

use std::fmt::Write as _;
use std::process::ExitCode;

use ct_service::builds::{Build, Builds, BuildsError};

use super::Session;
use crate::cli::PromoteArgs;
use crate::error::CliError;

/// The builds of the session's deployment: `Ok(None)` before any process of it has polled, and
/// why they cannot be read (the rest of `fleet` is still worth showing).
pub(super) async fn report(session: &Session) -> Result<Option<Builds>, String> {
    match ct_service::builds::builds(&session.client, &session.args.deployment).await {
        Ok(builds) => Ok(Some(builds)),
        Err(BuildsError::NoDeployment(_)) => Ok(None),
        Err(err) => Err(format!("cannot read the builds of deployment `{}`: {err}", session.args.deployment)),
    }
}

pub(super) fn table(deployment: &str, builds: Result<Option<&Builds>, &str>) -> String {
    let mut out = String::new();
    let builds = match builds {
        Ok(builds) => builds,
        Err(why) => {
            let _ = writeln!(out, "builds of `{deployment}`: unknown ({why})");
            return out;
        }
    };
    let Some(builds) = builds else {
        let _ = writeln!(out, "builds of `{deployment}`: none has polled Temporal yet");
        return out;
    };
    let current = builds.current.as_deref().unwrap_or("none (new workflows wait for one)");
    let _ = writeln!(out, "builds of `{deployment}`: new workflows start on {current}");
    if let Some(ramping) = &builds.ramping {
        let _ = writeln!(out, "  and {:.0}% of them on {}", ramping.percent, ramping.build_id);
    }
    for version in &builds.versions {
        let running = version.running_workflows.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let _ = writeln!(out, "  {:<24} {:<9} {running} workflow(s) running on it", version.build_id, version.status);
    }
    out
}

pub(super) async fn promote(session: &Session, args: PromoteArgs) -> anyhow::Result<ExitCode> {
    ct_domain::builds::check_label(&args.build)
        .map_err(|why| CliError::BadInput(format!("BUILD `{}`: {why}", args.build)))?;
    let build = Build { deployment: session.args.deployment.clone(), build_id: args.build.clone() };
    let ramp = args.ramp.map(f32::from);
    let what = format!(
        "cannot make build `{}` of deployment `{}` {}",
        args.build,
        build.deployment,
        if ramp.is_some() { "ramp" } else { "current" }
    );
    ct_service::builds::promote(&session.client, &build, ramp, "claude-temporal-cli").await.map_err(
        |err| match err {
            BuildsError::Unreachable(_) => CliError::Unreachable(format!("{what}: {err}")),
            BuildsError::NoDeployment(_) | BuildsError::Refused(_) => CliError::BadInput(format!(
                "{what}: {err}. A build is made current once its worker, executors and test-runners \
             (CT_BUILD_ID={}) all poll; `claude-temporal fleet` lists the builds",
                args.build
            )),
        },
    )?;
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
