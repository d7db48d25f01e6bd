//! `cargo xtask bench`: the release build of every binary, then ct-bench against it, then what
//! the sandbox costs: an agent run and a test run in each confinement layer against the same run
//! unconfined, and a model request through the relay against one straight to the endpoint.

use std::process::ExitCode;

use crate::workspace::{self, Profile};

pub(crate) fn run(bench_args: &[String]) -> anyhow::Result<ExitCode> {
    let ws = workspace::prepare_profile(Profile::Release)?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let out = ws.target_dir().join("bench").join(format!("{stamp}.json"));
    let status = ws
        .command(ws.bin_dir().join("ct-bench"))
        .arg("--out")
        .arg(&out)
        .args(bench_args)
        .env("CT_BIN_DIR", ws.bin_dir())
        .status()?;
    if !status.success() {
        return Ok(workspace::exit_code(status));
    }
    println!("\nsandbox: what each layer adds (medians of 20, release; relay: p50 of 200)");
    for (package, example) in SANDBOX_COSTS {
        let status = ws
            .cargo()
            .args(["run", "--quiet", "--release", "-p", package, "--example", example])
            .env("CT_BIN_DIR", ws.bin_dir())
            .status()?;
        if !status.success() {
            return Ok(workspace::exit_code(status));
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The examples that measure the sandbox, each printing its own figures.
const SANDBOX_COSTS: [(&str, &str); 3] = [
    ("ct-executor", "agent_confinement_cost"),
    ("ct-test-runner", "test_confinement_cost"),
    ("ct-executor", "relay_cost"),
];
