//! What confinement adds to a test run: the same one-test pytest project run 20 times confined
//! (Landlock) and 20 times with `CT_SANDBOX=off`, interleaved; prints the medians and their
//! difference.
//!
//! `cargo run --release -p ct-test-runner --example test_confinement_cost`
//! (pytest from the tools venv that scripts/install-tools.sh makes, else python3 on PATH).

use std::path::Path;
use std::time::Instant;

use ct_confine::{Mode, Sandbox};
use ct_proto::test_runner::{Framework, RunTestsRequest};
use ct_test_runner::{Config, Tests};
use tokio_util::sync::CancellationToken;

const RUNS: usize = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    let project = tempfile::tempdir()?;
    std::fs::create_dir_all(project.path().join("tests"))?;
    std::fs::write(project.path().join("tests/test_one.py"), "def test_one():\n    assert 1 + 1 == 2\n")?;
    let tests = |mode: Mode| -> anyhow::Result<Tests> {
        Ok(Tests::new(Config {
            python: venv.is_file().then(|| venv.clone()),
            sandbox: Sandbox::new(mode, false)?,
            ..Config::default()
        }))
    };
    let (confined, open) = (tests(Mode::Auto)?, tests(Mode::Off)?);
    println!("confinement: {}", Sandbox::auto().confinement());
    let stop = CancellationToken::new();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for i in 0..RUNS + 1 {
        for (tests, times) in [(&confined, &mut with), (&open, &mut without)] {
            let started = Instant::now();
            let response = tests
                .run(
                    RunTestsRequest {
                        run_id: format!("bench/{i}"),
                        project_path: project.path().display().to_string(),
                        framework: Framework::Unspecified as i32,
                        timeout_ms: 60_000,
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
    let (a, b) = (median(&mut with), median(&mut without));
    println!("test run, median of {RUNS}: confined {a:.1} ms, unconfined {b:.1} ms, difference {:+.1} ms ({:+.1}%)", a - b, (a / b - 1.0) * 100.0);
    Ok(())
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let mid = times.len() / 2;
    if times.len().is_multiple_of(2) { (times[mid - 1] + times[mid]) / 2.0 } else { times[mid] }
}
