//! `cargo xtask demo`: the whole product on this machine, with a scripted model so it costs
//! nothing and always tells the same story.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use ct_domain::WorkflowStatus;
use serde_json::Value;

use crate::workspace::{self, Workspace};

const SCENARIO: &str = "examples/scenarios/develop-textstats.json";
const PROJECT: &str = "examples/textstats";
const FEATURES: [&str; 2] = ["word counts", "streaming counts"];
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Status queries fail until the worker has picked the workflow up.
const STATUS_PATIENCE: Duration = Duration::from_secs(60);
const WORKFLOW_PATIENCE: Duration = Duration::from_secs(15 * 60);

pub(crate) fn run() -> anyhow::Result<ExitCode> {
    let ws = workspace::prepare()?;
    let cli = Cli { ws: &ws, binary: ws.bin_dir().join("claude-temporal"), env: Vec::new() };

    eprintln!("xtask: starting the local stack (scripted model: {SCENARIO})");
    let stack = cli.json(&["dev", "up", "--scripted-model", SCENARIO, "--json"])?;
    let field = |name: &str| {
        stack[name].as_str().map(str::to_owned).with_context(|| format!("dev up --json printed no {name}"))
    };
    // Whatever ports the stack runs on, the other commands talk to it.
    let cli = Cli {
        env: vec![
            ("TEMPORAL_ADDRESS", field("temporal_address")?),
            ("TEMPORAL_UI_BASE_URL", field("temporal_ui_url")?),
        ],
        ..cli
    };

    let project = copy_project(&ws.root.join(PROJECT))?;
    eprintln!("xtask: project copy with its own git repository at {}", project.display());
    let project_arg = project.to_string_lossy().into_owned();
    let mut start_args = vec!["start", project_arg.as_str(), "--features"];
    start_args.extend(FEATURES);
    start_args.push("--json");
    let started = cli.json(&start_args)?;
    let id = started["workflow_id"].as_str().context("start --json printed no workflow_id")?.to_owned();
    let ui_url = started["ui_url"].as_str().unwrap_or_default().to_owned();
    eprintln!("xtask: started workflow {id}\nxtask: follow it in the Temporal Web UI: {ui_url}");

    let status = follow(&cli, &id)?;
    eprintln!("xtask: workflow {id} ended: {}", label(&status.state));

    let result = cli.command().args(["result", &id]).status().context("cannot run claude-temporal result")?;
    println!();
    println!("workflow      {id}");
    println!("Web UI        {ui_url}");
    println!("outcome       {}", label(&status.state));
    if let Some(error) = &status.error {
        println!("error         {error}");
    }
    println!("project copy  {}", project.display());
    println!("stop stack    {} dev down", cli.binary.display());
    if !result.success() {
        bail!("the demo workflow did not complete (claude-temporal result: {result})");
    }
    Ok(ExitCode::SUCCESS)
}

/// Polls the workflow until it ends, printing progress and approving every gate it opens.
fn follow(cli: &Cli, id: &str) -> anyhow::Result<WorkflowStatus> {
    let begun = Instant::now();
    let mut last_ok = Instant::now();
    let mut last_line = String::new();
    let mut approved: Vec<String> = Vec::new();
    loop {
        if begun.elapsed() > WORKFLOW_PATIENCE {
            bail!("workflow {id} did not end within {} s", WORKFLOW_PATIENCE.as_secs());
        }
        let status = match cli.status(id) {
            Ok(status) => status,
            Err(err) if last_ok.elapsed() < STATUS_PATIENCE => {
                last_line = format!("(status not available yet: {err:#})");
                std::thread::sleep(POLL_EVERY);
                continue;
            }
            Err(err) => {
                return Err(err.context(format!("no status from workflow {id} for a minute")));
            }
        };
        last_ok = Instant::now();
        if status.state.is_final() {
            return Ok(status);
        }
        let line = progress(&status);
        if line != last_line {
            eprintln!("[{:>6.1} s] {line}", begun.elapsed().as_secs_f64());
            last_line = line;
        }
        if let Some(stage) = &status.awaiting_approval
            && !approved.contains(stage)
        {
            eprintln!(
                "xtask: stage `{stage}` waits for a human; approving it on your behalf \
                 (claude-temporal approve {id})"
            );
            let approve = cli
                .command()
                .args(["approve", id, "--comment", "approved by cargo xtask demo"])
                .status()
                .context("cannot run claude-temporal approve")?;
            if !approve.success() {
                bail!("claude-temporal approve {id} failed ({approve})");
            }
            approved.push(stage.clone());
        }
        std::thread::sleep(POLL_EVERY);
    }
}

fn progress(status: &WorkflowStatus) -> String {
    let done = status.stages.iter().filter(|s| s.state == ct_domain::StageState::Completed).count();
    let now = match (&status.awaiting_approval, &status.current_stage) {
        (Some(stage), _) => format!("awaiting approval of {stage}"),
        (None, Some(stage)) => {
            let state = status.stages.iter().find(|s| &s.name == stage).map(|s| label(&s.state)).unwrap_or_default();
            format!("{stage}: {state}")
        }
        (None, None) => label(&status.state),
    };
    format!(
        "{now:<40} {done}/{} stages done, {} tokens, ${:.4}",
        status.stages.len(),
        status.total_tokens,
        status.total_cost_usd
    )
}

/// The name a state has in JSON output (`awaiting_approval`, `completed`, ...).
fn label<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

struct Cli<'a> {
    ws: &'a Workspace,
    binary: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Cli<'_> {
    fn command(&self) -> Command {
        let mut command = self.ws.command(&self.binary);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs a `--json` command; its stderr (progress) goes straight to the terminal.
    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let output = self.run(args)?;
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!("claude-temporal {} printed no JSON: {}", args.join(" "), String::from_utf8_lossy(&output.stdout))
        })
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        let output = self
            .command()
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        if !output.status.success() {
            bail!("claude-temporal {} failed ({})", args.join(" "), output.status);
        }
        Ok(output)
    }

    fn status(&self, id: &str) -> anyhow::Result<WorkflowStatus> {
        let output =
            self.command().args(["status", id, "--json"]).output().context("cannot run claude-temporal status")?;
        if !output.status.success() {
            bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
        }
        serde_json::from_slice(&output.stdout).context("claude-temporal status --json printed no status")
    }
}

/// A fresh copy of the example in the temp dir, committed, so the workflow's snapshots and
/// the agent's edits never touch the repository.
fn copy_project(source: &Path) -> anyhow::Result<PathBuf> {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let parent = std::env::temp_dir().join(format!("claude-temporal-demo-{stamp}"));
    std::fs::create_dir(&parent).with_context(|| format!("cannot create {}", parent.display()))?;
    // The project keeps its own name: it is what the workflow id is made from.
    let target = parent.join(source.file_name().context("the example has a directory name")?);
    copy_dir(source, &target)?;
    let git = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("git")
            .args(["-c", "user.name=claude-temporal demo", "-c", "user.email=demo@claude-temporal.invalid"])
            .args(args)
            .current_dir(&target)
            .stdout(Stdio::null())
            .status()
            .context("cannot run git: install git")?;
        if !status.success() {
            bail!("git {} failed in {} ({status})", args.join(" "), target.display());
        }
        Ok(())
    };
    git(&["init", "--quiet", "--initial-branch=main"])?;
    git(&["add", "--all"])?;
    git(&["commit", "--quiet", "--message", "textstats: starting point"])?;
    Ok(target)
}

fn copy_dir(source: &Path, target: &Path) -> anyhow::Result<()> {
    std::fs::create_dir(target).with_context(|| format!("cannot create {}", target.display()))?;
    for entry in std::fs::read_dir(source).with_context(|| format!("cannot read {}", source.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        // Caches from running the example's tests in place are not part of the project.
        if [".git", "__pycache__", ".pytest_cache"].iter().any(|skip| name == *skip) {
            continue;
        }
        let (from, to) = (entry.path(), target.join(&name));
        if entry.file_type()?.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            std::fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
        }
    }
    Ok(())
}
