use std::path::{Path, PathBuf};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// One of our binaries: from `CT_BIN_DIR` (set by `cargo xtask test`) or the
/// target directory this test executable was built into.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, or run `cargo xtask test`)",
        path.display()
    );
    path
}

/// One of the binaries of the rolling-upgrade test's second build (feature `upgrade-rehearsal`:
/// a workflow change behind a new patch, a changed agent-run input), which `cargo xtask test`
/// builds into `<bin dir>/upgrade-rehearsal/`.
pub fn rehearsal_bin(name: &str) -> PathBuf {
    let path = bin_dir().join("upgrade-rehearsal").join(name);
    assert!(path.exists(), "{} is missing: `cargo xtask test` builds it (xtask/src/rehearsal.rs)", path.display());
    path
}

fn bin_dir() -> PathBuf {
    std::env::var_os("CT_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/debug/deps/<test> → target/debug
        exe.parent().and_then(Path::parent).expect("target dir").to_path_buf()
    })
}

/// An external tool: `<NAME>_BIN` env var, the project's `.tools`, then PATH.
pub fn tool(name: &str) -> PathBuf {
    let var = format!("{}_BIN", name.to_uppercase().replace('-', "_"));
    if let Some(path) = std::env::var_os(&var) {
        return PathBuf::from(path);
    }
    let root = workspace_root();
    for candidate in [root.join(".tools/venv/bin").join(name), root.join(".tools/npm/node_modules/.bin").join(name)] {
        if candidate.exists() {
            return candidate;
        }
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.exists());
    on_path.unwrap_or_else(|| panic!("`{name}` not found (set {var}, or run scripts/install-tools.sh)"))
}

pub fn example(relative: &str) -> PathBuf {
    workspace_root().join("examples").join(relative)
}
