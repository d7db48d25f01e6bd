//! `dev up`: start each component in order, detached, and wait until it is ready; the stack's
//! build is then the one new workflows start on.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use ct_service::builds::Build;
use ct_service::{TemporalTarget, connect_client};

use super::UpArgs;
use super::component::{self, Component};
use super::launch;
use super::readiness::{Probe, tail};
use super::stack::{RunningComponent, ServiceSettings, Stack, StackOptions, StateDir};

pub(super) async fn up(state: &StateDir, config: &ct_config::Config, args: UpArgs) -> anyhow::Result<ExitCode> {
    let scenario = args
        .scripted_model
        .as_deref()
        .map(|path| std::fs::canonicalize(path).with_context(|| format!("scenario file {} not found", path.display())))
        .transpose()?;
    let components = select(&args.only, scenario.is_some())?;
    let settings = ServiceSettings::new(
        components
            .iter()
            .filter_map(|c| c.service())
            .map(|service| (service, config.environment_for(service)))
            .collect(),
    );
    let options = StackOptions {
        components,
        temporal_port: args.temporal_port,
        ui_port: args.ui_port,
        nats_port: args.nats_port,
        nats_monitor_port: args.nats_monitor_port,
        metrics_port: args.metrics_port,
        notifier_metrics_port: args.notifier_metrics_port,
        gateway_port: args.gateway_port,
        scripted_model: scenario,
        workspace_roots: workspace_roots(&config.settings.workspace_roots)?,
        metrics_file: metrics_file(config, state)?,
        settings,
    };
    state.create()?;

    if let Some(existing) = state.load()? {
        match restart_reason(state, &existing, &options) {
            None => {
                eprintln!("the local stack is already running");
                super::print_stack(&existing, args.json)?;
                return Ok(ExitCode::SUCCESS);
            }
            Some(reason) => {
                eprintln!("restarting the local stack: {reason}");
                super::stop_all(state, &existing).await?;
            }
        }
    }

    let tools = component::find_tools_dir();
    let mut binaries = Vec::new();
    let mut missing = Vec::new();
    for &component in &options.components {
        match component.locate(tools.as_deref()) {
            Ok(binary) => binaries.push((component, binary)),
            Err(why) => missing.push(why),
        }
    }
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    check_ports_free(&options)?;

    let mut stack = Stack {
        state_dir: state.root().to_owned(),
        log_dir: state.log_dir(),
        started_at_unix: unix_now(),
        options,
        temporal_address: None,
        temporal_ui_url: None,
        nats_url: None,
        scripted_model_url: None,
        executor_control: None,
        test_runner_control: None,
        control_token_file: state.control_token_file(),
        gateway_url: None,
        link_key_file: None,
        components: Vec::new(),
    };
    if !stack.control_token_file.exists() {
        ct_fleet::ControlToken::create(&stack.control_token_file)?;
    }
    if stack.options.components.contains(&Component::Gateway) {
        stack.link_key_file = Some(link_key_file(config, state)?);
    }
    let child_path = child_path(tools.as_deref())?;
    let deadline = Duration::from_secs(args.timeout);
    let started = Instant::now();
    for (component, binary) in binaries {
        if let Err(err) = start(state, &mut stack, component, &binary, &child_path, deadline).await {
            eprintln!("stopping what was started");
            super::stop_all(state, &stack).await?;
            return Err(err);
        }
    }
    eprintln!("local stack up in {:.1} s", started.elapsed().as_secs_f64());
    if stack.components.iter().any(|c| c.name == Component::Worker)
        && let Some(address) = &stack.temporal_address
    {
        make_current(address, &config.settings.temporal).await;
    }
    super::print_stack(&stack, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// The local stack is one build: it makes that build current, so that new workflows start on it
/// after an upgrade too, and says what still waits for the build it replaced.
async fn make_current(address: &str, temporal: &ct_config::TemporalSettings) {
    let target = TemporalTarget { address: address.to_owned(), namespace: temporal.namespace.clone() };
    let build = Build { deployment: temporal.deployment.clone(), build_id: temporal.build_id.clone() };
    let done = async {
        let client = connect_client(&target, "claude-temporal-dev").await.map_err(|err| err.to_string())?;
        let builds = ct_service::builds::builds(&client, &build.deployment).await.map_err(|err| err.to_string())?;
        if builds.current.as_deref() == Some(build.build_id.as_str()) {
            return Ok(());
        }
        ct_service::builds::promote(&client, &build, None, "claude-temporal-dev")
            .await
            .map_err(|err| err.to_string())?;
        for version in builds.versions.iter().filter(|v| v.build_id != build.build_id) {
            if let Some(running) = version.running_workflows.filter(|&n| n > 0) {
                eprintln!(
                    "{running} workflow(s) still run on build `{}`: they wait until a stack of that build \
                     (CT_BUILD_ID={}) runs again",
                    version.build_id, version.build_id
                );
            }
        }
        eprintln!("build `{}` is current: new workflows start on it", build.build_id);
        Ok::<(), String>(())
    };
    if let Err(err) = done.await {
        eprintln!(
            "warning: cannot make build `{}` current ({err}); `claude-temporal fleet promote {}` does",
            build.build_id, build.build_id
        );
    }
}

/// The components to start, in start order, checked for what each needs.
fn select(only: &[Component], scripted_model: bool) -> anyhow::Result<Vec<Component>> {
    let mut chosen: Vec<Component> = if only.is_empty() {
        Component::ALL.into_iter().filter(|&c| c != Component::ScriptedModel || scripted_model).collect()
    } else {
        only.to_vec()
    };
    chosen.sort();
    chosen.dedup();
    if chosen.contains(&Component::ScriptedModel) && !scripted_model {
        bail!("scripted-model needs a scenario: pass --scripted-model FILE");
    }
    for &component in &chosen {
        for need in component.needs(scripted_model) {
            if !chosen.contains(need) {
                bail!("{} needs {} in the same stack: add it to --only", component.name(), need.name());
            }
        }
    }
    Ok(chosen)
}

/// Why a recorded stack cannot be reused as it is, if it cannot.
fn restart_reason(state: &StateDir, stack: &Stack, wanted: &StackOptions) -> Option<String> {
    if &stack.options != wanted {
        return Some(String::from("it was started with other options"));
    }
    if let Some(down) = stack.components.iter().find(|c| !state.is_running(c)) {
        return Some(format!("{} is not running", down.name));
    }
    let newer = |binary: &Path| {
        binary
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .is_some_and(|t| t.as_secs() > stack.started_at_unix)
    };
    stack
        .components
        .iter()
        .find(|c| newer(&c.binary))
        .map(|c| format!("{} was rebuilt since it started", c.binary.display()))
}

fn check_ports_free(options: &StackOptions) -> anyhow::Result<()> {
    let mut fixed = Vec::new();
    if options.components.contains(&Component::Temporal) {
        fixed.push((options.temporal_port, "--temporal-port"));
        fixed.push((options.ui_port, "--ui-port"));
    }
    if options.components.contains(&Component::Nats) {
        fixed.push((options.nats_port, "--nats-port"));
        fixed.push((options.nats_monitor_port, "--nats-monitor-port"));
    }
    if options.components.contains(&Component::MetricsSink) {
        fixed.push((options.metrics_port, "--metrics-port"));
    }
    if options.components.contains(&Component::Notifier) {
        fixed.push((options.notifier_metrics_port, "--notifier-metrics-port"));
    }
    if options.components.contains(&Component::Gateway) {
        fixed.push((options.gateway_port, "--gateway-port"));
    }
    for (i, (port, flag)) in fixed.iter().enumerate() {
        if let Some((_, other)) = fixed[..i].iter().find(|(p, _)| p == port) {
            bail!("{flag} and {other} are both {port}: give each its own port");
        }
        if let Err(err) = std::net::TcpListener::bind(("127.0.0.1", *port)) {
            bail!(
                "port {port} ({flag}) on 127.0.0.1 is not free ({err}): stop what uses it or \
                 choose another port with {flag}"
            );
        }
    }
    Ok(())
}

/// The user's PATH, then the project's tools, so the test-runner finds pytest and the
/// executor finds claude without the user changing their PATH.
fn child_path(tools: Option<&Path>) -> anyhow::Result<OsString> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|path| std::env::split_paths(&path).collect()).unwrap_or_default();
    if let Some(tools) = tools {
        dirs.push(tools.join("venv/bin"));
        dirs.push(tools.join("npm/node_modules/.bin"));
    }
    std::env::join_paths(dirs).context("PATH holds an entry with a ':' in it")
}

async fn start(
    state: &StateDir,
    stack: &mut Stack,
    component: Component,
    binary: &Path,
    child_path: &OsString,
    deadline: Duration,
) -> anyhow::Result<()> {
    let name = component.name();
    let launch = launch::launch(component, binary, state, stack)?;
    let log_path = state.log_path(component);
    remove_if_present(&state.port_file(component))?;
    let log = File::create(&log_path).with_context(|| format!("cannot create log file {}", log_path.display()))?;

    eprint!("  {name:<15} starting ... ");
    std::io::stderr().flush()?;
    let begun = Instant::now();
    // Its own process group keeps the child out of the terminal's Ctrl-C and hang-up, so it
    // outlives this command; stdout and stderr go to the log, never to our pipes.
    let mut child = std::process::Command::new(binary)
        .args(&launch.args)
        .envs(launch.env)
        .env("PATH", child_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|err| {
            eprintln!("failed");
            anyhow::anyhow!("cannot start {name} ({}): {err}", binary.display())
        })?;
    state.record_pid(component, child.id())?;
    stack.components.push(RunningComponent {
        name: component,
        pid: child.id(),
        binary: binary.to_owned(),
        log: log_path.clone(),
        address: None,
    });
    state.save(stack)?;

    let failure = |what: String| {
        eprintln!("failed");
        anyhow::anyhow!("{name} {what}; last lines of {}:\n{}", log_path.display(), tail(&log_path, 20))
    };
    let port = loop {
        if let Some(status) = child.try_wait()? {
            return Err(failure(format!("exited while starting ({status})")));
        }
        if let Probe::Ready(port) = launch.readiness.probe().await {
            break port;
        }
        if begun.elapsed() > deadline {
            return Err(failure(format!("was not ready within {} s (raise it with --timeout)", deadline.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("ready in {:.1} s", begun.elapsed().as_secs_f64());

    let address = match component {
        Component::Temporal => {
            let address = format!("127.0.0.1:{}", stack.options.temporal_port);
            stack.temporal_address = Some(address.clone());
            stack.temporal_ui_url = Some(format!("http://127.0.0.1:{}", stack.options.ui_port));
            Some(address)
        }
        Component::Nats => {
            stack.nats_url = Some(format!("nats://127.0.0.1:{}", stack.options.nats_port));
            Some(format!("127.0.0.1:{}", stack.options.nats_port))
        }
        Component::ScriptedModel | Component::Executor | Component::TestRunner => {
            let address = format!("127.0.0.1:{}", port.context("a port-file readiness check yields the port")?);
            match component {
                Component::ScriptedModel => stack.scripted_model_url = Some(format!("http://{address}")),
                Component::Executor => stack.executor_control = Some(address.clone()),
                _ => stack.test_runner_control = Some(address.clone()),
            }
            Some(address)
        }
        Component::MetricsSink => Some(format!("127.0.0.1:{}", stack.options.metrics_port)),
        Component::Notifier => Some(format!("127.0.0.1:{}", stack.options.notifier_metrics_port)),
        Component::Gateway => {
            let address = format!("127.0.0.1:{}", stack.options.gateway_port);
            stack.gateway_url = Some(format!("http://{address}"));
            Some(address)
        }
        Component::Worker => None,
    };
    if let Some(record) = stack.components.last_mut() {
        record.address = address;
    }
    state.save(stack)
}

/// The roots configured, made absolute, or the home directory and the system temp dir (where
/// the demo puts its project): where a user's projects usually are.
fn workspace_roots(configured: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let roots = if configured.is_empty() {
        std::env::var_os("HOME").map(PathBuf::from).into_iter().chain([std::env::temp_dir()]).collect()
    } else {
        configured.to_vec()
    };
    roots
        .into_iter()
        .map(|root| {
            root.canonicalize().with_context(|| {
                format!("workspace root {} does not exist: create it or pass another --workspace-root", root.display())
            })
        })
        .collect()
}

/// The metrics file the user configured (relative to here), or one in the state directory,
/// which `claude-temporal metrics` then reads.
fn metrics_file(config: &ct_config::Config, state: &StateDir) -> anyhow::Result<PathBuf> {
    let configured =
        config.entries.iter().any(|e| e.key == ct_config::key::METRICS_FILE && e.source != ct_config::Source::Default);
    if !configured {
        return Ok(state.root().join("metrics.jsonl"));
    }
    std::path::absolute(&config.settings.metrics_file)
        .with_context(|| format!("METRICS_FILE {} cannot be made absolute", config.settings.metrics_file.display()))
}

/// The link key the user configured, or the stack's own (made once, kept across restarts so
/// links already sent keep working).
fn link_key_file(config: &ct_config::Config, state: &StateDir) -> anyhow::Result<PathBuf> {
    if let Some(configured) = &config.settings.gateway.link_key_file {
        return std::path::absolute(configured)
            .with_context(|| format!("CT_LINK_KEY_FILE {} cannot be made absolute", configured.display()));
    }
    let file = state.link_key_file();
    if !file.exists() {
        ct_approvals::link::create_key_file(&file)?;
    }
    Ok(file)
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_selection_starts_everything_but_an_unasked_scripted_model() {
        let all = select(&[], false).unwrap();
        assert!(!all.contains(&Component::ScriptedModel));
        assert_eq!(all.len(), Component::ALL.len() - 1);
        assert_eq!(select(&[], true).unwrap(), Component::ALL.to_vec());
    }

    #[test]
    fn only_is_put_in_start_order_and_checked_for_what_each_part_needs() {
        assert_eq!(
            select(&[Component::Nats, Component::Temporal], false).unwrap(),
            [Component::Temporal, Component::Nats]
        );
        let err = select(&[Component::Worker, Component::Temporal], false).unwrap_err();
        assert!(err.to_string().contains("worker needs nats"), "{err}");
        let err = select(&[Component::ScriptedModel], false).unwrap_err();
        assert!(err.to_string().contains("--scripted-model"), "{err}");
        let err = select(&[Component::Executor], true).unwrap_err();
        assert!(err.to_string().contains("executor needs temporal"), "{err}");
        let err = select(&[Component::Temporal, Component::Nats, Component::Executor], true).unwrap_err();
        assert!(err.to_string().contains("executor needs scripted-model"), "{err}");
    }

    #[test]
    fn a_port_given_twice_is_refused() {
        let options = StackOptions {
            components: vec![Component::Temporal],
            temporal_port: 17233,
            ui_port: 17233,
            nats_port: 4222,
            nats_monitor_port: 8222,
            metrics_port: 9464,
            notifier_metrics_port: 9465,
            gateway_port: 8788,
            scripted_model: None,
            workspace_roots: Vec::new(),
            metrics_file: PathBuf::new(),
            settings: ServiceSettings::default(),
        };
        let err = check_ports_free(&options).unwrap_err();
        assert!(err.to_string().contains("--ui-port and --temporal-port"), "{err}");
    }
}
