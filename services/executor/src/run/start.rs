//! Starting a run: the request checked against the executor's limits, the run's private
//! directories, the "before" snapshot, its confinement, and the CLI started.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use ct_confine::{Bridge, Policy, RunGuard};
use nix::unistd::Pid;

use super::{Run, Runner};
use crate::changes;
use crate::checkpoint;
use crate::command::{Invocation, RunDirs, base_env, resolve_cli};
use crate::error::Error;
use crate::library;
use crate::messages::RunRequest;
use crate::outlets::Outlets;

impl Runner {
    /// Checks the request against the executor's limits, takes the "before" snapshot and
    /// starts the CLI. Every error here is the activity's failure; no agent has run yet.
    pub(crate) async fn start(&self, request: RunRequest) -> Result<Run, Error> {
        if request.prompt.trim().is_empty() {
            return Err(Error::InvalidRequest("prompt is empty: say what the agent should do".to_owned()));
        }
        let project = changes::check_project(&request.project_path).await?;
        let project = self.config.roots.check(&project.to_string_lossy())?;
        let model = or_default(request.model, &self.config.model);
        self.config.limits.check_model(&model)?;
        library::check_command(&request.prompt, self.config.commands_dir.as_deref(), &project)?;
        let cli = resolve_cli(&self.config.claude_bin, std::env::var_os("PATH").as_ref())?;
        // The path it has on this machine: inside the run's namespaces, only it is mounted.
        let cli = cli.canonicalize().unwrap_or(cli);
        let run_dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&self.config.state_dir)
            .map_err(|source| Error::RunDir { dir: self.config.state_dir.clone(), source })?;
        let dirs = RunDirs {
            home: run_dir.path().join("home"),
            tmp: run_dir.path().join("tmp"),
            marker: run_dir.path().display().to_string(),
        };
        prepare_dirs(&dirs)
            .and_then(|()| {
                library::install(&dirs.home, self.config.commands_dir.as_deref(), self.config.hook_bin.as_deref())
            })
            .and_then(|()| match &request.resume {
                Some(resume) => checkpoint::install(&dirs.home, resume),
                None => Ok(()),
            })
            .map_err(|source| Error::RunDir { dir: run_dir.path().to_path_buf(), source })?;

        let raw_log = match &self.config.transcript_dir {
            Some(dir) => Some(open_raw_log(dir, &request.run_id)?),
            None => None,
        };
        // A resumed run's changes count from where the run first started.
        let resumed_before = request.resume.as_ref().map(|r| r.before_tree.clone()).filter(|t| !t.is_empty());
        let before = match resumed_before {
            Some(tree) => Some(tree),
            None => match changes::snapshot(&project).await {
                Ok(tree) => Some(tree),
                Err(err) => {
                    tracing::warn!(%err, "cannot snapshot the work tree; the run will report no changes");
                    None
                }
            },
        };
        let responses_before = request.resume.as_ref().map_or(0, |r| r.responses);
        let (prompt, resume) = match request.resume {
            Some(resume) => (checkpoint::RESUME_PROMPT.to_owned(), Some(resume.session_id)),
            None => (request.prompt, None),
        };

        let invocation = Invocation {
            cli,
            project: project.clone(),
            prompt,
            resume,
            model,
            max_turns: self.config.limits.turns(nonzero_or(request.max_turns, self.config.max_turns)),
            max_output_tokens: request.max_output_tokens,
            max_retries: self.config.max_retries,
        };
        let timeout = self.config.limits.timeout(match request.timeout_ms {
            0 => self.config.timeout,
            ms => Duration::from_millis(ms),
        });
        let mut base = base_env(utf8_vars(), &self.config.extra_env);
        add_login(&mut base, self.config.credentials_file.as_deref());
        let confined = self.config.sandbox.confinement();
        let mut env = invocation.env(&base, &dirs, confined.is_confined());
        if let Some(endpoint) = &self.config.agent_telemetry {
            env.extend(crate::agent_telemetry::env(endpoint, &request.run_id));
        }
        let outlets = if confined.namespaces {
            let opened =
                Outlets::open(&self.config.state_dir, &mut env, &self.config.allow_hosts, self.config.redactor.clone());
            Some(opened.map_err(|source| Error::RunDir { dir: self.config.state_dir.clone(), source })?)
        } else {
            None
        };
        let bridges = outlets.as_ref().map(Outlets::bridges).unwrap_or_default();
        let policy = self.policy(&project, run_dir.path(), &invocation.cli, bridges);
        let confinement = self.config.sandbox.prepare(&policy).map_err(Error::Confine)?;
        // Spawned from a runtime worker thread, which lives as long as the runtime: the CLI's
        // parent-death signal fires when the spawning *thread* exits, so never spawn it from a
        // blocking-pool thread.
        let child = invocation
            .command(&env, confinement)
            .spawn()
            .map_err(|source| Error::Spawn { bin: invocation.cli.clone(), source })?;
        // Only `None` once the child has been reaped, which cannot have happened yet; checked
        // anyway because pid 0 would make every later group kill hit the executor itself.
        let pid = child.id().ok_or_else(|| Error::Spawn {
            bin: invocation.cli.clone(),
            source: std::io::Error::other("the CLI exited before its pid was read"),
        })?;
        // Linux pids stay below 2^22 (pid_max), so they fit an i32.
        let pid = pid as i32;
        tracing::info!(
            pid,
            project = %project.display(),
            max_turns = invocation.max_turns,
            timeout_s = timeout.as_secs_f64(),
            confinement = %confined,
            "agent started"
        );
        Ok(Run {
            project,
            timeout,
            started: Instant::now(),
            child,
            group: Pid::from_raw(pid),
            home: dirs.home.clone(),
            responses_before,
            confinement: confined,
            redactor: self.config.redactor.clone(),
            guard: RunGuard::new(Pid::from_raw(pid), dirs.marker),
            outlets,
            before,
            _run_dir: run_dir,
            raw_log,
            prices: self.config.prices.clone(),
        })
    }
}

impl Runner {
    /// What one run may touch: its worktree and its own directory, read-only the repository's
    /// git directory (history readable; config, hooks and refs not writable: only the services
    /// write git), the programs on PATH and the CLI; never the executor's state, its transcripts
    /// or its credentials.
    fn policy(&self, project: &Path, run_dir: &Path, cli: &Path, bridges: Vec<Bridge>) -> Policy {
        let mut writable = vec![project.to_path_buf(), run_dir.to_path_buf()];
        writable.extend(self.config.writable.iter().cloned());
        let protected = ct_confine::git_dirs(project);
        let mut read_only = ct_confine::service_tool_dirs().to_vec();
        if let Some(cli_dir) = cli.canonicalize().ok().and_then(|c| c.parent().map(Path::to_path_buf)) {
            read_only.extend(ct_confine::tool_dirs(cli_dir.as_os_str(), &ct_confine::service_homes()));
        }
        // The prompt-submit hook the run's settings name, by its path on this machine.
        read_only.extend(self.config.hook_bin.iter().filter_map(|hook| hook.canonicalize().ok()));
        let hidden = [Some(&self.config.state_dir), self.config.transcript_dir.as_ref()]
            .into_iter()
            .flatten()
            .chain(&self.config.hidden)
            .chain(&self.config.credentials_file)
            .cloned()
            .collect();
        Policy {
            workdir: project.to_path_buf(),
            writable,
            read_only,
            protected,
            hidden,
            connect_ports: self.config.connect_ports.clone(),
            bridges,
            limits: self.config.run_limits,
        }
    }
}

/// Gives the agent the executor user's Claude login, when no key or token is configured: only
/// its access token, as `CLAUDE_CODE_OAUTH_TOKEN`; the login file (with its refresh token)
/// stays where it is, out of the run's reach.
fn add_login(env: &mut BTreeMap<String, String>, credentials: Option<&Path>) {
    if crate::relay::CREDENTIAL_VARS.iter().any(|name| env.contains_key(*name)) {
        return;
    }
    let Some(file) = credentials.filter(|c| c.is_file()) else { return };
    let token = std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|login| login.pointer("/claudeAiOauth/accessToken")?.as_str().map(str::to_owned));
    match token {
        Some(token) => {
            env.insert("CLAUDE_CODE_OAUTH_TOKEN".to_owned(), token);
        }
        None => {
            tracing::warn!(file = %file.display(), "the Claude login holds no access token; the agent runs without it")
        }
    }
}

fn or_default(value: String, default: &str) -> String {
    if value.is_empty() { default.to_owned() } else { value }
}

fn nonzero_or(value: u32, default: u32) -> u32 {
    if value == 0 { default } else { value }
}

/// The executor's environment, minus variables that are not UTF-8 (none of the ones passed
/// through can be).
fn utf8_vars() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
}

/// Creates the run's HOME and TMPDIR, private to the executor's user.
fn prepare_dirs(dirs: &RunDirs) -> std::io::Result<()> {
    ct_confine::make_private_dir(&dirs.tmp)?;
    ct_confine::make_private_dir(&dirs.home.join(".claude"))?;
    ct_confine::make_private_dir(&dirs.home)
}

/// Opens `<dir>/<run id>.jsonl` for appending, readable only by the executor's user; the run
/// id's path separators become `_` so every run lands in `dir` itself.
fn open_raw_log(dir: &Path, run_id: &str) -> Result<std::fs::File, Error> {
    let name: String =
        run_id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') { c } else { '_' }).collect();
    let name = if name.is_empty() { "run".to_owned() } else { name };
    ct_confine::make_private_dir(dir)
        .and_then(|()| {
            std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(dir.join(format!("{name}.jsonl")))
        })
        .map_err(|source| Error::RunDir { dir: dir.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_are_private_to_the_executor_user() -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let scratch = tempfile::tempdir()?;
        let dirs = RunDirs {
            home: scratch.path().join("run/home"),
            tmp: scratch.path().join("run/tmp"),
            marker: "m".to_owned(),
        };
        prepare_dirs(&dirs)?;
        for dir in [&dirs.home, &dirs.tmp, &dirs.home.join(".claude")] {
            assert_eq!(std::fs::metadata(dir)?.permissions().mode() & 0o777, 0o700, "{}", dir.display());
        }
        Ok(())
    }

    #[test]
    fn a_login_reaches_the_agent_as_its_access_token_only_when_nothing_else_is_set() -> std::io::Result<()> {
        let scratch = tempfile::tempdir()?;
        let login = scratch.path().join(".credentials.json");
        std::fs::write(&login, r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-abc","refreshToken":"r"}}"#)?;
        let mut env = BTreeMap::new();
        add_login(&mut env, Some(&login));
        assert_eq!(env, BTreeMap::from([("CLAUDE_CODE_OAUTH_TOKEN".to_owned(), "sk-ant-oat01-abc".to_owned())]));

        let mut keyed = BTreeMap::from([("ANTHROPIC_API_KEY".to_owned(), "sk-key".to_owned())]);
        add_login(&mut keyed, Some(&login));
        assert!(!keyed.contains_key("CLAUDE_CODE_OAUTH_TOKEN"));

        let mut none = BTreeMap::new();
        add_login(&mut none, Some(&scratch.path().join("absent.json")));
        assert!(none.is_empty());
        Ok(())
    }
}
