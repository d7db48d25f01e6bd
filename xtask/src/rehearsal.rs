//! The rolling-upgrade test's second build: the worker and the executor built with feature
//! `upgrade-rehearsal` (a workflow change behind a new patch, a changed agent-run input), kept
//! in `<bin dir>/upgrade-rehearsal/` beside the normal binaries.

use anyhow::Context as _;

use crate::workspace::{Workspace, check};

/// Where the e2e tests look for the rehearsal binaries (see `ct_e2e::rehearsal_bin`).
const DIR: &str = "upgrade-rehearsal";
const BINARIES: [&str; 2] = ["ct-worker", "ct-executor"];

/// Builds the rehearsal binaries, copies them aside, and puts the normal ones back in place
/// (cargo builds both into the same directory; the second build only relinks), also when the
/// rehearsal build or the copy failed.
pub(crate) fn build(ws: &Workspace) -> anyhow::Result<()> {
    let built = build_aside(ws);
    let what = "cargo build --workspace --bins";
    let restored = check(ws.cargo().args(["build", "--workspace", "--bins"]).status(), what);
    built.and(restored)
}

fn build_aside(ws: &Workspace) -> anyhow::Result<()> {
    let features = "ct-worker/upgrade-rehearsal,ct-executor/upgrade-rehearsal";
    let what = format!("cargo build -p ct-worker -p ct-executor --bins --features {features}");
    eprintln!("xtask: {what}");
    let args = ["build", "-p", "ct-worker", "-p", "ct-executor", "--bins", "--features", features];
    check(ws.cargo().args(args).status(), &what)?;
    let bin_dir = ws.bin_dir();
    let aside = bin_dir.join(DIR);
    std::fs::create_dir_all(&aside).with_context(|| format!("cannot create {}", aside.display()))?;
    for binary in BINARIES {
        let (from, to) = (bin_dir.join(binary), aside.join(binary));
        // Replaced, not written through: a test may still run the previous copy.
        let staged = aside.join(format!(".{binary}.new"));
        std::fs::copy(&from, &staged)
            .with_context(|| format!("cannot copy {} to {}", from.display(), staged.display()))?;
        std::fs::rename(&staged, &to)
            .with_context(|| format!("cannot move {} to {}", staged.display(), to.display()))?;
    }
    Ok(())
}
