//! What confinement adds to an agent run: the same one-turn run of the real CLI against the
//! scripted model, 20 times confined (Landlock) and 20 times with `CT_SANDBOX=off`, interleaved;
//! prints the medians and their difference.
//!
//! `cargo run --release -p ct-executor --example agent_confinement_cost`
//! (the CLI from CLAUDE_BIN, else where scripts/install-tools.sh puts it).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ct_confine::{Mode, Sandbox};
use ct_executor::{Agents, Config};
use ct_proto::executor::{RunAgentRequest, run_agent_event};
use ct_scripted_model::{Scenario, ScriptedModel};

const RUNS: usize = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let claude = std::env::var_os("CLAUDE_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/npm/node_modules/.bin/claude"),
        PathBuf::from,
    );
    let model = ScriptedModel::start(Scenario::from_json(
        r#"{"scripts": [{"name": "one", "turns": [{"text": "Done."}]}]}"#,
    )?)
    .await?;
    let project = tempfile::tempdir()?;
    std::process::Command::new("git").arg("init").arg("-q").arg(project.path()).status()?;
    let agents = |mode: Mode| -> anyhow::Result<(Agents, tempfile::TempDir)> {
        let state = tempfile::tempdir()?;
        let agents = Agents::new(Config {
            claude_bin: claude.clone(),
            state_dir: state.path().to_path_buf(),
            sandbox: Sandbox::new(mode, false)?,
            credentials_file: None,
            extra_env: vec![
                ("ANTHROPIC_BASE_URL".to_owned(), model.base_url()),
                ("ANTHROPIC_API_KEY".to_owned(), "sk-bench".to_owned()),
                // The same value either way: the CLI does extra git work when it is "1".
                ("IS_SANDBOX".to_owned(), "1".to_owned()),
            ],
            ..Config::default()
        })?;
        Ok((agents, state))
    };
    let (confined, _a) = agents(Mode::Auto)?;
    let (open, _b) = agents(Mode::Off)?;
    println!("confinement: {}", Sandbox::auto().confinement());
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for i in 0..RUNS + 1 {
        for (agents, times) in [(&confined, &mut with), (&open, &mut without)] {
            let started = Instant::now();
            let mut run = agents
                .start(RunAgentRequest {
                    run_id: format!("bench/{i}"),
                    project_path: project.path().display().to_string(),
                    prompt: "bench".to_owned(),
                    ..RunAgentRequest::default()
                })
                .await?;
            while let Some(event) = run.events.recv().await {
                if let Some(run_agent_event::Event::Result(result)) = event.event {
                    anyhow::ensure!(result.success, "{result:?}");
                }
            }
            // The first round warms the page cache for both.
            if i > 0 {
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let (a, b) = (median(&mut with), median(&mut without));
    println!("agent run, median of {RUNS}: confined {a:.1} ms, unconfined {b:.1} ms, difference {:+.1} ms ({:+.1}%)", a - b, (a / b - 1.0) * 100.0);
    Ok(())
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let mid = times.len() / 2;
    if times.len().is_multiple_of(2) { (times[mid - 1] + times[mid]) / 2.0 } else { times[mid] }
}
