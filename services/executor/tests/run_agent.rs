//! Agent runs in-process (what the executor's `run_agent` activity does inside its lease),
//! running the real Claude Code CLI against the scripted model in real git repositories. The
//! Temporal side (queues, leases, crashes) is tested end to end in tests/e2e.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ct_contracts::failure::{AGENT_UNAVAILABLE, INVALID_PROJECT, NOT_ALLOWED};
use ct_executor::{Agents, Config, RunHandle};
use ct_executor::{Checkpoint, FailureKind, Progress, RunEvent, RunRequest, RunResult};
use ct_scripted_model::{Scenario, ScriptedModel};
use tokio::net::TcpListener;

/// The pinned CLI, from CLAUDE_BIN or where scripts/install-tools.sh puts it.
fn claude_bin() -> PathBuf {
    let bin = std::env::var_os("CLAUDE_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/npm/node_modules/.bin/claude"),
        PathBuf::from,
    );
    assert!(
        bin.is_file(),
        "the Claude Code CLI is not at {}: run scripts/install-tools.sh (or set CLAUDE_BIN)",
        bin.display()
    );
    bin
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output()?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// A git repository with one committed file and one ignored directory.
fn project() -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    git(dir.path(), &["init", "-q"])?;
    std::fs::write(dir.path().join("README.md"), "# demo\n")?;
    std::fs::write(dir.path().join(".gitignore"), "build/\n")?;
    git(dir.path(), &["add", "-A"])?;
    git(dir.path(), &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"])?;
    Ok(dir)
}

/// An executor's agent runner with its own state directory.
struct Executor {
    agents: Agents,
    state_dir: tempfile::TempDir,
}

impl Executor {
    async fn start(model: &ScriptedModel, adjust: impl FnOnce(&mut Config)) -> Result<Executor> {
        drop(ct_telemetry::init("ct-executor-test"));
        let state_dir = tempfile::tempdir()?;
        let mut config = Config {
            claude_bin: claude_bin(),
            state_dir: state_dir.path().to_path_buf(),
            credentials_file: None,
            extra_env: vec![
                ("ANTHROPIC_BASE_URL".to_owned(), model.base_url()),
                ("ANTHROPIC_API_KEY".to_owned(), "sk-test".to_owned()),
            ],
            ..Config::default()
        };
        adjust(&mut config);
        Ok(Executor { agents: Agents::new(config)?, state_dir })
    }

    async fn run(&self, request: RunRequest) -> Result<RunHandle, ct_executor::Error> {
        self.agents.start(request).await
    }

    /// Live processes started for this executor's runs (they carry the run marker).
    fn run_processes(&self) -> Vec<(i32, String)> {
        marked_processes(&format!("CT_RUN={}", self.state_dir.path().display()))
    }
}

fn request(project: &Path, prompt: &str) -> RunRequest {
    RunRequest {
        run_id: format!("test/{prompt}/1"),
        project_path: project.display().to_string(),
        prompt: prompt.to_owned(),
        ..RunRequest::default()
    }
}

/// Reads a run's events to their end: the progress seen and the one result.
async fn finish(run: RunHandle) -> Result<(Vec<Progress>, RunResult)> {
    let (progress, _, result) = finish_with_checkpoints(run).await?;
    Ok((progress, result))
}

/// Reads a run's events to their end: the progress, the checkpoints and the one result.
async fn finish_with_checkpoints(mut run: RunHandle) -> Result<(Vec<Progress>, Vec<Checkpoint>, RunResult)> {
    let mut progress = Vec::new();
    let mut checkpoints = Vec::new();
    let mut result = None;
    while let Some(event) = run.events.recv().await {
        match event {
            RunEvent::Progress(p) => progress.push(p),
            RunEvent::Checkpoint(c) => checkpoints.push(c),
            RunEvent::Result(r) => {
                if result.replace(*r).is_some() {
                    bail!("two results in one run");
                }
            }
        }
    }
    Ok((progress, checkpoints, result.context("the run ended without a result")?))
}

/// Live (non-zombie) processes whose environment contains a variable starting with `prefix`,
/// with their command lines.
fn marked_processes(prefix: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !environ.split(|b| *b == 0).any(|var| var.starts_with(prefix.as_bytes())) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next()).unwrap_or("Z");
        if state == "Z" || state == "X" {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        found.push((pid, cmdline));
    }
    found
}

/// Polls until `condition` holds, failing after `limit`; returns how long it took.
async fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Result<Duration> {
    let start = Instant::now();
    while !condition() {
        if start.elapsed() > limit {
            bail!("{what}: still not true after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(start.elapsed())
}

/// How the run failed; `None` when it did not.
fn kind(result: &RunResult) -> Option<FailureKind> {
    result.failure.as_ref().map(|f| f.kind)
}

/// A scenario whose only script runs a Bash command that takes 30 s unless killed.
fn slow_bash_scenario() -> Result<Scenario> {
    Ok(Scenario::from_json(
        r#"{"scripts": [{"name": "slow", "turns": [
            {"text": "Waiting.", "tool_uses": [{"name": "Bash",
              "input": {"command": "sh -c \"trap '' TERM; exec tail -f /dev/null\" & timeout 30 tail -f /dev/null", "description": "wait"}}],
             "usage": {"input_tokens": 100, "output_tokens": 10}},
            {"text": "Done.", "usage": {"input_tokens": 100, "output_tokens": 10}}
        ]}]}"#,
    )?)
}

#[tokio::test]
async fn a_run_resumed_from_a_checkpoint_on_another_executor_goes_on_where_it_stopped() -> Result<()> {
    // Each response takes a while, as a real model's do: the CLI is always paused before the
    // next one starts, so every tool result gets its checkpoint.
    let model = ScriptedModel::start(Scenario::from_json(
        r#"{"scripts": [{"name": "steps", "match": "Stage: steps", "turns": [
            {"tool_uses": [{"name": "Write", "input": {"file_path": "{cwd}/one.txt", "content": "1\n"}}],
             "usage": {"input_tokens": 100, "output_tokens": 10}, "delay_ms": 300},
            {"tool_uses": [{"name": "Bash", "input": {"command": "echo once >> {cwd}/log.txt", "description": "log"}}],
             "usage": {"input_tokens": 110, "output_tokens": 10}, "delay_ms": 300},
            {"tool_uses": [{"name": "Write", "input": {"file_path": "{cwd}/three.txt", "content": "3\n"}}],
             "usage": {"input_tokens": 120, "output_tokens": 10}, "delay_ms": 300},
            {"text": "All three done.", "usage": {"input_tokens": 130, "output_tokens": 5}, "delay_ms": 300}
        ]}]}"#,
    )?)
    .await?;
    let first = Executor::start(&model, |_| {}).await?;
    let project = project()?;
    let (_, checkpoints, result) =
        finish_with_checkpoints(first.run(request(project.path(), "Stage: steps")).await?).await?;
    assert!(result.succeeded(), "{result:?}");
    let responses: Vec<u32> = checkpoints.iter().map(|c| c.responses).collect();
    assert_eq!(responses, [1, 2, 3], "one checkpoint after each tool result");
    assert!(checkpoints.iter().all(|c| c.session_id == result.session_id));

    // As if the executor had died right after the Bash step: the work tree as the checkpoint
    // holds it, and another executor (its own state directory, a fresh HOME) takes over.
    let at = checkpoints[1].clone();
    ct_git::restore(project.path(), &at.tree)?;
    assert!(!project.path().join("three.txt").exists());
    let before = model.requests().len();
    let second = Executor::start(&model, |_| {}).await?;
    let resumed = RunRequest { resume: Some(at.clone()), ..request(project.path(), "Stage: steps") };
    let (_, _, result) = finish_with_checkpoints(second.run(resumed).await?).await?;

    assert!(result.succeeded(), "{result:?}");
    assert_eq!(result.session_id, at.session_id, "the same conversation went on");
    let requests = &model.requests()[before..];
    // The model saw the two answers it had given, and was told to go on.
    assert_eq!(requests.iter().map(|r| r.turn).collect::<Vec<_>>(), [2, 3], "{requests:?}");
    assert!(requests[0].last_user_text.contains("interrupted"), "{:?}", requests[0].last_user_text);
    assert_eq!(std::fs::read_to_string(project.path().join("log.txt"))?, "once\n", "a step ran twice");
    assert_eq!(std::fs::read_to_string(project.path().join("three.txt"))?, "3\n");
    // What the run changed counts from where it first started.
    let mut changed = result.changes.context("no changes")?.files;
    changed.sort();
    assert_eq!(changed, ["log.txt", "one.txt", "three.txt"]);
    Ok(())
}

#[tokio::test]
async fn a_two_turn_run_writes_a_file_and_reports_what_the_cli_reported() -> Result<()> {
    let model = ScriptedModel::start(Scenario::from_json(
        r#"{"scripts": [{"name": "write", "match": "Stage: write", "turns": [
            {"text": "Creating hello.py.",
             "tool_uses": [{"name": "Write", "input": {"file_path": "{cwd}/src/hello.py",
                            "content": "print('hello')\nprint('bye')\n"}}],
             "usage": {"input_tokens": 1200, "output_tokens": 300,
                       "cache_read_input_tokens": 400, "cache_creation_input_tokens": 50}},
            {"text": "Done.", "usage": {"input_tokens": 1500, "output_tokens": 40}}
        ]}]}"#,
    )?)
    .await?;
    let executor = Executor::start(&model, |_| {}).await?;
    let project = project()?;
    let index = project.path().join(".git/index");
    let index_before = std::fs::read(&index)?;

    let started = Instant::now();
    let stream = executor.run(request(project.path(), "Stage: write a greeting")).await?;
    let (progress, result) = finish(stream).await?;
    eprintln!("2-turn run took {:?} (CLI says {} ms)", started.elapsed(), result.duration_ms);

    assert!(result.succeeded(), "{result:?}");
    assert_eq!(result.failure, None);
    assert_eq!(std::fs::read_to_string(project.path().join("src/hello.py"))?, "print('hello')\nprint('bye')\n");
    assert_eq!((result.exit_code, result.is_error, result.num_turns), (0, false, 2));
    assert_eq!(result.subtype, "success");
    assert_eq!(result.result_text, "Done.");
    let usage = result.usage.context("no usage")?;
    assert_eq!((usage.input, usage.output, usage.cache_read, usage.cache_write), (2700, 340, 400, 50));
    // The CLI prices its default model (claude-opus-5-5) at 4/20/5/0.2 $ per MTok for
    // input/output/cache write/cache read.
    let expected_cost = (2700.0 * 4.0 + 340.0 * 20.0 + 50.0 * 5.0 + 400.0 * 0.2) / 1e6;
    assert!((result.total_cost_usd - expected_cost).abs() < 1e-9, "cost {} != {expected_cost}", result.total_cost_usd);
    assert_eq!(result.model, "claude-opus-5-5");
    assert!(!result.session_id.is_empty());

    let changes = result.changes.context("no changes")?;
    assert_eq!(changes.files, ["src/hello.py"]);
    assert_eq!((changes.lines_added, changes.lines_removed), (2, 0));
    assert_eq!(std::fs::read(&index)?, index_before, "the user's index was modified");
    assert_eq!(git(project.path(), &["status", "--porcelain"])?, "?? src/\n");

    assert!(
        matches!(progress.first(), Some(Progress::Started { session_id, .. }) if *session_id == result.session_id),
        "{progress:?}"
    );
    assert!(progress.iter().any(|p| matches!(p,
        Progress::ToolUse { name, summary } if name == "Write" && summary == "src/hello.py")));
    assert!(progress.contains(&Progress::Text("Creating hello.py.".to_owned())));
    assert_eq!(model.requests().len(), 2);
    assert!(executor.run_processes().is_empty());
    assert_eq!(std::fs::read_dir(executor.state_dir.path())?.count(), 0, "run dir left behind");
    Ok(())
}

#[tokio::test]
async fn refused_credentials_fail_as_auth() -> Result<()> {
    let model = ScriptedModel::start(Scenario::from_json(
        r#"{"scripts": [{"name": "auth", "turns": [
            {"text": "never", "fail_first": {"status": 401, "times": 100}}
        ]}]}"#,
    )?)
    .await?;
    let executor = Executor::start(&model, |_| {}).await?;
    let project = project()?;
    let (_, result) = finish(executor.run(request(project.path(), "anything")).await?).await?;
    assert!(!result.succeeded());
    assert_eq!(kind(&result), Some(FailureKind::Auth), "{result:?}");
    assert_eq!((result.exit_code, result.api_error_status), (1, 401));
    assert!(result.is_error);
    let message = &result.failure.context("no failure")?.message;
    assert!(message.contains("ANTHROPIC_API_KEY"), "{message}");
    Ok(())
}

#[tokio::test]
async fn an_overloaded_model_fails_as_transient_and_the_next_run_succeeds() -> Result<()> {
    let model = ScriptedModel::start(Scenario::from_json(
        r#"{"scripts": [{"name": "busy", "turns": [
            {"text": "Done.", "fail_first": {"status": 529, "times": 1},
             "usage": {"input_tokens": 10, "output_tokens": 5}}
        ]}]}"#,
    )?)
    .await?;
    let executor = Executor::start(&model, |config| config.max_retries = 0).await?;
    let project = project()?;

    let (_, first) = finish(executor.run(request(project.path(), "try")).await?).await?;
    assert_eq!(kind(&first), Some(FailureKind::Transient), "{first:?}");
    assert_eq!((first.exit_code, first.api_error_status), (1, 529));

    let (_, second) = finish(executor.run(request(project.path(), "try")).await?).await?;
    assert!(second.succeeded(), "{second:?}");
    assert_eq!(second.result_text, "Done.");
    Ok(())
}

/// A CLI that prints one endless line (as only a broken or subverted one would): the run ends
/// with a failure naming the limit, and the executor goes on serving other runs meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn an_endless_output_line_ends_that_run_with_the_limit_named_and_others_go_on() -> Result<()> {
    let model = ScriptedModel::start(Scenario::from_json(
        r#"{"scripts": [{"name": "ok", "turns": [{"text": "Fine.", "usage": {"input_tokens": 10, "output_tokens": 5}}]}]}"#,
    )?)
    .await?;
    let bin_dir = tempfile::tempdir()?;
    let endless = bin_dir.path().join("claude");
    std::fs::write(&endless, "#!/bin/sh\ntr '\\0' x < /dev/zero\n")?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&endless, std::fs::Permissions::from_mode(0o755))?;
    let broken = Executor::start(&model, |config| config.claude_bin = endless.clone()).await?;
    let healthy = Executor::start(&model, |_| {}).await?;
    let project = project()?;

    let overflowing = broken.run(request(project.path(), "print forever")).await?;
    let meanwhile = healthy.run(request(project.path(), "answer")).await?;
    let (overflowed, served) =
        tokio::join!(tokio::time::timeout(Duration::from_secs(60), finish(overflowing)), finish(meanwhile));
    let overflowed = overflowed.context("the endless line did not end the run")??.1;
    assert!(!overflowed.succeeded());
    assert_eq!(kind(&overflowed), Some(FailureKind::Agent), "{overflowed:?}");
    let message = &overflowed.failure.context("no failure")?.message;
    assert!(message.contains("more than 16777216 bytes"), "{message}");
    assert!(served?.1.succeeded(), "the other run failed");
    wait_until(Duration::from_secs(5), "the endless writer is gone", || broken.run_processes().is_empty()).await?;
    Ok(())
}

#[tokio::test]
async fn a_missing_cli_fails_the_stage_at_once_with_the_install_hint() -> Result<()> {
    let model = ScriptedModel::start(Scenario::from_json(r#"{"scripts": []}"#)?).await?;
    let executor = Executor::start(&model, |config| {
        config.claude_bin = PathBuf::from("/nonexistent/bin/claude");
    })
    .await?;
    let project = project()?;
    let err = executor.run(request(project.path(), "anything")).await.err().context("the run started without a CLI")?;
    assert_eq!(err.failure_type(), AGENT_UNAVAILABLE);
    let message = err.to_string();
    assert!(message.contains("npm install -g @anthropic-ai/claude-code@2.1.331"), "{message}");
    assert!(message.contains("/nonexistent/bin/claude"));
    Ok(())
}

#[tokio::test]
async fn a_directory_outside_git_is_an_invalid_project_with_the_git_init_hint() -> Result<()> {
    let model = ScriptedModel::start(Scenario::from_json(r#"{"scripts": []}"#)?).await?;
    let executor = Executor::start(&model, |_| {}).await?;
    let plain = tempfile::tempdir()?;
    let err = executor.run(request(plain.path(), "anything")).await.err().context("the run started outside git")?;
    assert_eq!(err.failure_type(), INVALID_PROJECT);
    assert!(err.to_string().contains("git init"), "{err}");

    let missing = plain.path().join("missing");
    let err =
        executor.run(request(&missing, "anything")).await.err().context("the run started in a missing directory")?;
    assert_eq!(err.failure_type(), INVALID_PROJECT);
    Ok(())
}

#[tokio::test]
async fn a_project_outside_the_workspace_roots_is_refused_before_any_agent_starts() -> Result<()> {
    let model = ScriptedModel::start(slow_bash_scenario()?).await?;
    let root = tempfile::tempdir()?;
    let inside = tempfile::tempdir_in(root.path())?;
    let executor = Executor::start(&model, |config| {
        config.roots = ct_fleet::WorkspaceRoots::new([root.path().to_path_buf()]).expect("root");
    })
    .await?;
    let outside = project()?;
    std::os::unix::fs::symlink(outside.path(), inside.path().join("link"))?;
    for refused in [outside.path().to_path_buf(), inside.path().join("link")] {
        let err = executor
            .run(request(&refused, "wait"))
            .await
            .err()
            .with_context(|| format!("a run started in {}", refused.display()))?;
        assert_eq!(err.failure_type(), NOT_ALLOWED, "{err}");
        assert!(err.to_string().contains("outside this service's workspace roots"), "{err}");
    }
    assert!(model.requests().is_empty(), "no agent may reach the model");
    assert!(executor.run_processes().is_empty());
    Ok(())
}

#[tokio::test]
async fn stopping_a_run_kills_every_process_of_the_run() -> Result<()> {
    let model = ScriptedModel::start(slow_bash_scenario()?).await?;
    let executor = Executor::start(&model, |_| {}).await?;
    let project = project()?;
    let mut run = executor.run(request(project.path(), "wait")).await?;

    // Wait until the Bash tool's command runs; it lives in a session of its own.
    while let Some(event) = run.events.recv().await {
        if let RunEvent::Progress(Progress::ToolUse { summary, .. }) = event {
            assert!(summary.ends_with("timeout 30 tail -f /dev/null"), "{summary}");
            break;
        }
    }
    wait_until(Duration::from_secs(10), "the Bash command starts", || {
        executor.run_processes().iter().any(|(_, cmd)| cmd.starts_with("tail -f /dev/null"))
    })
    .await?;
    let before = executor.run_processes();
    assert!(before.len() >= 3, "expected CLI, shell and tool processes: {before:?}");

    let stopping = Instant::now();
    run.stop().await;
    let took = stopping.elapsed();
    // Killed processes of a PID namespace are reaped by its init, a moment after the kill.
    wait_until(Duration::from_secs(2), "every process of the run is gone", || executor.run_processes().is_empty())
        .await
        .with_context(|| format!("processes alive after stop: {:?}", executor.run_processes()))?;
    eprintln!("{} processes gone {took:?} after the run was stopped", before.len());
    wait_until(Duration::from_secs(3), "the run directory is removed", || {
        std::fs::read_dir(executor.state_dir.path()).is_ok_and(|d| d.count() == 0)
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_run_over_its_time_limit_is_killed_and_fails_as_timeout() -> Result<()> {
    let model = ScriptedModel::start(slow_bash_scenario()?).await?;
    let executor = Executor::start(&model, |_| {}).await?;
    let project = project()?;
    let started = Instant::now();
    let run = executor
        .run(RunRequest {
            // Long enough for the CLI to start and announce its session with nine other runs
            // starting beside it on two cores.
            timeout_ms: 5000,
            ..request(project.path(), "wait")
        })
        .await?;
    let (progress, result) = finish(run).await?;
    let took = started.elapsed();
    eprintln!("timed-out run returned after {took:?}");

    assert_eq!(kind(&result), Some(FailureKind::Timeout), "{result:?}");
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(8), "{took:?}");
    assert_eq!(result.exit_code, 128 + 9, "killed by SIGKILL");
    assert!(!result.session_id.is_empty(), "what was parsed is kept");
    assert!(!progress.is_empty());
    assert!(executor.run_processes().is_empty(), "{:?}", executor.run_processes());
    Ok(())
}

#[tokio::test]
async fn running_out_of_turns_fails_as_max_turns() -> Result<()> {
    let model = ScriptedModel::start(Scenario::from_json(
        r#"{"scripts": [{"name": "long", "turns": [
            {"tool_uses": [{"name": "Write", "input": {"file_path": "{cwd}/a.txt", "content": "a\n"}}]},
            {"tool_uses": [{"name": "Write", "input": {"file_path": "{cwd}/b.txt", "content": "b\n"}}]},
            {"text": "Done."}
        ]}]}"#,
    )?)
    .await?;
    let executor = Executor::start(&model, |_| {}).await?;
    let project = project()?;
    let run = executor.run(RunRequest { max_turns: 1, ..request(project.path(), "write two files") }).await?;
    let (_, result) = finish(run).await?;
    assert_eq!(kind(&result), Some(FailureKind::MaxTurns), "{result:?}");
    assert_eq!(result.subtype, "error_max_turns");
    assert_eq!(result.changes.context("no changes")?.files, ["a.txt"]);
    Ok(())
}

#[tokio::test]
async fn an_unreachable_model_fails_as_transient() -> Result<()> {
    let model = ScriptedModel::start(Scenario::from_json(r#"{"scripts": []}"#)?).await?;
    // A port that was just free: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let executor = Executor::start(&model, |config| {
        config.max_retries = 0;
        config.extra_env[0].1 = format!("http://{closed}");
    })
    .await?;
    let project = project()?;
    let (_, result) = finish(executor.run(request(project.path(), "anything")).await?).await?;
    assert_eq!(kind(&result), Some(FailureKind::Transient), "{result:?}");
    if result.confinement.starts_with("bwrap") {
        // The relay answers for the endpoint it cannot reach.
        assert_eq!(result.api_error_status, 502, "{result:?}");
    } else {
        assert_eq!(result.api_error_status, 0);
    }
    assert!(model.requests().is_empty());
    Ok(())
}

/// Whether this kernel confines runs; tests of what confinement refuses say so and skip where
/// it does not.
fn confined() -> bool {
    let confined = ct_confine::Sandbox::auto().confinement().is_confined();
    if !confined {
        ct_confine::skip::skip_test("this kernel has no Landlock: nothing is refused, so nothing to check");
    }
    confined
}

#[tokio::test]
async fn writes_outside_the_worktree_are_refused_and_the_result_names_each() -> Result<()> {
    if !confined() {
        return Ok(());
    }
    let outside = tempfile::tempdir()?;
    let out = outside.path().display().to_string();
    let scenario = format!(
        r#"{{"scripts": [{{"name": "escape", "turns": [
            {{"text": "absolute", "tool_uses": [{{"name": "Write",
               "input": {{"file_path": "{out}/absolute.txt", "content": "x"}}}}]}},
            {{"text": "shell", "tool_uses": [{{"name": "Bash",
               "input": {{"command": "echo x > {out}/shell.txt", "description": "w"}}}}]}},
            {{"text": "traversal", "tool_uses": [{{"name": "Bash",
               "input": {{"command": "echo x > ../up-{name}.txt", "description": "w"}}}}]}},
            {{"text": "symlink", "tool_uses": [{{"name": "Write",
               "input": {{"file_path": "{{cwd}}/link/via-link.txt", "content": "x"}}}}]}},
            {{"text": "inside", "tool_uses": [{{"name": "Write",
               "input": {{"file_path": "{{cwd}}/inside.txt", "content": "mine\n"}}}}]}},
            {{"text": "Done."}}
        ]}}]}}"#,
        name = outside.path().file_name().and_then(|n| n.to_str()).unwrap_or("x"),
    );
    let model = ScriptedModel::start(Scenario::from_json(&scenario)?).await?;
    let executor = Executor::start(&model, |_| {}).await?;
    let project = project()?;
    std::os::unix::fs::symlink(outside.path(), project.path().join("link"))?;
    let up = project
        .path()
        .parent()
        .context("the project has a parent")?
        .join(format!("up-{}.txt", outside.path().file_name().and_then(|n| n.to_str()).unwrap_or("x")));

    let (_, result) = finish(executor.run(request(project.path(), "escape")).await?).await?;

    assert!(result.confinement.contains("landlock-v"), "{}", result.confinement);
    assert_eq!(std::fs::read_to_string(project.path().join("inside.txt"))?, "mine\n");
    for escaped in ["absolute.txt", "shell.txt", "via-link.txt"] {
        assert!(!outside.path().join(escaped).exists(), "{escaped} was written outside the worktree");
    }
    assert!(!up.exists(), "{} was written through ../", up.display());
    let refused: Vec<(&str, &str)> = result.refused.iter().map(|r| (r.tool.as_str(), r.target.as_str())).collect();
    let traversal =
        format!("echo x > {}", up.file_name().and_then(|n| n.to_str()).map(|n| format!("../{n}")).unwrap_or_default());
    let (absolute, shell) = (format!("{out}/absolute.txt"), format!("echo x > {out}/shell.txt"));
    // In namespaces the outside directory does not exist at all, and `/tmp` (where it and the
    // project's parent are) is the run's own tmpfs: those writes land there and vanish with the
    // run; none is a refusal, and none reached the machine (checked above).
    let expected: Vec<(&str, &str)> = if result.confinement.starts_with("bwrap") {
        Vec::new()
    } else {
        vec![("Write", &absolute), ("Bash", &shell), ("Bash", &traversal), ("Write", "link/via-link.txt")]
    };
    assert_eq!(refused, expected, "{:#?}", result.refused);
    assert!(
        result.refused.iter().all(|r| r.error.to_lowercase().contains("permission denied")),
        "{:#?}",
        result.refused
    );
    Ok(())
}

#[tokio::test]
async fn the_agent_sees_none_of_the_executors_environment_and_its_key_never_leaves_the_run() -> Result<()> {
    const KEY: &str = "sk-ant-api03-scripted-key-0123456789";
    // What the executor keeps from its runs; the test process stands in for it.
    ct_confine::protect_service();
    let me = std::process::id();
    let transcripts = tempfile::tempdir()?;
    let scenario = format!(
        r#"{{"scripts": [{{"name": "snoop", "turns": [
            {{"text": "Looking around.", "tool_uses": [{{"name": "Bash",
               "input": {{"command": "env | sort; echo ---; tr '\\0' '\\n' < /proc/{me}/environ; echo ---", "description": "env"}}}}]}},
            {{"text": "My key is {KEY}, see Authorization: Bearer {KEY}"}}
        ]}}]}}"#
    );
    let model = ScriptedModel::start(Scenario::from_json(&scenario)?).await?;
    let executor = Executor::start(&model, |config| {
        config.extra_env =
            vec![("ANTHROPIC_BASE_URL".to_owned(), model.base_url()), ("ANTHROPIC_API_KEY".to_owned(), KEY.to_owned())];
        config.transcript_dir = Some(transcripts.path().to_path_buf());
    })
    .await?;
    let project = project()?;

    let (progress, result) = finish(executor.run(request(project.path(), "snoop")).await?).await?;

    assert!(result.succeeded(), "{result:?}");
    let requests = model.requests();
    let seen = &requests.last().context("the model was asked twice")?.last_user_text;
    let mut sections = seen.split("---");
    let agent_env: Vec<(&str, &str)> =
        sections.next().unwrap_or_default().lines().filter_map(|line| line.split_once('=')).collect();
    assert!(agent_env.iter().any(|(name, _)| *name == "PATH"), "the agent's env ran: {seen}");
    // Whatever the agent has of the executor's own environment must be on the allow-list (or
    // be what its shell sets for itself).
    let passed_on = |name: &str| {
        ["PATH", "LANG", "IS_SANDBOX"].contains(&name)
            || ct_confine::NETWORK_ENV.contains(&name)
            || ["SHELL", "SHLVL", "PWD", "OLDPWD", "_"].contains(&name)
            || name.starts_with("LC_")
            || name.starts_with("ANTHROPIC_")
            || name.starts_with("CLAUDE_CODE_")
    };
    let leaked: Vec<&(&str, &str)> = agent_env
        .iter()
        .filter(|(name, value)| !passed_on(name) && std::env::var(name).is_ok_and(|mine| mine == *value))
        .collect();
    assert!(leaked.is_empty(), "the agent sees the executor's {leaked:?}");
    let service_environ = sections.next().unwrap_or_default();
    assert!(!service_environ.contains("PATH="), "the executor's environ was readable: {service_environ}");

    let shown: Vec<String> = progress.iter().map(|p| format!("{p:?}")).collect();
    let transcript: String = std::fs::read_dir(transcripts.path())?
        .map(|entry| std::fs::read_to_string(entry?.path()))
        .collect::<std::io::Result<_>>()?;
    for (what, text) in [("progress", shown.join("\n")), ("result", format!("{result:?}")), ("transcript", transcript)]
    {
        assert!(!text.contains(KEY), "the key is in the {what}: {text}");
    }
    assert!(result.result_text.contains("[REDACTED]"), "{}", result.result_text);
    for (path, mode) in [
        (transcripts.path().to_path_buf(), 0o700),
        (std::fs::read_dir(transcripts.path())?.next().context("a transcript")??.path(), 0o600),
    ] {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, mode, "{}", path.display());
    }
    Ok(())
}

#[tokio::test]
async fn with_the_network_policy_the_agent_reaches_its_model_and_nothing_else() -> Result<()> {
    let sandbox = match ct_confine::Sandbox::new(ct_confine::Mode::Auto, true) {
        Ok(sandbox) => sandbox,
        Err(err) => {
            eprintln!("no network rules to check: {err}");
            return Ok(());
        }
    };
    let elsewhere = TcpListener::bind("127.0.0.1:0").await?;
    let port = elsewhere.local_addr()?.port();
    let scenario = format!(
        r#"{{"scripts": [{{"name": "net", "turns": [
            {{"text": "Calling out.", "tool_uses": [{{"name": "Bash", "input": {{"description": "connect",
               "command": "(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo REACHED || echo REFUSED"}}}}]}},
            {{"text": "Done."}}
        ]}}]}}"#
    );
    let model = ScriptedModel::start(Scenario::from_json(&scenario)?).await?;
    let executor = Executor::start(&model, |config| {
        config.sandbox = sandbox;
        config.connect_ports = Some(ct_executor::model_ports([("ANTHROPIC_BASE_URL", model.base_url().as_str())]));
    })
    .await?;
    let project = project()?;

    let (_, result) = finish(executor.run(request(project.path(), "net")).await?).await?;

    assert!(result.succeeded(), "the model stays reachable: {result:?}");
    let requests = model.requests();
    let seen = &requests.last().context("the model was asked twice")?.last_user_text;
    assert!(seen.contains("REFUSED") && !seen.contains("REACHED"), "{seen}");
    Ok(())
}

/// Whether runs get namespaces of their own here (bubblewrap); tests of what only they refuse
/// say so and skip where they do not.
fn namespaces() -> bool {
    let sandbox = ct_confine::Sandbox::auto();
    if !sandbox.has_namespaces() {
        ct_confine::skip::skip_test(&format!("no namespaces for runs here: {}", sandbox.describe()));
    }
    sandbox.has_namespaces()
}

#[tokio::test]
async fn an_agent_in_its_namespaces_changes_its_worktree_and_nothing_else_it_plants_or_reads() -> Result<()> {
    if !namespaces() {
        return Ok(());
    }
    const KEY: &str = "sk-ant-api03-real-key-never-inside-0123456789";
    let witness = tempfile::tempdir()?;
    let ran_path = witness.path().join("ran");
    let ran = ran_path.display();
    let home = tempfile::tempdir()?;
    std::fs::create_dir_all(home.path().join(".ssh"))?;
    let secret = home.path().join(".ssh/id_ed25519");
    std::fs::write(&secret, "PRIVATE-KEY-OF-THE-EXECUTOR-USER")?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let plant = [
        format!("git config core.fsmonitor 'touch {ran}'"),
        format!("git config filter.x.clean 'touch {ran}'"),
        format!("git config diff.external 'touch {ran}'"),
        format!("git config diff.x.textconv 'touch {ran}'"),
        "git config core.worktree /".to_owned(),
        format!("printf '#!/bin/sh\\ntouch {ran}\\n' > .git/hooks/pre-commit"),
        format!("printf '#!/bin/sh\\ntouch {ran}\\n' > .git/hooks/reference-transaction"),
        "echo '* filter=x diff=x' > .gitattributes".to_owned(),
        "echo changed > README.md".to_owned(),
    ]
    .join("; ");
    let snoop = format!(
        "cat {secret} 2>&1; ls {home} 2>&1; (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo LISTENER-REACHED; \
         env | grep -E 'ANTHROPIC|TOKEN'",
        secret = secret.display(),
        home = home.path().display(),
    );
    let scenario = serde_json::json!({"scripts": [{"name": "hostile", "turns": [
        {"text": "Planting.", "tool_uses": [{"name": "Bash", "input": {"description": "plant", "command": plant}}]},
        {"text": "Looking.", "tool_uses": [{"name": "Bash", "input": {"description": "snoop", "command": snoop}}]},
        {"text": "Done."}
    ]}]});
    let model = ScriptedModel::start(Scenario::from_json(&scenario.to_string())?).await?;
    let executor = Executor::start(&model, |config| {
        config.extra_env =
            vec![("ANTHROPIC_BASE_URL".to_owned(), model.base_url()), ("ANTHROPIC_API_KEY".to_owned(), KEY.to_owned())];
    })
    .await?;
    let project = project()?;
    let config_before = std::fs::read(project.path().join(".git/config"))?;
    let hooks_before = std::fs::read_dir(project.path().join(".git/hooks"))?.count();

    let (_, result) = finish(executor.run(request(project.path(), "hostile")).await?).await?;

    assert!(result.succeeded(), "{result:?}");
    assert!(result.confinement.starts_with("bwrap+"), "{}", result.confinement);
    assert_eq!(std::fs::read(project.path().join(".git/config"))?, config_before, "the agent changed .git/config");
    assert_eq!(std::fs::read_dir(project.path().join(".git/hooks"))?.count(), hooks_before, "the agent planted a hook");
    let mut changed = result.changes.context("changes were measured")?.files;
    changed.sort();
    assert_eq!(changed, [".gitattributes", "README.md"]);
    git(project.path(), &["status", "--porcelain"])?;
    assert!(!ran_path.exists(), "a planted command ran");
    let requests = model.requests();
    let planted = &requests[1].last_user_text;
    assert!(planted.contains("Read-only file system"), "{planted}");
    let seen = &requests.last().context("the model was asked three times")?.last_user_text;
    assert!(!seen.contains("PRIVATE-KEY") && !seen.contains("LISTENER-REACHED") && !seen.contains(KEY), "{seen}");
    assert!(seen.contains("ANTHROPIC_API_KEY=sk-ant-sandbox-placeholder"), "{seen}");
    assert!(requests.iter().all(|r| r.api_key.as_deref() == Some(KEY)), "the relay adds the real key on the way out");
    Ok(())
}

#[tokio::test]
async fn a_repository_s_claude_settings_cannot_move_the_agent_to_another_endpoint() -> Result<()> {
    let elsewhere = TcpListener::bind("127.0.0.1:0").await?;
    let model = ScriptedModel::start(Scenario::from_json(
        r#"{"scripts": [{"name": "hello", "turns": [{"text": "Hello."}]}]}"#,
    )?)
    .await?;
    let executor = Executor::start(&model, |_| {}).await?;
    let project = project()?;
    std::fs::create_dir_all(project.path().join(".claude"))?;
    let settings = serde_json::json!({"env": {"ANTHROPIC_BASE_URL": format!("http://{}", elsewhere.local_addr()?)}});
    std::fs::write(project.path().join(".claude/settings.json"), settings.to_string())?;

    let (_, result) = finish(executor.run(request(project.path(), "hello")).await?).await?;

    assert!(result.succeeded(), "{result:?}");
    assert_eq!(model.requests().len(), 1);
    // The run is over: a request sent elsewhere would be waiting to be accepted now.
    let stolen = tokio::time::timeout(std::time::Duration::from_millis(50), elsewhere.accept()).await;
    assert!(stolen.is_err(), "the repository's settings sent the agent elsewhere");
    Ok(())
}

#[tokio::test]
async fn an_agent_reaches_allowed_hosts_through_the_egress_proxy_and_refusals_are_reported() -> Result<()> {
    if !namespaces() {
        return Ok(());
    }
    let allowed = TcpListener::bind("127.0.0.1:0").await?;
    let allowed_port = allowed.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = allowed.accept().await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request).await;
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: close\r\n\r\nallowed-and-seen")
                .await;
        }
    });
    let refused_port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    // curl tunnels through $HTTPS_PROXY with CONNECT (--proxytunnel), as https clients do; the
    // run's NO_PROXY names 127.0.0.1 (for the relay), which --noproxy sets aside here.
    let command = format!(
        "curl -s --max-time 5 --noproxy '' --proxytunnel -x \"$HTTPS_PROXY\" http://127.0.0.1:{allowed_port}/; echo; \
         curl -s --max-time 5 --noproxy '' --proxytunnel -x \"$HTTPS_PROXY\" http://127.0.0.1:{refused_port}/ || echo REFUSED-BY-PROXY"
    );
    let scenario = serde_json::json!({"scripts": [{"name": "egress", "turns": [
        {"text": "Fetching.", "tool_uses": [{"name": "Bash", "input": {"description": "fetch", "command": command}}]},
        {"text": "Done."}
    ]}]});
    let model = ScriptedModel::start(Scenario::from_json(&scenario.to_string())?).await?;
    let executor = Executor::start(&model, |config| {
        // An address, listed as such: names that resolve to this machine stay refused.
        config.allow_hosts =
            std::sync::Arc::new(ct_confine::AllowList::parse(&[format!("127.0.0.1:{allowed_port}")]).unwrap());
    })
    .await?;
    let project = project()?;

    let (_, result) = finish(executor.run(request(project.path(), "egress")).await?).await?;

    assert!(result.succeeded(), "{result:?}");
    let requests = model.requests();
    let seen = &requests.last().context("the model was asked twice")?.last_user_text;
    assert!(seen.contains("allowed-and-seen") && seen.contains("REFUSED-BY-PROXY"), "{seen}");
    let network: Vec<(&str, &str)> = result.refused.iter().map(|r| (r.tool.as_str(), r.target.as_str())).collect();
    assert_eq!(network, [("network", format!("127.0.0.1:{refused_port}").as_str())]);
    Ok(())
}
