//! Test runs in-process (what the test-runner's `run_tests` activity does inside its lease),
//! running real pytest, cargo, npm/Jest and go projects created in temporary directories.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use ct_contracts::failure::{INVALID_PROJECT, NO_TEST_FRAMEWORK};
use ct_contracts::{TestReport, TestTask};
use ct_test_runner::{Error, Tests};
use tokio_util::sync::CancellationToken;

struct Server {
    tests: Tests,
    stop: CancellationToken,
}

async fn start(config: ct_test_runner::Config) -> anyhow::Result<Server> {
    Ok(Server { tests: Tests::new(config), stop: CancellationToken::new() })
}

/// The project-local venv has pytest; the system python3 may not.
fn tools_python() -> Option<PathBuf> {
    // Not canonicalised: the venv's python is a symlink whose target is not the venv.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.parent()?;
    let python = repo.join(".tools/venv/bin/python");
    python.is_file().then_some(python)
}

async fn start_with_tools_python() -> anyhow::Result<Server> {
    start(ct_test_runner::Config { python: tools_python(), ..ct_test_runner::Config::default() }).await
}

fn project(files: &[(&str, &str)]) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("ct-test-runner-it-").tempdir()?;
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("files live in the project"))?;
        std::fs::write(path, content)?;
    }
    Ok(dir)
}

fn request(dir: &Path, timeout_secs: u64) -> TestTask {
    TestTask { run_id: "it".into(), project_path: dir.display().to_string(), timeout_secs }
}

async fn run(server: &mut Server, request: TestTask) -> Result<TestReport, Error> {
    let started = Instant::now();
    let response = server.tests.run(&request, &server.stop).await;
    println!("the run answered in {:?}", started.elapsed());
    response
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Whether `pid` is gone; a killed orphan is a zombie until init reaps it.
/// Whether every process working in `dir` has ended (or is a zombie) within 5 s. A test's
/// processes are found by their working directory, which is the same path inside the run's
/// namespaces as outside, where the pids they record for themselves are not.
async fn all_gone(dir: &Path) -> Result<(), Vec<i32>> {
    let mut left = Vec::new();
    for _ in 0..50 {
        left = working_in(dir);
        if left.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(left)
}

fn working_in(dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir)))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
        })
        .collect()
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

const PYTEST_SAMPLE: &str = r#"import pytest


def test_adds():
    assert 1 + 1 == 2


def test_upper():
    assert "a".upper() == "A"


def test_subtracts():
    assert 3 - 1 == 1, "subtraction is off"


@pytest.mark.skip(reason="not yet")
def test_later():
    pass
"#;

#[tokio::test]
async fn a_pytest_project_is_detected_run_and_parsed() -> anyhow::Result<()> {
    let dir = project(&[("tests/test_sample.py", PYTEST_SAMPLE)])?;
    let mut server = start_with_tools_python().await?;
    let response = run(&mut server, request(dir.path(), 60)).await?;
    println!("{response:#?}");

    assert_eq!(response.framework, "pytest");
    assert_eq!((response.passed, response.failed, response.skipped), (2, 1, 1));
    assert_eq!(response.exit_code, 1);
    assert!(!response.timed_out);
    assert!(response.command.contains("-m pytest -q --junitxml="), "{}", response.command);
    assert!(response.command.ends_with("-p no:cacheprovider"));
    assert_eq!(response.failures.len(), 1);
    let (name, excerpt) = &response.failures[0];
    assert_eq!(name, "tests.test_sample::test_subtracts");
    assert!(excerpt.contains("subtraction is off"), "{}", excerpt);
    assert!(excerpt.contains("assert (3 - 1) == 1"), "{}", excerpt);
    assert!(response.duration_ms > 0);
    assert!(!dir.path().join(".pytest_cache").exists(), "the cache provider is off");
    Ok(())
}

#[tokio::test]
async fn a_pytest_project_without_tests_is_zero_tests_not_a_crash() -> anyhow::Result<()> {
    let dir = project(&[("pytest.ini", "[pytest]\n"), ("tests/helpers.py", "X = 1\n")])?;
    let mut server = start_with_tools_python().await?;
    let response = run(&mut server, request(dir.path(), 60)).await?;

    assert_eq!((response.passed, response.failed, response.skipped), (0, 0, 0));
    assert_eq!(response.exit_code, 0);
    assert!(response.output_tail.contains("collected no tests"), "{}", response.output_tail);
    Ok(())
}

#[tokio::test]
async fn a_missing_interpreter_fails_the_stage_at_once_naming_it() -> anyhow::Result<()> {
    let dir = project(&[("tests/test_sample.py", PYTEST_SAMPLE)])?;
    let mut server = start(ct_test_runner::Config {
        python: Some("/nonexistent/bin/python3".into()),
        ..ct_test_runner::Config::default()
    })
    .await?;
    let err = run(&mut server, request(dir.path(), 60)).await.unwrap_err();

    assert_eq!(err.failure_type(), NO_TEST_FRAMEWORK);
    assert!(err.to_string().contains("/nonexistent/bin/python3"), "{err}");
    assert!(err.to_string().contains("install Python 3"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_test_past_its_timeout_is_killed_with_everything_it_started() -> anyhow::Result<()> {
    let dir = project(&[("tests/test_slow.py", SLOW_TEST)])?;
    let mut server = start_with_tools_python().await?;
    let started = Instant::now();
    let response = run(&mut server, request(dir.path(), 2)).await?;
    let elapsed = started.elapsed();
    println!("{response:#?}");

    assert!(response.timed_out);
    assert!(elapsed < Duration::from_secs(8), "answered after {elapsed:?}");
    assert!(response.output_tail.contains("timed out after 2000 ms"), "{}", response.output_tail);
    for file in ["pytest.pid", "sleep.pid"] {
        assert!(read_pid(&dir.path().join(file)).is_some(), "the slow test recorded {file}");
    }
    let left = all_gone(dir.path()).await;
    assert_eq!(left, Ok(()), "processes outlived the timeout");
    Ok(())
}

/// Records its own pid and that of a child it starts, then outlasts any timeout.
const SLOW_TEST: &str = r#"import os, pathlib, subprocess, time


def test_sleeps():
    root = pathlib.Path(__file__).parent.parent
    sleeper = subprocess.Popen(["sleep", "30"])
    (root / "sleep.pid").write_text(str(sleeper.pid))
    (root / "pytest.pid").write_text(str(os.getpid()))
    time.sleep(30)
"#;

/// A test printing without end, next to a run of a sound project: the endless one is killed
/// once it passes the limit and says so, the other is served meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_test_printing_without_end_is_killed_at_the_limit_and_others_are_served() -> anyhow::Result<()> {
    let endless = project(&[("tests/test_endless.py", ENDLESS_TEST)])?;
    let sound = project(&[("tests/test_sample.py", PYTEST_SAMPLE)])?;
    let server = start_with_tools_python().await?;
    let (flooding, sound) = (request(endless.path(), 120), request(sound.path(), 60));
    let (flooded, served) =
        tokio::join!(server.tests.run(&flooding, &server.stop), server.tests.run(&sound, &server.stop));
    let flooded = flooded?;
    assert!(!flooded.timed_out, "ended by its timeout, not by the limit");
    assert_ne!(flooded.exit_code, 0);
    assert!(flooded.output_tail.contains("more than 67108864 bytes on one stream"), "{}", flooded.output_tail);
    assert_eq!(served?.passed, 2);
    assert_eq!(all_gone(endless.path()).await, Ok(()), "the endless test outlived its run");
    Ok(())
}

const ENDLESS_TEST: &str = r#"import sys


def test_prints_forever(capsys):
    # Past pytest's own capture, straight to the test-runner's pipe.
    with capsys.disabled():
        while True:
            sys.stdout.write("x" * 65536)
"#;

/// Tests that replace their JUnit report by a link to `/dev/zero` once it is written: the
/// test-runner reads nothing through it and says why the counts are missing.
#[tokio::test]
async fn a_report_replaced_by_a_link_is_not_followed() -> anyhow::Result<()> {
    let dir = project(&[("tests/test_one.py", "def test_one():\n    pass\n"), ("conftest.py", LINKED_REPORT)])?;
    let mut server = start_with_tools_python().await?;
    let response = tokio::time::timeout(Duration::from_secs(60), run(&mut server, request(dir.path(), 60))).await??;
    assert_eq!((response.passed, response.failed), (0, 0), "{response:#?}");
    assert!(response.output_tail.contains("without a JUnit report the test-runner reads"), "{}", response.output_tail);
    Ok(())
}

const LINKED_REPORT: &str = r#"import os


def pytest_unconfigure(config):
    report = config.option.xmlpath
    if report and os.path.exists(report):
        os.remove(report)
        os.symlink("/dev/zero", report)
"#;

#[tokio::test]
async fn a_dropped_run_kills_the_test_processes() -> anyhow::Result<()> {
    let dir = project(&[("tests/test_slow.py", SLOW_TEST)])?;
    let server = start_with_tools_python().await?;
    let tests = server.tests.clone();
    let call = tokio::spawn({
        let request = request(dir.path(), 60);
        async move { tests.run(&request, &CancellationToken::new()).await }
    });

    let pid_files = [dir.path().join("pytest.pid"), dir.path().join("sleep.pid")];
    let deadline = Instant::now() + Duration::from_secs(20);
    while pid_files.iter().any(|f| read_pid(f).is_none()) {
        assert!(Instant::now() < deadline, "the slow test never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    call.abort();
    let left = all_gone(dir.path()).await;
    assert_eq!(left, Ok(()), "processes outlived the cancelled call");
    Ok(())
}

const CARGO_TOML: &str = r#"[package]
name = "tiny"
version = "0.1.0"
edition = "2021"

[workspace]
"#;

const CARGO_LIB: &str = r#"pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

pub fn sub(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(1, 2), 3);
    }

    #[test]
    fn adds_zero() {
        assert_eq!(add(5, 0), 5);
    }

    #[test]
    fn subtracts() {
        assert_eq!(sub(3, 1), 2, "subtraction is off");
    }
}
"#;

#[tokio::test]
async fn a_cargo_project_with_a_tests_folder_is_run_with_cargo() -> anyhow::Result<()> {
    let dir = project(&[
        ("Cargo.toml", CARGO_TOML),
        ("src/lib.rs", CARGO_LIB),
        ("tests/api.rs", "#[test]\nfn adds_from_outside() {\n    assert_eq!(tiny::add(2, 2), 4);\n}\n"),
        ("tests/make_fixtures.py", "print('fixtures')\n"),
    ])?;
    let mut server = start(ct_test_runner::Config::default()).await?;
    let response = run(&mut server, request(dir.path(), 300)).await?;
    println!("{response:#?}");

    assert_eq!(response.framework, "cargo");
    assert_eq!(response.command, "cargo test --no-fail-fast");
    assert_eq!((response.passed, response.failed, response.skipped), (3, 1, 0));
    assert_ne!(response.exit_code, 0);
    assert_eq!(response.failures.len(), 1);
    let (name, excerpt) = &response.failures[0];
    assert_eq!(name, "tests::subtracts");
    assert!(excerpt.contains("subtraction is off"), "{}", excerpt);
    assert!(excerpt.contains("left: 4"), "{}", excerpt);
    assert!(
        dir.path().join("target").is_dir(),
        "the project builds in its own target dir, whatever CARGO_TARGET_DIR the runner has"
    );
    Ok(())
}

#[tokio::test]
async fn a_cargo_build_error_is_a_failed_run_that_shows_the_compiler_output() -> anyhow::Result<()> {
    let dir =
        project(&[("Cargo.toml", CARGO_TOML), ("src/lib.rs", "pub fn answer() -> i32 {\n    \"forty-two\"\n}\n")])?;
    let mut server = start(ct_test_runner::Config::default()).await?;
    let response = run(&mut server, request(dir.path(), 300)).await?;
    println!("{response:#?}");

    assert_eq!((response.passed, response.failed), (0, 0));
    assert_ne!(response.exit_code, 0);
    assert!(response.output_tail.contains("the build most likely failed"), "{}", response.output_tail);
    assert!(response.output_tail.contains("mismatched types"), "{}", response.output_tail);
    Ok(())
}

#[tokio::test]
async fn a_jest_project_is_run_through_its_json_report() -> anyhow::Result<()> {
    if !on_path("npm") || !on_path("npx") {
        ct_confine::skip::skip_test("npm/npx are not on PATH, Jest cannot be installed or run");
        return Ok(());
    }
    let dir = project(&[
        (
            "package.json",
            r#"{"name": "jest-sample", "version": "1.0.0", "private": true, "scripts": {"test": "jest"}}"#,
        ),
        ("math.test.js", JEST_SAMPLE),
    ])?;
    let started = Instant::now();
    let install = tokio::process::Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "jest@29"])
        .current_dir(dir.path())
        .output()
        .await?;
    anyhow::ensure!(
        install.status.success(),
        "npm install jest@29 failed: {}",
        String::from_utf8_lossy(&install.stderr)
    );
    println!("npm install jest@29 took {:?}", started.elapsed());

    let mut server = start(ct_test_runner::Config::default()).await?;
    let response = run(&mut server, request(dir.path(), 120)).await?;
    println!("{response:#?}");

    assert_eq!(response.framework, "jest");
    assert!(response.command.starts_with("npx jest --json --outputFile="), "{}", response.command);
    assert_eq!((response.passed, response.failed, response.skipped), (2, 1, 1));
    assert_eq!(response.failures.len(), 1);
    let (name, excerpt) = &response.failures[0];
    assert_eq!(name, "math.test.js::math subtracts");
    assert!(excerpt.contains("Expected: 2"), "{}", excerpt);
    assert!(!excerpt.contains('\u{1b}'), "colour codes are stripped");
    Ok(())
}

const JEST_SAMPLE: &str = r#"describe("math", () => {
  test("adds", () => { expect(1 + 1).toBe(2); });
  test("multiplies", () => { expect(2 * 3).toBe(6); });
  test("subtracts", () => { expect(3 - 2).toBe(2); });
  test.skip("divides", () => { expect(1 / 0).toBe(0); });
});
"#;

#[tokio::test]
async fn a_node_project_without_jest_is_judged_by_npm_test_exit_status() -> anyhow::Result<()> {
    if !on_path("npm") {
        ct_confine::skip::skip_test("npm is not on PATH");
        return Ok(());
    }
    let dir = project(&[
        ("package.json", r#"{"name": "plain", "version": "1.0.0", "scripts": {"test": "node check.js"}}"#),
        ("check.js", "console.error('check failed: 2 != 3');\nprocess.exit(1);\n"),
    ])?;
    let mut server = start(ct_test_runner::Config::default()).await?;
    let response = run(&mut server, request(dir.path(), 60)).await?;
    println!("{response:#?}");

    assert_eq!(response.command, "npm test");
    assert_eq!((response.passed, response.failed), (0, 1));
    assert!(response.output_tail.contains("only its exit status is known"));
    assert!(response.failures[0].1.contains("check failed: 2 != 3"));
    Ok(())
}

#[tokio::test]
async fn a_go_module_is_run_through_its_json_events() -> anyhow::Result<()> {
    if !on_path("go") {
        ct_confine::skip::skip_test("go is not on PATH");
        return Ok(());
    }
    let dir = project(&[
        ("go.mod", "module example.com/calc\n\ngo 1.21\n"),
        (
            "calc.go",
            "package calc\n\nfunc Add(a, b int) int { return a + b }\n\nfunc Sub(a, b int) int { return a + b }\n",
        ),
        ("calc_test.go", GO_SAMPLE),
    ])?;
    let mut server = start(ct_test_runner::Config::default()).await?;
    let response = run(&mut server, request(dir.path(), 300)).await?;
    println!("{response:#?}");

    assert_eq!(response.framework, "go");
    assert_eq!(response.command, "go test -json ./...");
    assert_eq!((response.passed, response.failed, response.skipped), (2, 1, 1));
    assert_eq!(response.failures[0].0, "example.com/calc::TestSub");
    assert!(response.failures[0].1.contains("Sub(3, 1) = 4, want 2"));
    Ok(())
}

const GO_SAMPLE: &str = r#"package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(1, 2) != 3 {
		t.Fatal("Add is off")
	}
}

func TestAddZero(t *testing.T) {
	if Add(5, 0) != 5 {
		t.Fatal("Add is off")
	}
}

func TestSub(t *testing.T) {
	if got := Sub(3, 1); got != 2 {
		t.Errorf("Sub(3, 1) = %d, want 2", got)
	}
}

func TestLater(t *testing.T) {
	t.Skip("not yet")
}
"#;

#[tokio::test]
async fn a_bad_project_path_is_an_invalid_project_naming_it() -> anyhow::Result<()> {
    let mut server = start(ct_test_runner::Config::default()).await?;
    let err = run(&mut server, request(Path::new("/no/such/project"), 0)).await.unwrap_err();
    assert_eq!(err.failure_type(), INVALID_PROJECT);
    assert!(err.to_string().contains("/no/such/project"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_project_outside_the_workspace_roots_is_refused_without_running_anything() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let dir = project(&[("tests/test_slow.py", SLOW_TEST)])?;
    let mut server = start(ct_test_runner::Config {
        roots: ct_fleet::WorkspaceRoots::new([root.path().to_path_buf()])?,
        ..ct_test_runner::Config::default()
    })
    .await?;
    let err = run(&mut server, request(dir.path(), 60)).await.unwrap_err();
    assert!(matches!(err, Error::OutsideRoots(_)), "{err}");
    assert!(err.to_string().contains("outside this service's workspace roots"), "{err}");
    assert!(read_pid(&dir.path().join("pytest.pid")).is_none(), "the tests ran anyway");
    Ok(())
}

#[tokio::test]
async fn an_unrecognised_project_fails_the_stage_at_once_saying_what_was_looked_for() -> anyhow::Result<()> {
    let dir = project(&[("README.md", "# nothing to test\n")])?;
    let mut server = start(ct_test_runner::Config::default()).await?;
    let err = run(&mut server, request(dir.path(), 0)).await.unwrap_err();
    assert_eq!(err.failure_type(), NO_TEST_FRAMEWORK);
    for looked_for in ["package.json", "Cargo.toml", "go.mod", "pyproject.toml"] {
        assert!(err.to_string().contains(looked_for), "{err}");
    }
    Ok(())
}

#[tokio::test]
async fn stopping_a_run_kills_its_tests_and_says_so() -> anyhow::Result<()> {
    let dir = project(&[("tests/test_slow.py", SLOW_TEST)])?;
    let server = start_with_tools_python().await?;
    let tests = server.tests.clone();
    let stop = server.stop.clone();
    let call = tokio::spawn({
        let request = request(dir.path(), 60);
        async move { tests.run(&request, &stop).await }
    });

    let pid_file = dir.path().join("sleep.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    while read_pid(&pid_file).is_none() {
        assert!(Instant::now() < deadline, "the slow test never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop.cancel();
    let err = tokio::time::timeout(Duration::from_secs(10), call).await??.unwrap_err();

    assert!(matches!(err, Error::Stopped), "{err:?}");
    let left = all_gone(dir.path()).await;
    assert_eq!(left, Ok(()), "processes outlived the shutdown");
    Ok(())
}

#[tokio::test]
async fn tests_get_only_the_allow_listed_environment_write_only_the_project_and_secrets_are_redacted()
-> anyhow::Result<()> {
    const SECRET: &str = "s3cret-the-test-runner-knows";
    let outside = tempfile::tempdir()?;
    let escape = outside.path().join("escaped.txt");
    let test = format!(
        r#"import os

def test_environment_and_writes():
    with open("written-by-the-test.txt", "w") as f:
        f.write("ok")
    try:
        with open({escape:?}, "w") as f:
            f.write("x")
        escape = "written"
    except PermissionError as err:
        escape = "refused: " + str(err)
    except FileNotFoundError as err:
        escape = "invisible: " + str(err)
    planted = "no CARGO_HOME"
    if "CARGO_HOME" in os.environ:
        try:
            with open(os.path.join(os.environ["CARGO_HOME"], "bin", "ct-planted-by-a-test"), "w") as f:
                f.write("x")
            planted = "written"
        except OSError as err:
            planted = "refused: " + str(err)
    names = " ".join(sorted(os.environ))
    assert False, f"ENV[{{names}}] HOME[{{os.environ['HOME']}}] ESCAPE[{{escape}}] PLANTED[{{planted}}] SECRET[{SECRET}]"
"#
    );
    let dir = project(&[("tests/test_env.py", &test)])?;
    let state = tempfile::tempdir()?;
    let mut server = start(ct_test_runner::Config {
        python: tools_python(),
        state_dir: state.path().to_path_buf(),
        redactor: std::sync::Arc::new(ct_confine::Redactor::new([], [SECRET.to_owned()])),
        ..ct_test_runner::Config::default()
    })
    .await?;
    let response = run(&mut server, request(dir.path(), 60)).await?;
    let output = &response.failures.first().context("the test failed as written")?.1;
    println!("{output}");

    assert_eq!(std::fs::read_to_string(dir.path().join("written-by-the-test.txt"))?, "ok");
    let names = between(output, "ENV[", "]");
    for name in names.split_whitespace() {
        // PWD: bubblewrap sets it to the directory the tests start in.
        let allowed = ["PATH", "LANG", "TZ", "TERM", "USER", "LOGNAME", "CI", "HOME", "TMPDIR", "CT_RUN", "PWD"]
            .contains(&name)
            || name.starts_with("LC_")
            || name.starts_with("PYTEST_")
            || ["CARGO_HOME", "RUSTUP_HOME", "GOPATH", "GOCACHE", "GOMODCACHE", "PYTHONUSERBASE", "npm_config_cache"]
                .contains(&name)
            || ["PIP_CACHE_DIR", "XDG_CACHE_HOME"].contains(&name)
            || name.starts_with("GO")
            || name.ends_with("_PROXY")
            || name.ends_with("_proxy")
            || ["SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE"].contains(&name);
        assert!(allowed, "the tests see {name} from the test-runner's environment: {names}");
    }
    assert!(between(output, "HOME[", "]").starts_with(&state.path().display().to_string()), "{output}");
    let sandbox = ct_confine::Sandbox::auto();
    if sandbox.has_namespaces() {
        assert!(response.confinement.starts_with("bwrap"), "{}", response.confinement);
        // The outside does not exist for the test; the toolchain homes are read-only.
        assert!(between(output, "ESCAPE[", "]").starts_with("invisible"), "{output}");
        let planted = between(output, "PLANTED[", "]");
        assert!(planted.starts_with("refused") || planted == "no CARGO_HOME", "{output}");
        if let Some(cargo_home) = std::env::var_os("CARGO_HOME")
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo").into()))
        {
            assert!(!Path::new(&cargo_home).join("bin/ct-planted-by-a-test").exists());
        }
    } else if sandbox.confinement().is_confined() {
        assert!(response.confinement.contains("landlock-v"), "{}", response.confinement);
        assert!(between(output, "ESCAPE[", "]").starts_with("refused"), "{output}");
    }
    assert!(!escape.exists());
    assert!(!output.contains(SECRET) && !response.output_tail.contains(SECRET), "{output}");
    assert!(output.contains("SECRET[[REDACTED]"), "{output}");
    Ok(())
}

/// The text between `start` and the next `end` after it, empty when absent.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    text.split_once(start).and_then(|(_, rest)| rest.split_once(end)).map_or("", |(inner, _)| inner)
}
