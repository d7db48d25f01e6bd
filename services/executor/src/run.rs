//! One agent run: preparing it (checks, private directories, the "before" snapshot, the
//! process) and driving it to exactly one `RunResult`.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_confine::bounded::{self, LineError};
use ct_confine::{Bridge, Confinement, Policy, Redactor, RunGuard};

use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::changes;
use crate::checkpoint::{self, Paused};
use crate::classify::{Ending, classify};
use crate::command::{Invocation, RunDirs, base_env, resolve_cli};
use crate::error::Error;
use crate::library;
use crate::messages::{Checkpoint, FailureKind, Progress, RunEvent, RunRequest, RunResult};
use crate::meter::Meter;
use crate::outlets::Outlets;
use crate::transcript::Transcript;
use ct_domain::pricing::PriceTable;
use ct_domain::spend::Tokens;
use ct_git::TreeChanges;

/// How much of the CLI's stderr is kept for failure messages.
const STDERR_TAIL: usize = 4096;
/// The longest line of the CLI's output read: the CLI itself cuts tool output far shorter, so
/// only a broken or subverted CLI gets here, and the run ends rather than the executor's memory.
pub(crate) const MAX_OUTPUT_LINE: usize = 16 << 20;
/// How long to wait for the stderr reader once the process is gone.
const STDERR_DRAIN: Duration = Duration::from_secs(2);
/// With the CLI paused, output it wrote before it stopped is already in the pipe: a read that
/// finds nothing for this long has read it all.
const PAUSED_OUTPUT_READ: Duration = Duration::from_millis(10);
/// How often to look whether the CLI has written a tool result to its conversation file, which
/// it does in batches (measured with 2.1.331: up to ~100 ms after printing the result).
const CHECKPOINT_POLL: Duration = Duration::from_millis(20);
/// A tool result not in the conversation file after this long gets no checkpoint.
const CHECKPOINT_WAIT: Duration = Duration::from_secs(2);

/// A checkpoint owed after the tool result `at`, for as long as the agent has not begun
/// another tool call (`steps` is the transcript's count when the result came).
#[derive(Debug)]
struct Due {
    at: String,
    steps: u32,
    since: Instant,
}

pub(crate) type EventSender = mpsc::Sender<RunEvent>;

/// State shared by all runs of one executor. How many run at once is Temporal's to enforce
/// (the worker's activity slots), so nothing here counts them.
#[derive(Debug)]
pub(crate) struct Runner {
    pub(crate) config: Config,
}

/// A started run: the CLI is running and owes us a result.
#[derive(Debug)]
pub(crate) struct Run {
    project: PathBuf,
    timeout: Duration,
    started: Instant,
    child: Child,
    /// The CLI's process group (its own pid), which a checkpoint pauses.
    group: Pid,
    /// The run's HOME, where the CLI keeps the conversation.
    home: PathBuf,
    /// Model responses of the conversation before this run resumed it.
    responses_before: u32,
    confinement: Confinement,
    redactor: Arc<Redactor>,
    // Declared before `_run_dir` so that the processes are dead before their HOME is removed.
    guard: RunGuard,
    /// The model relay and the other ways out of a run in namespaces.
    outlets: Option<Outlets>,
    before: Option<String>,
    // Held for its Drop, which removes HOME and TMPDIR.
    _run_dir: tempfile::TempDir,
    /// Where the raw output is kept, when the executor keeps transcripts.
    raw_log: Option<std::fs::File>,
    /// What the live figures are priced at.
    prices: Arc<PriceTable>,
}

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
            append_system_prompt: request.append_system_prompt,
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

/// Why reading the CLI's output stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The CLI exited and its output was read to the end.
    Finished,
    TimedOut,
    /// Whoever waits for the run stopped it (cancel, lost lease, kill, shutdown) or went away.
    Stopped,
    /// The CLI printed a line longer than [`MAX_OUTPUT_LINE`].
    Overflowed,
}

impl Run {
    /// Takes in one whole line of the CLI's output; `Err` when nobody listens any more.
    fn handle_line(&mut self, line: &[u8], transcript: &mut Transcript, tx: &EventSender) -> Result<(), ()> {
        let text = String::from_utf8_lossy(line);
        // Raw stream events repeat what the `assistant` lines hold, a line per text fragment:
        // the transcript does without them.
        if !text.starts_with(r#"{"type":"stream_event""#) {
            self.keep_raw(&text);
        }
        for progress in transcript.observe(&text, &self.project) {
            send_progress(tx, progress)?;
        }
        Ok(())
    }

    /// Once the CLI has written the tool result `due.at` to its conversation file: pauses the
    /// CLI, reads what it printed before it stopped, and unless the agent had begun another
    /// tool call by then, sends the conversation so far with the work tree as a checkpoint.
    /// Gives `due` back while the file lacks the result; a checkpoint that cannot be made is
    /// skipped, and the previous one still holds. `Err` when nobody listens any more.
    async fn checkpoint(
        &mut self,
        due: Due,
        stdout: &mut BufReader<ChildStdout>,
        line: &mut Vec<u8>,
        transcript: &mut Transcript,
        tx: &EventSender,
    ) -> Result<Option<Due>, ()> {
        let written = checkpoint::find_transcript(&self.home, &transcript.session_id)
            .and_then(|file| checkpoint::read_conversation(&self.home, &file).ok())
            .is_some_and(|conversation| checkpoint::holds(&conversation, &due.at));
        if !written {
            if due.since.elapsed() > CHECKPOINT_WAIT {
                tracing::debug!("the CLI did not write the tool result to its conversation in time; no checkpoint");
                return Ok(None);
            }
            return Ok(Some(due));
        }
        let began = Instant::now();
        let paused = match Paused::new(self.group) {
            Ok(paused) => paused,
            Err(err) => {
                tracing::debug!(%err, "cannot pause the agent; no checkpoint");
                return Ok(None);
            }
        };
        while let Ok(Ok(read)) =
            tokio::time::timeout(PAUSED_OUTPUT_READ, bounded::read_line(stdout, line, MAX_OUTPUT_LINE)).await
        {
            // A partial line stays in `line` for the main loop.
            if read == 0 || !line.ends_with(b"\n") {
                break;
            }
            self.handle_line(line, transcript, tx)?;
            line.clear();
        }
        if transcript.tool_steps != due.steps {
            tracing::debug!("the agent began another tool call before it paused; no checkpoint here");
            return Ok(None);
        }
        let made = self.take_checkpoint(&due.at, transcript).await;
        drop(paused);
        match made {
            Ok(Some(made)) => {
                tracing::debug!(
                    responses = made.responses,
                    bytes = made.transcript.len(),
                    paused_ms = began.elapsed().as_secs_f64() * 1000.0,
                    "checkpoint"
                );
                let event = RunEvent::Checkpoint(made);
                match tx.try_send(event) {
                    Err(mpsc::error::TrySendError::Closed(_)) => return Err(()),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!("event reader falls behind; dropped a checkpoint")
                    }
                    Ok(()) => {}
                }
            }
            Ok(None) => tracing::debug!("the conversation file lost the tool result; no checkpoint"),
            Err(err) => tracing::warn!(%err, "cannot record the work tree for a checkpoint"),
        }
        Ok(None)
    }

    /// The conversation up to the tool result `at` and the work tree as it is now.
    async fn take_checkpoint(&self, at: &str, transcript: &Transcript) -> Result<Option<Checkpoint>, Error> {
        let Some(file) = checkpoint::find_transcript(&self.home, &transcript.session_id) else {
            return Ok(None);
        };
        let conversation = match checkpoint::read_conversation(&self.home, &file) {
            Ok(conversation) => conversation,
            Err(err) => {
                tracing::warn!(%err, "cannot read the agent's conversation; no checkpoint");
                return Ok(None);
            }
        };
        let Some(conversation) = checkpoint::cut_after(&conversation, at, &self.redactor) else {
            return Ok(None);
        };
        let tree = changes::snapshot(&self.project).await?;
        Ok(Some(Checkpoint {
            session_id: transcript.session_id.clone(),
            transcript_path: file.strip_prefix(&self.home).unwrap_or(&file).display().to_string(),
            transcript: conversation,
            tree,
            before_tree: self.before.clone().unwrap_or_default(),
            responses: self.responses_before + transcript.meter.figures().responses,
        }))
    }

    /// Appends a line of the CLI's output to the transcript, redacted.
    fn keep_raw(&mut self, line: &str) {
        use std::io::Write;
        if let Some(log) = &mut self.raw_log
            && let Err(err) = log.write_all(self.redactor.redact(line).as_bytes())
        {
            tracing::warn!(%err, "cannot keep the agent's transcript; continuing without it");
            self.raw_log = None;
        }
    }

    /// Reads the CLI's output until it ends, the time is up or `stop` fires (or the receiver
    /// goes away); sends progress on the way and, unless stopped, one result at the end. When
    /// this returns, every process of the run is dead.
    pub(crate) async fn drive(mut self, tx: EventSender, stop: CancellationToken) {
        let (Some(stdout), Some(stderr)) = (self.child.stdout.take(), self.child.stderr.take()) else {
            unreachable!("the command is built with piped stdout and stderr");
        };
        let stderr_tail = tokio::spawn(tail(stderr, STDERR_TAIL));
        let mut stdout = BufReader::new(stdout);
        let deadline = tokio::time::Instant::from_std(self.started + self.timeout);
        let mut transcript = Transcript::new(self.redactor.clone(), Meter::today(self.prices.clone()));
        let mut line = Vec::new();
        let mut stdout_open = true;
        let mut exited = false;
        // Stays `None` if the CLI's status could not be collected.
        let mut exit: Option<ExitStatus> = None;
        // The checkpoint owed since the last tool result.
        let mut due: Option<Due> = None;

        let stop = 'read: loop {
            if exited && !stdout_open {
                break Stop::Finished;
            }
            tokio::select! {
                // `read_line` keeps partial input in `line` when another branch wins, so the
                // buffer is only cleared after a whole line was handled.
                read = bounded::read_line(&mut stdout, &mut line, MAX_OUTPUT_LINE), if stdout_open => {
                    match read {
                        Ok(0) => stdout_open = false,
                        Ok(_) => {
                            let handled = self.handle_line(&line, &mut transcript, &tx);
                            line.clear();
                            if handled.is_err() {
                                break 'read Stop::Stopped;
                            }
                            if let Some(at) = transcript.tool_result_at.take() {
                                due = Some(Due { at, steps: transcript.tool_steps, since: Instant::now() });
                            } else if due.as_ref().is_some_and(|d| d.steps != transcript.tool_steps) {
                                tracing::debug!("the agent began another tool call before its conversation was written; no checkpoint");
                                due = None;
                            }
                        }
                        Err(LineError::TooLong { .. }) => break 'read Stop::Overflowed,
                        Err(LineError::Io(err)) => {
                            tracing::warn!(%err, "cannot read the agent's output");
                            stdout_open = false;
                        }
                    }
                }
                status = self.child.wait(), if !exited => {
                    exited = true;
                    exit = status
                        .inspect_err(|err| tracing::warn!(%err, "cannot wait for the agent CLI"))
                        .ok();
                    // Anything the CLI left running (a background shell) would keep stdout
                    // open forever and outlive the run.
                    let leftovers = self.guard.kill();
                    if leftovers > 0 {
                        tracing::info!(leftovers, "killed processes the agent left running");
                    }
                }
                () = tx.closed() => break Stop::Stopped,
                () = stop.cancelled() => break Stop::Stopped,
                () = tokio::time::sleep_until(tokio::time::Instant::now() + CHECKPOINT_POLL), if due.is_some() => {
                    let Some(checkpoint) = due.take() else { continue };
                    match self.checkpoint(checkpoint, &mut stdout, &mut line, &mut transcript, &tx).await {
                        Ok(later) => due = later,
                        Err(()) => break 'read Stop::Stopped,
                    }
                }
                () = tokio::time::sleep_until(deadline) => break Stop::TimedOut,
            }
        };

        if stop != Stop::Finished {
            let killed = self.guard.kill();
            tracing::info!(?stop, killed, "stopped the agent");
            if !exited {
                exit = self.child.wait().await.ok();
            }
        }
        if stop == Stop::Stopped {
            return;
        }

        let stderr_tail = match tokio::time::timeout(STDERR_DRAIN, stderr_tail).await {
            Ok(Ok(tail)) => self.redactor.redact_owned(tail),
            _ => String::new(),
        };
        let changes = self.changes().await;
        let result = self.result(&transcript, exit, stop, &stderr_tail, changes);
        log_result(&result);
        if transcript.result.is_some() {
            crate::meter::compare_with_cli(transcript.meter.cost_usd(), result.total_cost_usd, &result.model);
        }
        let _ = tx.send(RunEvent::Result(Box::new(result))).await;
    }

    async fn changes(&self) -> Option<TreeChanges> {
        let before = self.before.as_deref()?;
        let after = changes::snapshot(&self.project).await;
        let changes = match after {
            Ok(after) => changes::diff(&self.project, before, &after).await,
            Err(err) => Err(err),
        };
        changes.inspect_err(|err| tracing::warn!(%err, "cannot measure what the agent changed")).ok()
    }

    fn result(
        &self,
        transcript: &Transcript,
        exit: Option<ExitStatus>,
        stop: Stop,
        stderr_tail: &str,
        changes: Option<TreeChanges>,
    ) -> RunResult {
        let exit_code = exit.and_then(|status| status.code());
        let failure = classify(&Ending {
            exit_code,
            timed_out: (stop == Stop::TimedOut).then_some(self.timeout),
            line_over: (stop == Stop::Overflowed).then_some(MAX_OUTPUT_LINE),
            result: transcript.result.as_ref(),
            texts: &transcript.texts,
            stderr_tail,
        });
        let mut result = RunResult {
            failure,
            session_id: transcript.session_id.clone(),
            model: transcript.model(),
            // A signal death is reported the way shells do: 128 + signal number.
            exit_code: exit_code.or_else(|| exit.and_then(|s| s.signal()).map(|sig| 128 + sig)).unwrap_or(-1),
            changes,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            confinement: self.confinement.to_string(),
            refused: transcript
                .refusals
                .refused
                .iter()
                .cloned()
                .chain(self.outlets.iter().flat_map(Outlets::refused))
                .collect(),
            ..RunResult::default()
        };
        if let Some(failure) = &mut result.failure {
            failure.message = self.redactor.redact_owned(std::mem::take(&mut failure.message));
            if failure.kind == FailureKind::UsageLimit {
                result.usage_limit_resets_at = transcript.usage_limit_resets_at.unwrap_or(0);
            }
        }
        if let Some(r) = &transcript.result {
            result.result_text = self.redactor.redact_owned(r.result.clone().unwrap_or_default());
            result.is_error = r.is_error;
            result.subtype = r.subtype.as_str().to_owned();
            result.terminal_reason = r.terminal_reason.clone().unwrap_or_default();
            result.num_turns = u32::try_from(r.num_turns).unwrap_or(0);
            result.total_cost_usd = r.total_cost_usd;
            result.api_error_status = r.api_error_status.map_or(0, u32::from);
            result.usage = r.usage.as_ref().map(|u| Tokens {
                input: u.input_tokens.into(),
                output: u.output_tokens.into(),
                cache_read: u.cache_read_input_tokens.into(),
                cache_write: u.cache_creation_input_tokens.into(),
            });
        }
        result
    }
}

/// Progress is best-effort: a reader that falls behind loses some progress events rather than
/// stalling the agent (whose stdout would fill up) or delaying the timeout.
fn send_progress(tx: &EventSender, progress: Progress) -> Result<(), ()> {
    let event = RunEvent::Progress(progress);
    match tx.try_send(event) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::debug!("progress reader falls behind; dropped a progress event");
            Ok(())
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    }
}

/// The last `limit` bytes of a stream, as text.
async fn tail(mut reader: impl AsyncRead + Unpin, limit: usize) -> String {
    let mut kept = Vec::with_capacity(limit);
    let mut chunk = [0u8; 4096];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > limit {
                    kept.drain(..kept.len() - limit);
                }
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn log_result(result: &RunResult) {
    let usage = result.usage.unwrap_or_default();
    let failure = result.failure.as_ref().map(|f| format!("{}: {}", f.kind.name(), f.message)).unwrap_or_default();
    tracing::info!(
        success = result.succeeded(),
        failure,
        exit_code = result.exit_code,
        num_turns = result.num_turns,
        gen_ai.usage.input_tokens = usage.input,
        gen_ai.usage.output_tokens = usage.output,
        cost_usd = result.total_cost_usd,
        duration_ms = result.duration_ms,
        "agent finished"
    );
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

    #[tokio::test]
    async fn only_the_tail_of_a_long_stream_is_kept() {
        let input: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let kept = tail(&input[..], 100).await;
        assert_eq!(kept.as_bytes(), &input[input.len() - 100..]);
    }
}
