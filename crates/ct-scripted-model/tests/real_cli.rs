//! The real Claude Code CLI against the scripted model: its tools really run, and what it
//! reports (turns, tokens, errors) is what the scenario says.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, ensure};
use ct_scripted_model::{Scenario, ScriptedModel, Usage};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The workspace root, where `examples/` and the pinned tools (`.tools/`) live.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tool from `$env_var`, else from the workspace's pinned install, else from PATH; never a
/// silent skip, since these tests exist to exercise the real thing.
fn tool(env_var: &str, pinned: &str, name: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env_var) {
        return bin.into();
    }
    let pinned = workspace().join(pinned);
    if pinned.is_file() {
        return pinned;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|bin| bin.is_file())
        .unwrap_or_else(|| {
            panic!("{name} not found ({env_var}, {}, PATH): run scripts/install-tools.sh", pinned.display())
        })
}

fn claude_bin() -> PathBuf {
    tool("CLAUDE_BIN", ".tools/npm/node_modules/.bin/claude", "claude")
}

/// A git repository to run the CLI in, next to a private HOME/TMPDIR.
struct Sandbox {
    _dir: TempDir,
    home: PathBuf,
    repo: PathBuf,
}

impl Sandbox {
    /// An empty repository, or one holding a copy of `project`.
    fn new(project: Option<&Path>) -> anyhow::Result<Sandbox> {
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("home");
        let repo = dir.path().join("repo");
        std::fs::create_dir(&home)?;
        match project {
            Some(project) => copy_dir(project, &repo)?,
            None => std::fs::create_dir(&repo)?,
        }
        let status = std::process::Command::new("git")
            .args(["init", "-q"])
            .current_dir(&repo)
            .status()
            .context("running git init")?;
        ensure!(status.success(), "git init failed in {}", repo.display());
        Ok(Sandbox { _dir: dir, home, repo })
    }
}

struct Run {
    exit_code: Option<i32>,
    /// The `system` line with subtype `init`.
    init: Value,
    /// Subtypes of the other `system` lines (`api_retry`, ...).
    notices: Vec<String>,
    /// The final `result` line.
    result: Value,
}

async fn run_claude(model: &ScriptedModel, sandbox: &Sandbox, prompt: &str, max_retries: u32) -> anyhow::Result<Run> {
    let child = tokio::process::Command::new(claude_bin())
        .args(["-p", prompt, "--output-format", "stream-json", "--verbose"])
        .args(["--max-turns", "5", "--permission-mode", "bypassPermissions"])
        .current_dir(&sandbox.repo)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &sandbox.home)
        .env("TMPDIR", &sandbox.home)
        .env("ANTHROPIC_BASE_URL", model.base_url())
        .env("ANTHROPIC_API_KEY", "test-key")
        .env("DISABLE_TELEMETRY", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        // bypassPermissions is refused to root outside a sandbox.
        .env("IS_SANDBOX", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", max_retries.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the Claude Code CLI")?;
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .context("the CLI did not finish within 120 s")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("stream-json output is not JSON lines:\n{stdout}"))?;
    let find = |kind: &str, subtype: Option<&str>| {
        lines
            .iter()
            .find(|l| l["type"] == kind && subtype.is_none_or(|s| l["subtype"] == s))
            .cloned()
            .with_context(|| format!("no {kind:?} line; stdout:\n{stdout}\nstderr:\n{stderr}"))
    };
    Ok(Run {
        exit_code: output.status.code(),
        init: find("system", Some("init"))?,
        notices: lines
            .iter()
            .filter(|l| l["type"] == "system" && l["subtype"] != "init")
            .map(|l| l["subtype"].as_str().unwrap_or_default().to_owned())
            .collect(),
        result: find("result", None)?,
    })
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn scenario(value: Value) -> Scenario {
    Scenario::from_json(&value.to_string()).expect("test scenario is valid")
}

#[tokio::test(flavor = "multi_thread")]
async fn write_runs_and_the_cli_sums_usage_over_turns() -> anyhow::Result<()> {
    let model = ScriptedModel::start(scenario(json!({"scripts": [{
        "name": "scaffold",
        "match": "Stage: scaffold",
        "turns": [
            {"text": "Creating the package.",
             "tool_uses": [{"name": "Write", "input": {
                 "file_path": "{cwd}/pkg/__init__.py", "content": "__version__ = \"0.1.0\"\n"}}],
             "usage": {"input_tokens": 1200, "output_tokens": 300,
                       "cache_read_input_tokens": 800, "cache_creation_input_tokens": 150}},
            {"text": "Done.",
             "usage": {"input_tokens": 1500, "output_tokens": 40,
                       "cache_read_input_tokens": 950, "cache_creation_input_tokens": 25}}
        ]
    }]})))
    .await?;
    let sandbox = Sandbox::new(None)?;

    let run = run_claude(&model, &sandbox, "Stage: scaffold\nCreate the package.", 0).await?;

    assert_eq!(std::fs::read_to_string(sandbox.repo.join("pkg/__init__.py"))?, "__version__ = \"0.1.0\"\n");
    let result = &run.result;
    assert_eq!(run.exit_code, Some(0), "{result}");
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["result"], "Done.");
    // num_turns is not the number of API requests: it counts the prompt and each tool
    // result. One Write gives 2; an answer with two tool uses gives 3 for the same two
    // requests (and --max-turns 2 still lets that run finish).
    assert_eq!(result["num_turns"], 2);
    // The CLI adds up each request's usage: input and cache tokens as sent in
    // message_start, output tokens as sent in message_delta (the final count replaces the
    // placeholder in message_start instead of adding to it): 1200+1500, 300+40, 800+950,
    // 150+25.
    let usage = &result["usage"];
    assert_eq!(usage["input_tokens"], 2700);
    assert_eq!(usage["output_tokens"], 340);
    assert_eq!(usage["cache_read_input_tokens"], 1750);
    assert_eq!(usage["cache_creation_input_tokens"], 175);

    let requests = model.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests.iter().map(|r| r.turn).collect::<Vec<_>>(), [0, 1]);
    assert!(requests.iter().all(|r| r.script.as_deref() == Some("scaffold")));
    assert!(requests[0].first_user_text.ends_with("Stage: scaffold\nCreate the package."));
    assert!(requests[1].last_user_text.contains("File created successfully"), "{requests:#?}");
    assert!(!requests[0].system.is_empty());
    assert_eq!(requests[0].model, run.init["model"].as_str().unwrap_or_default());
    model.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bash_runs_in_the_working_directory() -> anyhow::Result<()> {
    let model = ScriptedModel::start(scenario(json!({"scripts": [{
        "name": "shell",
        "turns": [
            {"tool_uses": [{"name": "Bash", "input": {
                 "command": "echo hi > {cwd}/x.txt", "description": "Write hi to x.txt"}}],
             "usage": {"input_tokens": 900, "output_tokens": 60}},
            {"text": "Wrote x.txt.", "usage": {"input_tokens": 1000, "output_tokens": 10}}
        ]
    }]})))
    .await?;
    let sandbox = Sandbox::new(None)?;

    let run = run_claude(&model, &sandbox, "Stage: scaffold\nSay hi in x.txt.", 0).await?;

    assert_eq!(run.exit_code, Some(0), "{}", run.result);
    assert_eq!(run.result["is_error"], false);
    assert_eq!(std::fs::read_to_string(sandbox.repo.join("x.txt"))?, "hi\n");
    model.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_failure_makes_the_cli_exit_1_with_status_401() -> anyhow::Result<()> {
    let model = ScriptedModel::start(scenario(json!({"scripts": [{
        "name": "unauthorised",
        "turns": [{"text": "never sent", "fail_first": {"status": 401, "times": 1000}}]
    }]})))
    .await?;
    let sandbox = Sandbox::new(None)?;

    let run = run_claude(&model, &sandbox, "Stage: scaffold\nAnything.", 0).await?;

    assert_eq!(run.exit_code, Some(1), "{}", run.result);
    assert_eq!(run.result["is_error"], true);
    assert_eq!(run.result["api_error_status"], 401);
    assert_eq!(model.requests().len(), 1, "an auth failure is not retried");
    model.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn overload_is_retried_by_the_cli_then_answered() -> anyhow::Result<()> {
    let model = ScriptedModel::start(scenario(json!({"scripts": [{
        "name": "busy",
        "turns": [{"text": "Answered after a retry.",
                   "fail_first": {"status": 529, "times": 1},
                   "usage": {"input_tokens": 10, "output_tokens": 2}}]
    }]})))
    .await?;
    let sandbox = Sandbox::new(None)?;

    let run = run_claude(&model, &sandbox, "Stage: scaffold\nAnything.", 1).await?;

    assert_eq!(run.exit_code, Some(0), "{}", run.result);
    assert_eq!(run.result["is_error"], false);
    assert_eq!(run.result["result"], "Answered after a retry.");
    assert_eq!(run.notices, ["api_retry"]);
    assert_eq!(model.requests().len(), 2);
    model.shutdown().await;
    Ok(())
}

/// The demo's scenario builds the example project up stage by stage: after each stage the
/// project's own tests pass and the CLI reports exactly the scenario's token counts.
#[tokio::test(flavor = "multi_thread")]
async fn develop_textstats_builds_a_passing_project_stage_by_stage() -> anyhow::Result<()> {
    let scenario = Scenario::from_file(&workspace().join("examples/scenarios/develop-textstats.json"))?;
    let stages: Vec<_> = scenario.scripts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stages, ["scaffold", "core-implementation", "streaming", "error-handling", "testing", "documentation"]);
    let model = ScriptedModel::start(scenario.clone()).await?;
    let sandbox = Sandbox::new(Some(&workspace().join("examples/textstats")))?;
    let pytest = tool("PYTEST_BIN", ".tools/venv/bin/pytest", "pytest");

    for script in &scenario.scripts {
        let stage = &script.name;
        let prompt = format!("Stage: {stage}\nDevelop the textstats library.");
        let run = run_claude(&model, &sandbox, &prompt, 0).await?;
        assert_eq!(run.result["is_error"], false, "{stage}: {}", run.result);
        let tool_uses: usize = script.turns.iter().map(|t| t.tool_uses.len()).sum();
        assert_eq!(run.result["num_turns"], 1 + tool_uses, "{stage}");
        let total = |field: fn(&Usage) -> u64| -> u64 { script.turns.iter().map(|t| field(&t.usage)).sum() };
        let usage = &run.result["usage"];
        assert_eq!(usage["input_tokens"], total(|u| u.input_tokens), "{stage}");
        assert_eq!(usage["output_tokens"], total(|u| u.output_tokens), "{stage}");
        assert_eq!(usage["cache_read_input_tokens"], total(|u| u.cache_read_input_tokens), "{stage}");
        assert_eq!(usage["cache_creation_input_tokens"], total(|u| u.cache_creation_input_tokens), "{stage}");

        let tests = std::process::Command::new(&pytest)
            .current_dir(&sandbox.repo)
            .output()
            .with_context(|| format!("running {}", pytest.display()))?;
        assert!(
            tests.status.success(),
            "{stage}: the project's tests fail:\n{}{}",
            String::from_utf8_lossy(&tests.stdout),
            String::from_utf8_lossy(&tests.stderr)
        );
    }
    model.shutdown().await;
    Ok(())
}
