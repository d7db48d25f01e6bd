//! `cargo xtask bench`: the release build of every binary, then ct-bench against it.

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
    Ok(workspace::exit_code(status))
}
