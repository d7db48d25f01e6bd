//! The executor's [`Config`] from its settings (the layered configuration every binary reads)
//! and the paths only its own flags give: what `ct-executor` runs with.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Config, Limits, model_ports, url_port};

/// A turn limit for runs that ask for none and a configuration that sets none.
const DEFAULT_MAX_TURNS: u32 = 30;

/// What only the executor's flags say: where its files are.
#[derive(Debug, Clone, Default)]
pub struct LocalPaths {
    /// The runs' private HOME and TMPDIR go below it [default: `<temp dir>/ct-executor-<uid>`].
    pub state_dir: Option<PathBuf>,
    /// Each run's raw stream-json output is kept there when given.
    pub transcript_dir: Option<PathBuf>,
    /// The command library [default: the repository's `.claude/commands` next to the build];
    /// an empty path: none.
    pub commands_dir: Option<PathBuf>,
    /// The prompt-submit hook [default: `claude-temporal` next to this executable]; an empty
    /// path: none.
    pub hook_bin: Option<PathBuf>,
}

impl Config {
    /// The executor's configuration, its sandbox decided. `vars` is the executor's environment:
    /// the model endpoint's port is read from it. An error names the setting to fix.
    pub fn from_settings(
        settings: &ct_config::Settings,
        paths: LocalPaths,
        vars: &[(String, String)],
    ) -> Result<Config, String> {
        let sandbox = ct_confine::Sandbox::configured(&settings.sandbox, settings.sandbox.network_model_only)
            .map_err(|e| e.to_string())?;
        tracing::info!(confinement = %sandbox.confinement(), "{}", sandbox.describe());
        // The agent exports its own spans where the executor exports (or nowhere).
        let agent_telemetry = ct_telemetry::ExportTarget::from_env().ok().flatten().map(|target| target.endpoint);
        let connect_ports = settings.sandbox.network_model_only.then(|| {
            let mut ports = model_ports(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            ports.extend(agent_telemetry.as_deref().and_then(url_port));
            ports
        });
        if let Some(ports) = &connect_ports {
            tracing::info!(
                ?ports,
                "the agent's tools may connect only to these TCP ports (the model endpoint's, the proxy's, the trace collector's)"
            );
        }
        let executor = &settings.executor;
        let defaults = Config::default();
        Ok(Config {
            claude_bin: executor.claude_bin.clone(),
            max_concurrent: executor.max_concurrent,
            files_queue: ct_contracts::files_queue(&settings.temporal.task_queue),
            roots: settings
                .required_workspace_roots()
                .and_then(|roots| ct_fleet::WorkspaceRoots::new(roots).map_err(|e| e.to_string()))?,
            limits: Limits {
                max_timeout: executor.max_timeout_secs.map(Duration::from_secs),
                max_turns: executor.max_turns,
                allowed_models: executor.allowed_models.clone(),
            },
            model: settings.claude.model.clone(),
            max_turns: Some(settings.claude.max_turns).filter(|&n| n > 0).unwrap_or(DEFAULT_MAX_TURNS),
            timeout: Duration::from_secs(settings.claude.timeout_secs),
            state_dir: paths.state_dir.unwrap_or(defaults.state_dir),
            sandbox,
            writable: settings.sandbox.writable.clone(),
            connect_ports,
            allow_hosts: std::sync::Arc::new(
                ct_confine::AllowList::parse(&settings.sandbox.allow_hosts)
                    .map_err(|e| format!("CT_SANDBOX_ALLOW_HOSTS: {e}"))?,
            ),
            agent_telemetry,
            run_limits: (&settings.sandbox).into(),
            max_retries: executor.api_retries,
            transcript_dir: paths.transcript_dir,
            commands_dir: given_or_found(
                paths.commands_dir,
                &[
                    "../../.claude/commands",
                    // The source tree this binary was built from, for builds whose target
                    // directory lives elsewhere (CARGO_TARGET_DIR).
                    concat!(env!("CARGO_MANIFEST_DIR"), "/../../.claude/commands"),
                ],
            ),
            hook_bin: given_or_found(paths.hook_bin, &["claude-temporal"]),
            prices: match &executor.price_table {
                Some(path) => std::sync::Arc::new(ct_config::load_prices(path).map_err(|e| e.to_string())?),
                None => defaults.prices.clone(),
            },
            ..defaults
        })
    }
}

/// A path given on the command line (empty meaning none), else the first candidate that
/// exists; relative candidates are taken from this executable's directory, which holds the
/// other binaries in a build tree and in an install that keeps them together.
fn given_or_found(given: Option<PathBuf>, candidates: &[&str]) -> Option<PathBuf> {
    match given {
        Some(path) if path.as_os_str().is_empty() => None,
        Some(path) => Some(std::path::absolute(&path).unwrap_or(path)),
        None => {
            let exe = std::env::current_exe().ok()?;
            let exe_dir = exe.parent()?;
            candidates
                .iter()
                .map(|candidate| exe_dir.join(candidate))
                .find(|candidate| candidate.exists())
                .map(|found| found.canonicalize().unwrap_or(found))
        }
    }
}
