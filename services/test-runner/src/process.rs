//! Running a test command confined, in its own process group, with a deadline.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ct_confine::{Prepared, RUN_MARKER_VAR, RunGuard};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Notify;

use crate::{Error, RunContext};

/// How much of the interleaved stdout+stderr is kept for `output_tail`.
const COMBINED_KEEP: usize = 64 * 1024;

/// The most kept of either stream. Runners report far less; a test printing without end
/// would otherwise fill the test-runner's memory until its timeout.
pub(crate) const MAX_STREAM_BYTES: usize = 64 << 20;

/// Once the main process has exited and its group is killed, the pipes close at
/// once unless something left the group; this bounds the wait for such strays.
const DRAIN_GRACE: Duration = Duration::from_secs(3);

/// One command line to run in a project directory.
pub(crate) struct Invocation {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) dir: PathBuf,
    /// The tool named in the error when `program` cannot be found.
    pub(crate) tool: &'static str,
    /// How to install that tool.
    pub(crate) install_hint: String,
}

impl Invocation {
    /// The command as a shell line the user can paste, run from the project directory.
    pub(crate) fn command_line(&self) -> String {
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(self.args.iter().cloned())
            .map(|word| shell_quote(&word))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a finished (or killed) run left behind.
pub(crate) struct Finished {
    /// The exit status, or 128 + signal number when killed, as shells report it.
    pub(crate) exit_code: i32,
    pub(crate) timed_out: bool,
    /// Set (to the limit) when a stream passed [`MAX_STREAM_BYTES`] and the run was killed.
    pub(crate) output_over: Option<usize>,
    pub(crate) duration: Duration,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    /// The end of stdout and stderr in the order they arrived.
    pub(crate) combined: Vec<u8>,
}

#[derive(Default)]
struct Captured {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    combined: Vec<u8>,
    overflowed: bool,
}

/// Runs `invocation` under the run's confinement until it exits, its timeout passes or its
/// stop fires. Every process it started (its group, its descendants, anything carrying the
/// run's marker) is killed in each case, and also when the returned future is dropped (the
/// activity was cancelled), so no test process outlives it.
pub(crate) async fn run(invocation: &Invocation, ctx: &RunContext<'_>) -> Result<Finished, Error> {
    // Inside namespaces a missing program would only be the init's exit status: look first.
    let program = locate(&invocation.program, ctx.env.get("PATH")).ok_or_else(|| missing_tool(invocation))?;
    // Inside namespaces only real paths are mounted: its directory's real path, its own name
    // kept (a venv's `python` must stay the venv's symlink), and that directory visible.
    let program = match (program.parent().and_then(|dir| dir.canonicalize().ok()), program.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => program,
    };
    let mut policy = ct_confine::Policy { workdir: invocation.dir.clone(), ..ctx.policy.clone() };
    if let Some(dir) = program.parent() {
        policy.read_only.extend(ct_confine::tool_dirs(dir.as_os_str(), &ct_confine::service_homes()));
    }
    let confinement = ctx.sandbox.prepare(&policy).map_err(Error::Confine)?;
    let started = Instant::now();
    let mut child = command(&program, invocation, ctx, confinement).spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            missing_tool(invocation)
        } else {
            Error::Spawn { command: invocation.command_line(), dir: invocation.dir.clone(), source }
        }
    })?;
    // Linux pids stay below 2^22 (pid_max), so they fit an i32; `None` only once reaped.
    let pid = child.id().ok_or_else(|| Error::Spawn {
        command: invocation.command_line(),
        dir: invocation.dir.clone(),
        source: std::io::Error::other("the test command exited before its pid was read"),
    })?;
    let mut group = RunGuard::new(Pid::from_raw(pid as i32), ctx.marker.to_owned());

    let captured = Arc::new(Mutex::new(Captured::default()));
    let overflow = Arc::new(Notify::new());
    let readers = [
        child.stdout.take().map(|out| tokio::spawn(pump(out, captured.clone(), overflow.clone(), |c| &mut c.stdout))),
        child.stderr.take().map(|err| tokio::spawn(pump(err, captured.clone(), overflow.clone(), |c| &mut c.stderr))),
    ];

    let wait_error = |source| Error::Wait { command: invocation.command_line(), source };
    let (status, timed_out) = tokio::select! {
        status = child.wait() => (status.map_err(wait_error)?, false),
        () = tokio::time::sleep(ctx.timeout) => {
            group.kill();
            (child.wait().await.map_err(wait_error)?, true)
        }
        () = overflow.notified() => {
            group.kill();
            (child.wait().await.map_err(wait_error)?, false)
        }
        () = ctx.shutdown.cancelled() => return Err(Error::Stopped),
    };
    let duration = started.elapsed();
    // Background processes a test started would otherwise keep the pipes open.
    group.kill();

    let mut readers: Vec<_> = readers.into_iter().flatten().collect();
    let drained = async {
        for reader in &mut readers {
            let _ = reader.await;
        }
    };
    if tokio::time::timeout(DRAIN_GRACE, drained).await.is_err() {
        tracing::warn!(
            command = %invocation.command_line(),
            "a process that left the test's process group still holds its output open; using the output read so far"
        );
    }
    // A stray process keeps writing: stop reading it rather than filling memory meanwhile.
    for reader in &readers {
        reader.abort();
    }
    let captured = std::mem::take(&mut *lock(&captured));
    Ok(Finished {
        exit_code: exit_code(status),
        timed_out,
        output_over: captured.overflowed.then_some(MAX_STREAM_BYTES),
        duration,
        stdout: captured.stdout,
        stderr: captured.stderr,
        combined: captured.combined,
    })
}

fn missing_tool(invocation: &Invocation) -> Error {
    Error::ToolMissing {
        tool: invocation.tool.to_owned(),
        hint: format!(
            "`{}` was not found (bare names are looked up on the test-runner's PATH); {}",
            invocation.program.display(),
            invocation.install_hint
        ),
    }
}

/// Where `program` is: itself when it names a path, else the first match on `path`.
fn locate(program: &std::path::Path, path: Option<&String>) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::split_paths(path?).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

fn command(
    program: &Path,
    invocation: &Invocation,
    ctx: &RunContext<'_>,
    confinement: Prepared,
) -> tokio::process::Command {
    let mut command = confinement.command(program);
    command
        .args(&invocation.args)
        .current_dir(&invocation.dir)
        .env_clear()
        .envs(ctx.env)
        .env(RUN_MARKER_VAR, ctx.marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Copies one stream into `into` until it ends or passes [`MAX_STREAM_BYTES`]; then says so
/// on `overflow` and stops reading (the run is killed).
async fn pump(
    mut from: impl AsyncRead + Unpin,
    into: Arc<Mutex<Captured>>,
    overflow: Arc<Notify>,
    stream: fn(&mut Captured) -> &mut Vec<u8>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut captured = lock(&into);
        if stream(&mut captured).len() + n > MAX_STREAM_BYTES {
            captured.overflowed = true;
            overflow.notify_one();
            return;
        }
        stream(&mut captured).extend_from_slice(&buf[..n]);
        captured.combined.extend_from_slice(&buf[..n]);
        // Trim in large steps so that the copy is rare.
        if captured.combined.len() > 2 * COMBINED_KEEP {
            let cut = captured.combined.len() - COMBINED_KEEP;
            captured.combined.drain(..cut);
        }
    }
}

fn lock(captured: &Mutex<Captured>) -> std::sync::MutexGuard<'_, Captured> {
    // A reader that panicked mid-append leaves bytes that are still worth reporting.
    captured.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|signal| 128 + signal)).unwrap_or(-1)
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn command_lines_quote_only_what_needs_it() {
        let invocation = Invocation {
            program: "/usr/bin/python3".into(),
            args: vec!["-m".into(), "pytest".into(), "--junitxml=/tmp/a b/r.xml".into(), "it's".into()],
            dir: "/".into(),
            tool: "python3",
            install_hint: String::new(),
        };
        assert_eq!(invocation.command_line(), r"/usr/bin/python3 -m pytest '--junitxml=/tmp/a b/r.xml' 'it'\''s'");
    }

    /// Runs `invocation` in `dir` as a test run would: confined, with `dir` writable.
    async fn run_in(invocation: &Invocation, dir: &std::path::Path, timeout: Duration) -> Result<Finished, Error> {
        let env = BTreeMap::from([("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())]);
        let policy = ct_confine::Policy { writable: vec![dir.to_path_buf()], ..Default::default() };
        let marker = dir.display().to_string();
        let ctx = RunContext {
            dir,
            timeout,
            python: None,
            shutdown: &tokio_util::sync::CancellationToken::new(),
            run_dir: dir,
            marker: &marker,
            env: &env,
            sandbox: &ct_confine::Sandbox::auto(),
            policy: &policy,
        };
        run(invocation, &ctx).await
    }

    #[tokio::test]
    async fn a_missing_program_is_a_missing_tool() {
        let dir = tempfile::tempdir().unwrap();
        let invocation = Invocation {
            program: "ct-test-runner-no-such-tool".into(),
            args: vec![],
            dir: dir.path().to_path_buf(),
            tool: "no-such-tool",
            install_hint: "install it".into(),
        };
        let err = run_in(&invocation, dir.path(), Duration::from_secs(5)).await.err().unwrap();
        assert!(matches!(err, Error::ToolMissing { ref tool, .. } if tool == "no-such-tool"), "{err}");
    }

    #[tokio::test]
    async fn a_timeout_kills_every_process_of_the_run_even_those_that_left_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let invocation = Invocation {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                // A session of its own (out of the group) that ignores SIGTERM.
                format!(
                    "setsid sh -c 'trap \"\" TERM; echo $$ > {}; exec tail -f /dev/null' & wait",
                    pid_file.display()
                ),
            ],
            dir: dir.path().to_path_buf(),
            tool: "sh",
            install_hint: String::new(),
        };
        let finished = run_in(&invocation, dir.path(), Duration::from_millis(1500)).await.unwrap();
        assert!(finished.timed_out);
        assert_eq!(finished.exit_code, 128 + 9);
        assert!(finished.duration < Duration::from_secs(5), "{:?}", finished.duration);
        assert!(pid_file.exists(), "the stray started");
        // Its pid in the file may be one of the run's own PID namespace: look for it by the
        // run's marker instead.
        let marker = format!("{RUN_MARKER_VAR}={}", dir.path().display());
        let strays = marked(&marker);
        for stray in &strays {
            assert!(wait_gone(*stray).await, "the process {stray} that left the group survived");
        }
    }

    /// Live processes of the machine whose environment holds `entry`.
    fn marked(entry: &str) -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == entry.as_bytes()))
            })
            .collect()
    }

    /// A killed orphan is reaped by init shortly after; until then it is a zombie.
    async fn wait_gone(pid: i32) -> bool {
        for _ in 0..50 {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return true,
                Ok(stat) if stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')) => {
                    return true;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        false
    }
}
