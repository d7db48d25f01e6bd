//! The test-runner's [`Config`] from its settings (the layered configuration every binary
//! reads) and the paths only its own flags give: what `ct-test-runner` runs with.

use std::path::PathBuf;
use std::time::Duration;

use crate::Config;

impl Config {
    /// The test-runner's configuration, its sandbox decided. `state_dir` and `python` are its
    /// own flags (`None`: the defaults). An error names the setting to fix.
    pub fn from_settings(
        settings: &ct_config::Settings,
        state_dir: Option<PathBuf>,
        python: Option<PathBuf>,
    ) -> Result<Config, String> {
        let sandbox = ct_confine::Sandbox::configured(&settings.sandbox, false).map_err(|e| e.to_string())?;
        tracing::info!(confinement = %sandbox.confinement(), "{}", sandbox.describe());
        let runner = &settings.test_runner;
        let defaults = Config::default();
        Ok(Config {
            default_timeout: Duration::from_secs(settings.workflow.test_timeout_secs),
            max_timeout: runner.max_timeout_secs.map(Duration::from_secs),
            roots: settings
                .required_workspace_roots()
                .and_then(|roots| ct_fleet::WorkspaceRoots::new(roots).map_err(|e| e.to_string()))?,
            capacity: runner.max_concurrent,
            state_dir: state_dir.unwrap_or(defaults.state_dir),
            sandbox,
            writable: settings.sandbox.writable.clone(),
            allow_hosts: std::sync::Arc::new(
                ct_confine::AllowList::parse(&settings.sandbox.allow_hosts)
                    .map_err(|e| format!("CT_SANDBOX_ALLOW_HOSTS: {e}"))?,
            ),
            run_limits: (&settings.sandbox).into(),
            python,
            ..defaults
        })
    }
}
