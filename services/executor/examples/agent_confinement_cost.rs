//! What confinement adds to an agent run: the same one-turn run of the real CLI against the
//! scripted model, 20 times in each of namespaces + Landlock (with the model relay), Landlock
//! alone and `CT_SANDBOX=off`, interleaved; prints the medians and their differences from the
//! unconfined run.
//!
//! `cargo run --release -p ct-executor --example agent_confinement_cost`
//! (the CLI from CLAUDE_BIN, else where scripts/install-tools.sh puts it).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ct_confine::{Mode, Sandbox};
use ct_executor::{Agents, Config};
use ct_executor::{RunEvent, RunRequest};
use ct_scripted_model::{Scenario, ScriptedModel};

const RUNS: usize = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let claude = std::env::var_os("CLAUDE_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/npm/node_modules/.bin/claude"),
        PathBuf::from,
    );
    let model =
        ScriptedModel::start(Scenario::from_json(r#"{"scripts": [{"name": "one", "turns": [{"text": "Done."}]}]}"#)?)
            .await?;
    let project = tempfile::tempdir()?;
    std::process::Command::new("git").arg("init").arg("-q").arg(project.path()).status()?;
    let agents = |sandbox: Sandbox| -> anyhow::Result<(Agents, tempfile::TempDir)> {
        let state = tempfile::tempdir()?;
        let agents = Agents::new(Config {
            claude_bin: claude.clone(),
            state_dir: state.path().to_path_buf(),
            sandbox,
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
    let layers = [
        Sandbox::new(Mode::Auto, false)?,
        Sandbox::new(Mode::Auto, false)?.without_namespaces(),
        Sandbox::new(Mode::Off, false)?,
    ];
    let labels: Vec<String> = layers.iter().map(|s| s.confinement().to_string()).collect();
    let runners = layers.into_iter().map(agents).collect::<anyhow::Result<Vec<_>>>()?;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); runners.len()];
    for i in 0..RUNS + 1 {
        for ((agents, _state), times) in runners.iter().zip(times.iter_mut()) {
            let started = Instant::now();
            let mut run = agents
                .start(RunRequest {
                    run_id: format!("bench/{i}"),
                    project_path: project.path().display().to_string(),
                    prompt: "bench".to_owned(),
                    ..RunRequest::default()
                })
                .await?;
            while let Some(event) = run.events.recv().await {
                if let RunEvent::Result(result) = event {
                    anyhow::ensure!(result.succeeded(), "{result:?}");
                }
            }
            // The first round warms the page cache for both.
            if i > 0 {
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    let unconfined = medians[medians.len() - 1];
    for (label, m) in labels.iter().zip(&medians) {
        println!("agent run, median of {RUNS}, {label:>18}: {m:7.1} ms ({:+.1} ms)", m - unconfined);
    }
    Ok(())
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let mid = times.len() / 2;
    if times.len().is_multiple_of(2) { (times[mid - 1] + times[mid]) / 2.0 } else { times[mid] }
}
