//! What every task needs first: the pinned tools installed, the binaries built, and a PATH
//! on which children find both.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};

use anyhow::{Context, bail};

pub(crate) struct Workspace {
    pub(crate) root: PathBuf,
    target_dir: PathBuf,
    path: OsString,
    profile: Profile,
}

/// Which build of the binaries a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// What tests run: quick to build.
    Debug,
    /// What benchmarks measure.
    Release,
}

impl Workspace {
    /// Cargo's target directory, where tasks keep their logs too.
    pub(crate) fn target_dir(&self) -> &Path {
        &self.target_dir
    }

    /// Where `cargo build` put the binaries.
    pub(crate) fn bin_dir(&self) -> PathBuf {
        self.target_dir.join(match self.profile {
            Profile::Debug => "debug",
            Profile::Release => "release",
        })
    }

    /// A command with the tools' PATH, run from the workspace root.
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env("PATH", &self.path).current_dir(&self.root);
        command
    }

    pub(crate) fn cargo(&self) -> Command {
        self.command(cargo())
    }
}

/// Runs scripts/install-tools.sh, then `cargo build --workspace --bins` (debug).
pub(crate) fn prepare() -> anyhow::Result<Workspace> {
    prepare_profile(Profile::Debug)
}

/// Runs scripts/install-tools.sh, then builds every binary in `profile`.
pub(crate) fn prepare_profile(profile: Profile) -> anyhow::Result<Workspace> {
    // `cargo run` sets CARGO_MANIFEST_DIR for the process too; preferring it keeps a binary
    // built from another checkout sharing the target directory from using that checkout.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let root = manifest_dir.parent().context("xtask lives one level below the workspace root")?.to_owned();
    let install = root.join("scripts/install-tools.sh");
    check(Command::new("bash").arg(&install).current_dir(&root).status(), &format!("bash {}", install.display()))?;

    let tools = root.join(".tools");
    let mut dirs = vec![tools.join("venv/bin"), tools.join("npm/node_modules/.bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let ws = Workspace {
        target_dir: target_dir(&root)?,
        path: std::env::join_paths(dirs).context("PATH holds an entry with a ':' in it")?,
        root,
        profile,
    };

    let mut args = vec!["build", "--workspace", "--bins"];
    if profile == Profile::Release {
        args.push("--release");
    }
    let what = format!("cargo {}", args.join(" "));
    eprintln!("xtask: {what}");
    check(ws.cargo().args(&args).status(), &what)?;
    Ok(ws)
}

/// The cargo that runs us, so the pinned toolchain builds everything.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Asks cargo, so CARGO_TARGET_DIR and config files are respected.
fn target_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let output = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata printed no JSON")?;
    metadata["target_directory"].as_str().map(PathBuf::from).context("cargo metadata has no target_directory")
}

pub(crate) fn check(status: std::io::Result<ExitStatus>, what: &str) -> anyhow::Result<()> {
    let status = status.with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The child's exit code as ours; a child killed by a signal counts as failure.
pub(crate) fn exit_code(status: ExitStatus) -> ExitCode {
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    }
}
