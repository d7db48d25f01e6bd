//! The environment a project's tests get: an allow-list, like the agent's, instead of the
//! test-runner's whole environment (under `dev up`, the user's shell with its tokens). HOME and
//! TMPDIR are the run's own; the toolchains' homes are resolved from the real HOME first, so
//! that cargo, rustup, go and pip still find what is installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Passed through as they are, with the proxies and CA files ([`ct_confine::NETWORK_ENV`]).
/// Not CARGO_TARGET_DIR (the project's tests would build in the test-runner's own target dir
/// and contend for its lock), not RUSTUP_TOOLCHAIN (rustup exports it to everything it starts;
/// it would override the project's rust-toolchain.toml), not RUST_LOG (our filter means
/// nothing to the project).
const EXACT: &[&str] = &[
    "PATH",
    "LANG",
    "TZ",
    "TERM",
    "USER",
    "LOGNAME",
    "CI",
    "GOROOT",
    "GOFLAGS",
    "GOPROXY",
    "GOPRIVATE",
    "GONOSUMDB",
    "GOTOOLCHAIN",
];

/// Toolchain homes: the variable, and where it defaults to under the real HOME.
const TOOL_HOMES: &[(&str, &str)] = &[
    ("CARGO_HOME", ".cargo"),
    ("RUSTUP_HOME", ".rustup"),
    ("GOPATH", "go"),
    ("GOCACHE", ".cache/go-build"),
    ("GOMODCACHE", "go/pkg/mod"),
    ("PYTHONUSERBASE", ".local"),
    ("npm_config_cache", ".npm"),
];

/// One run's environment, and the toolchain directories it must be able to write (registries,
/// build caches, lock files).
#[derive(Debug)]
pub(crate) struct TestEnv {
    pub(crate) vars: BTreeMap<String, String>,
    pub(crate) tool_dirs: Vec<PathBuf>,
}

/// From the test-runner's environment (`vars`) for a run whose private directories are `home`
/// and `tmp`.
pub(crate) fn test_env(vars: impl IntoIterator<Item = (String, String)>, home: &Path, tmp: &Path) -> TestEnv {
    let all: BTreeMap<String, String> = vars.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let mut env: BTreeMap<String, String> = all
        .iter()
        .filter(|(name, _)| {
            EXACT.contains(&name.as_str())
                || ct_confine::NETWORK_ENV.contains(&name.as_str())
                || name.starts_with("LC_")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let real_home = all.get("HOME").map(PathBuf::from);
    let mut tool_dirs = Vec::new();
    for (name, default) in TOOL_HOMES {
        let dir = match all.get(*name) {
            Some(dir) => PathBuf::from(dir),
            None => match &real_home {
                Some(home) => home.join(default),
                None => continue,
            },
        };
        if dir.exists() || all.contains_key(*name) {
            env.insert((*name).to_owned(), dir.display().to_string());
            if *name == "PYTHONUSERBASE" {
                // `~/.local` holds far more than Python (other tools' state, a stack's token):
                // only what `pip install --user` puts there.
                tool_dirs.extend([dir.join("lib"), dir.join("bin")]);
            } else {
                tool_dirs.push(dir);
            }
        }
    }
    env.insert("HOME".to_owned(), home.display().to_string());
    env.insert("TMPDIR".to_owned(), tmp.display().to_string());
    TestEnv { vars: env, tool_dirs }
}

/// Cache variables and where each points inside a project's cache, for runs whose toolchain
/// homes are read-only: downloads and build caches go there instead.
const CACHES: &[(&str, &str)] = &[
    ("GOCACHE", "go-build"),
    ("GOMODCACHE", "go-mod"),
    ("npm_config_cache", "npm"),
    ("PIP_CACHE_DIR", "pip"),
    ("XDG_CACHE_HOME", "xdg"),
];

/// Points the run's caches into `cache` (a directory only this project's runs write).
pub(crate) fn use_cache(env: &mut TestEnv, cache: &Path) {
    for (name, dir) in CACHES {
        env.vars.insert((*name).to_owned(), cache.join(dir).display().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allow_list_and_the_toolchain_homes_pass() {
        let real = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(real.path().join(".cargo")).unwrap();
        let vars = [
            ("PATH", "/usr/bin"),
            ("HOME", real.path().to_str().unwrap()),
            ("LC_ALL", "C.UTF-8"),
            ("ANTHROPIC_API_KEY", "sk-ant-secret"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("CT_CONTROL_TOKEN", "t"),
            ("CARGO_TARGET_DIR", "/shared/target"),
            ("RUSTUP_TOOLCHAIN", "nightly"),
            ("GOCACHE", "/var/cache/go"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let env = test_env(vars, Path::new("/run/home"), Path::new("/run/tmp"));
        let names: Vec<&str> = env.vars.keys().map(String::as_str).collect();
        assert_eq!(names, ["CARGO_HOME", "GOCACHE", "HOME", "LC_ALL", "PATH", "TMPDIR"]);
        assert_eq!(env.vars["HOME"], "/run/home");
        assert_eq!(env.vars["CARGO_HOME"], real.path().join(".cargo").display().to_string());
        assert_eq!(env.tool_dirs, [real.path().join(".cargo"), PathBuf::from("/var/cache/go")]);
    }
}
