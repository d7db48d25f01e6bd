//! Building the agent CLI's command line and its scrubbed environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::Signal;
use tokio::process::Command;

use ct_confine::{Prepared, RUN_MARKER_VAR};

use crate::error::Error;

/// Finds the agent CLI: a name with a slash is a path, anything else is looked up on `PATH`.
pub(crate) fn resolve_cli(bin: &Path, path_var: Option<&OsString>) -> Result<PathBuf, Error> {
    let not_found = |looked: String| Error::CliNotFound { name: bin.display().to_string(), looked };
    if bin.components().count() > 1 || bin.is_absolute() {
        return if is_executable(bin) {
            Ok(bin.to_path_buf())
        } else {
            Err(not_found(format!("at {}", bin.display())))
        };
    }
    let dirs: Vec<PathBuf> = path_var.map(|p| std::env::split_paths(p).collect()).unwrap_or_default();
    dirs.iter().map(|dir| dir.join(bin)).find(|candidate| is_executable(candidate)).ok_or_else(|| {
        let path = std::env::join_paths(&dirs).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        not_found(format!("on PATH {path}"))
    })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether a variable of the executor's own environment may reach the agent. Everything else is
/// withheld: the agent runs arbitrary commands, so it gets what it needs to reach its model and
/// nothing more.
fn passes_through(name: &str, bedrock: bool, vertex: bool) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "LANG",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_MODEL",
        "ANTHROPIC_SMALL_FAST_MODEL",
        "ANTHROPIC_CUSTOM_HEADERS",
        // The operator's own word that the executor runs in a sandbox (a container); without
        // Landlock it is the only way the CLI accepts bypassPermissions as root.
        "IS_SANDBOX",
    ];
    EXACT.contains(&name)
        || ct_confine::NETWORK_ENV.contains(&name)
        || name.starts_with("LC_")
        || name.starts_with("CLAUDE_CODE_")
        || (bedrock && (name.starts_with("AWS_") || name.starts_with("ANTHROPIC_BEDROCK_")))
        || (vertex
            && (name.starts_with("GOOGLE_") || name.starts_with("CLOUD_ML_") || name.starts_with("ANTHROPIC_VERTEX_")))
}

fn is_enabled(value: Option<&String>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The variables taken over from the executor's environment (`vars`), then `extra` on top.
pub(crate) fn base_env(
    vars: impl IntoIterator<Item = (String, String)>,
    extra: &[(String, String)],
) -> BTreeMap<String, String> {
    let all: BTreeMap<String, String> = vars.into_iter().collect();
    let bedrock = is_enabled(all.get("CLAUDE_CODE_USE_BEDROCK"));
    let vertex = is_enabled(all.get("CLAUDE_CODE_USE_VERTEX"));
    let mut env: BTreeMap<String, String> = all
        .into_iter()
        // An empty variable is one a deployment left unset (compose passes `${X:-}` as ""):
        // the CLI would take an empty ANTHROPIC_BASE_URL for an address.
        .filter(|(name, value)| !value.is_empty() && passes_through(name, bedrock, vertex))
        .collect();
    env.extend(extra.iter().cloned());
    env
}

/// Everything one invocation needs, already resolved against the executor's defaults.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub(crate) cli: PathBuf,
    pub(crate) project: PathBuf,
    pub(crate) prompt: String,
    /// The conversation (session id) to continue, whose transcript is already in HOME.
    pub(crate) resume: Option<String>,
    pub(crate) model: String,
    pub(crate) max_turns: u32,
    pub(crate) max_output_tokens: u32,
    pub(crate) max_retries: u32,
}

/// Paths private to one run.
#[derive(Debug, Clone)]
pub(crate) struct RunDirs {
    pub(crate) home: PathBuf,
    pub(crate) tmp: PathBuf,
    /// Unique per run; the value of [`RUN_MARKER_VAR`].
    pub(crate) marker: String,
}

impl Invocation {
    pub(crate) fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "-p".into(),
            "--output-format".into(),
            "stream-json".into(),
            "--verbose".into(),
            // The raw stream events carry each response's final usage as it ends: live figures.
            "--include-partial-messages".into(),
            "--max-turns".into(),
            self.max_turns.to_string().into(),
            "--permission-mode".into(),
            "bypassPermissions".into(),
            // Settings only from the run's own HOME, which the executor writes: a repository's
            // `.claude/settings*.json` could otherwise move the agent to another endpoint (its
            // `env`), or run its own programs on the executor's behalf.
            "--setting-sources".into(),
            "user".into(),
        ];
        if let Some(session) = &self.resume {
            args.extend(["--resume".into(), session.into()]);
        }
        if !self.model.is_empty() {
            args.extend(["--model".into(), self.model.clone().into()]);
        }
        // The prompt goes last, after `--`, so a prompt starting with `-` is not read as a flag.
        args.extend(["--".into(), self.prompt.clone().into()]);
        args
    }

    /// `confined`: the run gets a Landlock domain.
    pub(crate) fn env(
        &self,
        base: &BTreeMap<String, String>,
        dirs: &RunDirs,
        confined: bool,
    ) -> BTreeMap<String, String> {
        let mut env = base.clone();
        for (name, value) in [
            ("TERM", "dumb"),
            ("DISABLE_TELEMETRY", "1"),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
        ] {
            env.insert(name.to_owned(), value.to_owned());
        }
        // Temporal retries whole activities with backoff; the CLI's own 10 retries (~3 min)
        // would only hide outages from it.
        env.entry("CLAUDE_CODE_MAX_RETRIES".to_owned()).or_insert_with(|| self.max_retries.to_string());
        if self.max_output_tokens > 0 {
            env.insert("CLAUDE_CODE_MAX_OUTPUT_TOKENS".to_owned(), self.max_output_tokens.to_string());
        }
        if confined {
            // The CLI refuses bypassPermissions as root unless told it is sandboxed; only a
            // run that is, says so.
            env.insert("IS_SANDBOX".to_owned(), "1".to_owned());
        }
        env.insert("HOME".to_owned(), dirs.home.display().to_string());
        env.insert("TMPDIR".to_owned(), dirs.tmp.display().to_string());
        env.insert(RUN_MARKER_VAR.to_owned(), dirs.marker.clone());
        env
    }

    pub(crate) fn command(&self, env: &BTreeMap<String, String>, confinement: Prepared) -> Command {
        let mut cmd = confinement.command(&self.cli);
        cmd.args(self.args())
            .current_dir(&self.project)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let parent = std::process::id();
        #[allow(unsafe_code)]
        // SAFETY: `pre_exec` runs in the forked child before exec, where only async-signal-safe
        // calls are allowed; prctl and getppid are plain syscalls without allocation or locks.
        // There is no other way to ask the kernel to signal the CLI when the executor dies.
        unsafe {
            cmd.pre_exec(move || {
                // SIGTERM rather than SIGKILL: measured with CLI 2.1.331, SIGTERM makes it kill
                // its Bash tool's process trees (which live in sessions of their own) and exit
                // within ~1.5 s, whereas SIGKILL leaves those trees running as orphans.
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
                // The executor may have died between fork and prctl; then nobody would signal.
                if nix::unistd::getppid().as_raw() as u32 != parent {
                    return Err(std::io::Error::other("executor exited during spawn"));
                }
                Ok(())
            });
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn environment_keeps_model_access_and_drops_everything_else() {
        let env = base_env(
            vars(&[
                ("PATH", "/usr/bin"),
                ("LC_ALL", "C.UTF-8"),
                ("ANTHROPIC_API_KEY", "sk-test"),
                ("ANTHROPIC_BASE_URL", ""),
                ("CLAUDE_CODE_USE_BEDROCK", "1"),
                ("AWS_REGION", "eu-west-1"),
                ("GOOGLE_APPLICATION_CREDENTIALS", "/secret.json"),
                ("GITHUB_TOKEN", "ghp_x"),
                ("HOME", "/root"),
                ("DATABASE_URL", "postgres://u:p@h/db"),
            ]),
            &[],
        );
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(names, ["ANTHROPIC_API_KEY", "AWS_REGION", "CLAUDE_CODE_USE_BEDROCK", "LC_ALL", "PATH"]);
    }

    #[test]
    fn cloud_credentials_pass_only_for_the_provider_in_use() {
        let env = base_env(vars(&[("AWS_SECRET_ACCESS_KEY", "x")]), &[]);
        assert!(env.is_empty());
        let env = base_env(vars(&[("CLAUDE_CODE_USE_VERTEX", "1"), ("CLOUD_ML_REGION", "us-east5")]), &[]);
        assert!(env.contains_key("CLOUD_ML_REGION"));
    }

    #[test]
    fn run_env_isolates_home_and_limits_retries() {
        let invocation = Invocation {
            cli: "claude".into(),
            project: "/p".into(),
            prompt: "hi".into(),
            resume: None,
            model: String::new(),
            max_turns: 3,
            max_output_tokens: 2048,
            max_retries: 2,
        };
        let dirs = RunDirs { home: "/s/run-1/home".into(), tmp: "/s/run-1/tmp".into(), marker: "run-1".into() };
        let base = base_env(vars(&[("HOME", "/root")]), &[("X".into(), "y".into())]);
        let env = invocation.env(&base, &dirs, true);
        assert_eq!(invocation.env(&base, &dirs, false).get("IS_SANDBOX"), None);
        assert_eq!(env["HOME"], "/s/run-1/home");
        assert_eq!(env["TMPDIR"], "/s/run-1/tmp");
        assert_eq!(env["CLAUDE_CODE_MAX_RETRIES"], "2");
        assert_eq!(env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"], "2048");
        assert_eq!(env["IS_SANDBOX"], "1");
        assert_eq!(env["X"], "y");
        assert_eq!(env[RUN_MARKER_VAR], "run-1");
        let args = invocation.args();
        assert!(!args.contains(&OsString::from("--model")));
        assert_eq!(args[args.len() - 2..], [OsString::from("--"), OsString::from("hi")]);
    }

    #[test]
    fn missing_cli_names_where_it_looked() {
        let err =
            resolve_cli(Path::new("claude-does-not-exist"), Some(&OsString::from("/nonexistent-a:/nonexistent-b")))
                .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("on PATH /nonexistent-a:/nonexistent-b"), "{message}");
        assert!(message.contains("npm install -g @anthropic-ai/claude-code@2.1.331"));
        let err = resolve_cli(Path::new("/nonexistent/claude"), None).unwrap_err();
        assert!(err.to_string().contains("at /nonexistent/claude"));
    }
}
