//! The state directory of the local stack: what was started (stack.json), one pid file per
//! process and their logs. A process counts as ours only while its pid file and its command
//! line still match the record, so a recycled pid is never signalled.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::component::Component;

const STOP_GRACE: Duration = Duration::from_secs(5);

/// What `dev up --json` prints and `stack.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Stack {
    pub(crate) state_dir: PathBuf,
    pub(crate) log_dir: PathBuf,
    /// Seconds since the Unix epoch; binaries built after this make `up` restart the stack.
    pub(crate) started_at_unix: u64,
    pub(crate) options: StackOptions,
    pub(crate) temporal_address: Option<String>,
    pub(crate) temporal_ui_url: Option<String>,
    pub(crate) nats_url: Option<String>,
    pub(crate) scripted_model_url: Option<String>,
    /// Control API addresses (host:port) of the executor and the test-runner.
    pub(crate) executor_control: Option<String>,
    pub(crate) test_runner_control: Option<String>,
    /// The stack's control-API token (mode 0600); every executor and test-runner requires it.
    pub(crate) control_token_file: PathBuf,
    /// Where people reach the gateway, once it is up.
    #[serde(default)]
    pub(crate) gateway_url: Option<String>,
    /// The key approval links are signed with (the user's, or one made for the stack).
    #[serde(default)]
    pub(crate) link_key_file: Option<PathBuf>,
    /// In start order.
    pub(crate) components: Vec<RunningComponent>,
}

/// The `up` flags that shape a stack; `up` with other ones restarts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StackOptions {
    pub(crate) components: Vec<Component>,
    pub(crate) temporal_port: u16,
    pub(crate) ui_port: u16,
    pub(crate) nats_port: u16,
    pub(crate) nats_monitor_port: u16,
    /// Where the metrics-sink serves Prometheus `/metrics`.
    #[serde(default = "default_metrics_port")]
    pub(crate) metrics_port: u16,
    #[serde(default = "default_notifier_metrics_port")]
    pub(crate) notifier_metrics_port: u16,
    #[serde(default = "default_gateway_port")]
    pub(crate) gateway_port: u16,
    pub(crate) scripted_model: Option<PathBuf>,
    /// Where executors and test-runners accept projects.
    #[serde(default)]
    pub(crate) workspace_roots: Vec<PathBuf>,
    /// The file the metrics-sink appends to.
    #[serde(default)]
    pub(crate) metrics_file: PathBuf,
    /// Each service's settings from the configuration, as handed to it.
    #[serde(default)]
    pub(crate) settings: ServiceSettings,
}

/// The environment each service is started with, from the configuration. Serialised only as
/// a digest: stack.json must not hold secrets, yet a changed setting must restart the stack.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceSettings {
    pub(crate) by_service: Vec<(ct_config::Service, Vec<(&'static str, String)>)>,
    digest: String,
}

impl ServiceSettings {
    pub(crate) fn new(by_service: Vec<(ct_config::Service, Vec<(&'static str, String)>)>) -> ServiceSettings {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for (service, env) in &by_service {
            for (name, value) in env {
                context.update(format!("{}\0{name}\0{}\0", service.name(), value.len()).as_bytes());
                context.update(value.as_bytes());
            }
        }
        let digest = context.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
        ServiceSettings { by_service, digest }
    }

    pub(crate) fn env_of(&self, service: ct_config::Service) -> &[(&'static str, String)] {
        self.by_service.iter().find(|(s, _)| *s == service).map_or(&[], |(_, env)| env.as_slice())
    }
}

impl PartialEq for ServiceSettings {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl Eq for ServiceSettings {}

impl Serialize for ServiceSettings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.digest)
    }
}

impl<'de> Deserialize<'de> for ServiceSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let digest = String::deserialize(deserializer)?;
        Ok(ServiceSettings { by_service: Vec::new(), digest })
    }
}

fn default_notifier_metrics_port() -> u16 {
    9465
}

fn default_gateway_port() -> u16 {
    8788
}

fn default_metrics_port() -> u16 {
    9464
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunningComponent {
    pub(crate) name: Component,
    pub(crate) pid: u32,
    /// Exactly as passed to exec, so it is the first word of /proc/<pid>/cmdline.
    pub(crate) binary: PathBuf,
    pub(crate) log: PathBuf,
    /// host:port that answers TCP while the component is up (none for the worker).
    pub(crate) address: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopOutcome {
    Terminated,
    Killed,
    NotRunning,
}

#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub(crate) fn resolve(explicit: Option<PathBuf>) -> anyhow::Result<Self> {
        let root = match explicit {
            Some(dir) => dir,
            None => {
                let home = std::env::var_os("HOME").context("HOME is not set: pass --state-dir or set CT_STATE_DIR")?;
                PathBuf::from(home).join(".local/state/claude-temporal/dev")
            }
        };
        let root =
            std::path::absolute(&root).with_context(|| format!("cannot resolve state directory {}", root.display()))?;
        Ok(Self { root })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn log_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub(crate) fn log_path(&self, component: Component) -> PathBuf {
        self.log_dir().join(format!("{}.log", component.name()))
    }

    pub(crate) fn control_token_file(&self) -> PathBuf {
        self.root.join("control.token")
    }

    /// The link key made for the stack when the user configured none.
    pub(crate) fn link_key_file(&self) -> PathBuf {
        self.root.join("link.key")
    }

    pub(crate) fn port_file(&self, component: Component) -> PathBuf {
        self.root.join(format!("{}.port", component.name()))
    }

    fn pid_path(&self, component: Component) -> PathBuf {
        self.root.join("pids").join(format!("{}.pid", component.name()))
    }

    fn stack_file(&self) -> PathBuf {
        self.root.join("stack.json")
    }

    pub(crate) fn create(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        for dir in [self.log_dir(), self.root.join("pids")] {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            // Logs hold what the services printed (a notifier's links, when asked for): they
            // are the owner's alone.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make {} private", dir.display()))?;
        }
        Ok(())
    }

    pub(crate) fn load(&self) -> anyhow::Result<Option<Stack>> {
        let path = self.stack_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        let stack = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a stack record written by this version; stop leftover processes by \
                 the pids in {} and delete the file",
                path.display(),
                self.root.join("pids").display()
            )
        })?;
        Ok(Some(stack))
    }

    /// Written after every process start, so a failed or interrupted `up` still leaves a
    /// record that `down` can clean up from.
    pub(crate) fn save(&self, stack: &Stack) -> anyhow::Result<()> {
        let path = self.stack_file();
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(stack)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    pub(crate) fn record_pid(&self, component: Component, pid: u32) -> anyhow::Result<()> {
        let path = self.pid_path(component);
        std::fs::write(&path, format!("{pid}\n")).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Removes the stack record once nothing of it runs any more.
    pub(crate) fn forget(&self) -> anyhow::Result<()> {
        let path = self.stack_file();
        match std::fs::remove_file(&path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(err).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn is_running(&self, component: &RunningComponent) -> bool {
        let recorded = std::fs::read_to_string(self.pid_path(component.name))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        recorded == Some(component.pid) && process_runs(component.pid, &component.binary)
    }

    /// SIGTERM, up to 5 s to exit, then SIGKILL; the pid file goes either way.
    pub(crate) async fn stop(&self, component: &RunningComponent) -> anyhow::Result<StopOutcome> {
        let outcome = if self.is_running(component) { terminate(component).await? } else { StopOutcome::NotRunning };
        for path in [self.pid_path(component.name), self.port_file(component.name)] {
            if let Err(err) = std::fs::remove_file(&path)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                return Err(err).with_context(|| format!("cannot remove {}", path.display()));
            }
        }
        Ok(outcome)
    }
}

async fn terminate(component: &RunningComponent) -> anyhow::Result<StopOutcome> {
    let pid = Pid::from_raw(i32::try_from(component.pid)?);
    let signal = |sig| kill(pid, sig).with_context(|| format!("cannot send {sig} to {} (pid {pid})", component.name));
    signal(Signal::SIGTERM)?;
    if exited_within(component, STOP_GRACE).await {
        return Ok(StopOutcome::Terminated);
    }
    signal(Signal::SIGKILL)?;
    if exited_within(component, Duration::from_secs(2)).await {
        return Ok(StopOutcome::Killed);
    }
    anyhow::bail!("{} (pid {pid}) survived SIGKILL", component.name)
}

async fn exited_within(component: &RunningComponent, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !process_exists(component.pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !process_exists(component.pid)
}

/// Whether the pid still has a live process. Only used after the pid was checked to be
/// ours: an exiting process loses its command line before it is gone, so the command line
/// cannot tell whether it has finished exiting.
fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        !(state.starts_with('Z') || state.starts_with('X'))
    })
}

/// A zombie has an empty command line, so it counts as gone: its parent may be an init that
/// never reaps.
fn process_runs(pid: u32, binary: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    argv0 == binary.as_os_str().as_encoded_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_runs_only_under_its_own_binary() {
        let me = std::env::current_exe().unwrap();
        let argv0 = std::env::args_os().next().unwrap();
        assert!(process_runs(std::process::id(), Path::new(&argv0)));
        assert!(!process_runs(std::process::id(), Path::new("/usr/bin/some-other-binary")));
        assert!(!process_runs(u32::MAX, &me));
    }
}
