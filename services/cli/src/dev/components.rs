//! The parts of the local stack: which binary each runs, with which flags, and how it is
//! known to be ready.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::readiness::Readiness;
use super::stack::{Stack, StateDir};

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
}

/// What the scripted model accepts as an API key; the executor must send something.
const SCRIPTED_MODEL_KEY: &str = "scripted-model-key";

impl Component {
    pub(crate) const ALL: [Self; 8] = [
        Self::Temporal,
        Self::Nats,
        Self::ScriptedModel,
        Self::Executor,
        Self::TestRunner,
        Self::Worker,
        Self::Notifier,
        Self::MetricsSink,
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

/// One process to start.
pub(crate) struct Launch {
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(&'static str, String)>,
    pub(crate) readiness: Readiness,
}

/// How to start `component` into `stack`, wired to the parts already in it.
pub(crate) fn launch(component: Component, binary: &Path, state: &StateDir, stack: &Stack) -> anyhow::Result<Launch> {
    let root = state.root();
    let options = &stack.options;
    let port_file = state.port_file(component);
    let listen = |mut args: Vec<OsString>| {
        args.extend(argv([&"--listen", &"127.0.0.1:0", &"--port-file", &port_file]));
        args
    };
    let wired = |value: &Option<String>, what: &str| {
        value.clone().with_context(|| format!("{} needs {what} in the same stack", component.name()))
    };
    // The user's settings reach each service through its environment (secrets included,
    // never on a command line); what the stack wires itself (addresses) comes as flags,
    // which rank above.
    let mut env: Vec<(&'static str, String)> =
        component.service().map(|service| options.settings.env_of(service).to_vec()).unwrap_or_default();
    let (args, readiness) = match component {
        Component::Temporal => (
            argv([
                &"server",
                &"start-dev",
                &"--ip",
                &"127.0.0.1",
                &"--port",
                &options.temporal_port.to_string(),
                &"--ui-port",
                &options.ui_port.to_string(),
                &"--db-filename",
                &root.join("temporal.db"),
                &"--log-level",
                &"warn",
            ]),
            Readiness::TemporalHealth {
                temporal: binary.to_owned(),
                address: format!("127.0.0.1:{}", options.temporal_port),
                ui_address: format!("127.0.0.1:{}", options.ui_port),
            },
        ),
        Component::Nats => (
            argv([
                &"-js",
                &"-a",
                &"127.0.0.1",
                &"-p",
                &options.nats_port.to_string(),
                &"-sd",
                &root.join("jetstream"),
                &"-m",
                &options.nats_monitor_port.to_string(),
            ]),
            Readiness::HttpOk { address: format!("127.0.0.1:{}", options.nats_monitor_port), path: "/healthz" },
        ),
        Component::ScriptedModel => {
            let scenario = options.scripted_model.as_deref().context("scripted-model needs --scripted-model FILE")?;
            (listen(argv([&"--scenario", &scenario])), Readiness::PortFile(port_file.clone()))
        }
        Component::Executor => {
            if let Some(url) = &stack.scripted_model_url {
                env.push(("ANTHROPIC_BASE_URL", url.clone()));
                env.push(("ANTHROPIC_API_KEY", SCRIPTED_MODEL_KEY.to_owned()));
            }
            env.push((WORKSPACE_ROOTS_VAR, roots_var(&options.workspace_roots)?));
            let mut args = listen(argv([
                &"--temporal-address",
                &wired(&stack.temporal_address, "temporal")?,
                &"--nats-url",
                &wired(&stack.nats_url, "nats")?,
                &"--control-token-file",
                &stack.control_token_file,
            ]));
            args.extend(argv([&"--state-dir", &root.join("executor")]));
            (args, Readiness::PortFile(port_file.clone()))
        }
        Component::TestRunner => {
            env.push((WORKSPACE_ROOTS_VAR, roots_var(&options.workspace_roots)?));
            let args = listen(argv([
                &"--temporal-address",
                &wired(&stack.temporal_address, "temporal")?,
                &"--control-token-file",
                &stack.control_token_file,
            ]));
            (args, Readiness::PortFile(port_file.clone()))
        }
        Component::Worker => (
            argv([
                &"--temporal-address",
                &wired(&stack.temporal_address, "temporal")?,
                &"--nats-url",
                &wired(&stack.nats_url, "nats")?,
                &"--events-outbox",
                &root.join("worker").join("events.outbox"),
            ]),
            Readiness::LogLine { log: state.log_path(component), needle: "worker started" },
        ),
        Component::Notifier => (
            argv([
                &"--nats-url",
                &wired(&stack.nats_url, "nats")?,
                &"--metrics-listen",
                &format!("127.0.0.1:{}", options.notifier_metrics_port),
            ]),
            Readiness::HttpOk { address: format!("127.0.0.1:{}", options.notifier_metrics_port), path: "/healthz" },
        ),
        Component::MetricsSink => (
            argv([
                &"--nats-url",
                &wired(&stack.nats_url, "nats")?,
                &"--metrics-file",
                &options.metrics_file,
                &"--listen",
                &format!("127.0.0.1:{}", options.metrics_port),
            ]),
            Readiness::HttpOk { address: format!("127.0.0.1:{}", options.metrics_port), path: "/healthz" },
        ),
    };
    Ok(Launch { args, env, readiness })
}

const WORKSPACE_ROOTS_VAR: &str = "CT_WORKSPACE_ROOTS";

/// The roots as `CT_WORKSPACE_ROOTS` holds them: `:`-separated.
fn roots_var(roots: &[PathBuf]) -> anyhow::Result<String> {
    let joined = std::env::join_paths(roots).context("a workspace root holds a ':'")?;
    Ok(joined.to_string_lossy().into_owned())
}

fn argv<const N: usize>(items: [&dyn AsRef<OsStr>; N]) -> Vec<OsString> {
    items.iter().map(|item| item.as_ref().to_owned()).collect()
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
