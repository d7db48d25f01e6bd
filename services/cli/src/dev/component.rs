//! The parts of the local stack, in start order, and where each one's binary is found.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// In start order: each one only needs those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Component {
    Temporal,
    Nats,
    ScriptedModel,
    Executor,
    TestRunner,
    Worker,
    Notifier,
    MetricsSink,
    Gateway,
}

impl Component {
    pub(crate) const ALL: [Self; 9] = [
        Self::Temporal,
        Self::Nats,
        Self::ScriptedModel,
        Self::Executor,
        Self::TestRunner,
        Self::Worker,
        Self::Notifier,
        Self::MetricsSink,
        Self::Gateway,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Temporal => "temporal",
            Self::Nats => "nats",
            Self::ScriptedModel => "scripted-model",
            Self::Executor => "executor",
            Self::TestRunner => "test-runner",
            Self::Worker => "worker",
            Self::Notifier => "notifier",
            Self::MetricsSink => "metrics-sink",
            Self::Gateway => "gateway",
        }
    }

    fn binary_name(self) -> &'static str {
        match self {
            Self::Temporal => "temporal",
            Self::Nats => "nats-server",
            Self::ScriptedModel => "ct-scripted-model",
            Self::Executor => "ct-executor",
            Self::TestRunner => "ct-test-runner",
            Self::Worker => "ct-worker",
            Self::Notifier => "ct-notifier",
            Self::MetricsSink => "ct-metrics-sink",
            Self::Gateway => "ct-gateway",
        }
    }

    /// The configuration's name for it, when it is one of ours that reads the configuration.
    pub(crate) fn service(self) -> Option<ct_config::Service> {
        match self {
            Self::Executor => Some(ct_config::Service::Executor),
            Self::TestRunner => Some(ct_config::Service::TestRunner),
            Self::Worker => Some(ct_config::Service::Worker),
            Self::Notifier => Some(ct_config::Service::Notifier),
            Self::MetricsSink => Some(ct_config::Service::MetricsSink),
            Self::Gateway => Some(ct_config::Service::Gateway),
            Self::Temporal | Self::Nats | Self::ScriptedModel => None,
        }
    }

    /// Components that must be in the same stack for this one to work.
    pub(crate) fn needs(self, scripted_model: bool) -> &'static [Self] {
        match self {
            Self::Executor if scripted_model => &[Self::Temporal, Self::Nats, Self::ScriptedModel],
            Self::Executor => &[Self::Temporal, Self::Nats],
            Self::TestRunner => &[Self::Temporal],
            Self::Worker => &[Self::Temporal, Self::Nats],
            Self::Notifier | Self::MetricsSink => &[Self::Nats],
            Self::Gateway => &[Self::Temporal, Self::Nats],
            _ => &[],
        }
    }

    /// The variable that names the binary of a third-party server.
    fn binary_env(self) -> Option<&'static str> {
        match self {
            Self::Temporal => Some("TEMPORAL_BIN"),
            Self::Nats => Some("NATS_SERVER_BIN"),
            _ => None,
        }
    }

    /// Where the binary comes from: a third-party server from its variable, PATH, then the
    /// project's `.tools`; ours from beside the running CLI (one `cargo build` makes them all),
    /// then PATH.
    pub(crate) fn locate(self, tools: Option<&Path>) -> Result<PathBuf, String> {
        let name = self.binary_name();
        let Some(var) = self.binary_env() else {
            return std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
                .filter(|p| is_executable(p))
                .or_else(|| find_in_path(name))
                .ok_or_else(|| {
                    format!(
                        "{name} not found beside claude-temporal or on PATH: \
                         run `cargo build --workspace --bins`"
                    )
                });
        };
        if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(format!("{var}={} is not an executable file", path.display()))
            };
        }
        find_in_path(name)
            .or_else(|| tools.map(|t| t.join("venv/bin").join(name)).filter(|p| is_executable(p)))
            .ok_or_else(|| {
                format!(
                    "{name} not found (looked at ${var}, PATH and .tools/venv/bin): \
                     run scripts/install-tools.sh"
                )
            })
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// The project's `.tools` folder (made by scripts/install-tools.sh), found by walking up from
/// the current directory.
pub(crate) fn find_tools_dir() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().map(|dir| dir.join(".tools")).find(|tools| tools.join("venv/bin").is_dir())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .and_then(|p| std::path::absolute(p).ok())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
