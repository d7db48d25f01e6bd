//! How each part of the local stack is started: its binary's flags and environment, wired to
//! the parts already running, and how it is known to be ready.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::component::Component;
use super::readiness::Readiness;
use super::stack::{Stack, StateDir};

/// What the scripted model accepts as an API key; the executor must send something.
const SCRIPTED_MODEL_KEY: &str = "scripted-model-key";

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
        Component::Notifier => {
            let mut args = argv([
                &"--nats-url",
                &wired(&stack.nats_url, "nats")?,
                &"--metrics-listen",
                &format!("127.0.0.1:{}", options.notifier_metrics_port),
            ]);
            // Approval requests carry links to the stack's gateway, signed with its key.
            if let Some(key) = &stack.link_key_file {
                args.extend(argv([&"--link-key-file", key]));
                if !env.iter().any(|(name, _)| *name == GATEWAY_URL_VAR) {
                    args.extend(argv([&"--gateway-url", &format!("http://127.0.0.1:{}", options.gateway_port)]));
                }
            }
            (
                args,
                Readiness::HttpOk { address: format!("127.0.0.1:{}", options.notifier_metrics_port), path: "/healthz" },
            )
        }
        Component::Gateway => {
            let listen = format!("127.0.0.1:{}", options.gateway_port);
            let key = stack.link_key_file.as_ref().context("the gateway needs the stack's link key")?;
            let args = argv([
                &"--temporal-address",
                &wired(&stack.temporal_address, "temporal")?,
                &"--listen",
                &listen,
                &"--link-key-file",
                key,
                &"--nats-url",
                &wired(&stack.nats_url, "nats")?,
            ]);
            (args, Readiness::HttpOk { address: listen, path: "/healthz" })
        }
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
const GATEWAY_URL_VAR: &str = "CT_GATEWAY_URL";

/// The roots as `CT_WORKSPACE_ROOTS` holds them: `:`-separated.
fn roots_var(roots: &[PathBuf]) -> anyhow::Result<String> {
    let joined = std::env::join_paths(roots).context("a workspace root holds a ':'")?;
    Ok(joined.to_string_lossy().into_owned())
}

fn argv<const N: usize>(items: [&dyn AsRef<OsStr>; N]) -> Vec<OsString> {
    items.iter().map(|item| item.as_ref().to_owned()).collect()
}
