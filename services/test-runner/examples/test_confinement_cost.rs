//! What confinement adds to a test run: the same one-test pytest project run 20 times in each of
//! namespaces + Landlock (`CT_SANDBOX=auto` with bubblewrap), Landlock alone and `CT_SANDBOX=off`,
//! interleaved; prints the medians and their differences from the unconfined run.
//!
//! `cargo run --release -p ct-test-runner --example test_confinement_cost`
//! (pytest from the tools venv that scripts/install-tools.sh makes, else python3 on PATH).

use std::path::Path;
use std::time::Instant;

use ct_confine::{Mode, Sandbox};
use ct_contracts::TestTask;
use ct_test_runner::{Config, Tests};
use tokio_util::sync::CancellationToken;

const RUNS: usize = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    let project = tempfile::tempdir()?;
    std::fs::create_dir_all(project.path().join("tests"))?;
    std::fs::write(project.path().join("tests/test_one.py"), "def test_one():\n    assert 1 + 1 == 2\n")?;
    let tests = |sandbox: Sandbox| -> Tests {
        Tests::new(Config { python: venv.is_file().then(|| venv.clone()), sandbox, ..Config::default() })
    };
    let layers = [
        Sandbox::new(Mode::Auto, false)?,
        Sandbox::new(Mode::Auto, false)?.without_namespaces(),
        Sandbox::new(Mode::Off, false)?,
    ];
    let labels: Vec<String> = layers.iter().map(|s| s.confinement().to_string()).collect();
    let runners: Vec<Tests> = layers.into_iter().map(tests).collect();
    let stop = CancellationToken::new();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); runners.len()];
    for i in 0..RUNS + 1 {
        for (tests, times) in runners.iter().zip(times.iter_mut()) {
            let started = Instant::now();
            let response = tests
                .run(
                    &TestTask {
                        run_id: format!("bench/{i}"),
                        project_path: project.path().display().to_string(),
                        timeout_secs: 60,
                    },
                    &stop,
                )
                .await?;
            anyhow::ensure!(response.passed == 1, "{response:?}");
            // The first round warms the page cache for both.
            if i > 0 {
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    let unconfined = medians[medians.len() - 1];
    for (label, m) in labels.iter().zip(&medians) {
        println!("test run, median of {RUNS}, {label:>18}: {m:7.1} ms ({:+.1} ms)", m - unconfined);
    }
    Ok(())
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let mid = times.len() / 2;
    if times.len().is_multiple_of(2) { (times[mid - 1] + times[mid]) / 2.0 } else { times[mid] }
}
