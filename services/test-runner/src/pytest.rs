//! pytest, read through its JUnit XML report.

use std::path::{Path, PathBuf};

use crate::process::{self, Invocation};
use crate::report::{self, Outcome, Tally};
use crate::{Error, RunContext};

/// pytest's exit status when it collected no tests.
const NO_TESTS_COLLECTED: i32 = 5;

pub(crate) async fn run(ctx: &RunContext<'_>) -> Result<Outcome, Error> {
    // In the run's own directory, which the tests may write and which goes with the run.
    let report = ctx.run_dir.join("junit.xml");
    let python = python_for(ctx.dir, ctx.python);
    let invocation = Invocation {
        args: vec![
            "-m".into(),
            "pytest".into(),
            "-q".into(),
            format!("--junitxml={}", report.display()),
            "-p".into(),
            "no:cacheprovider".into(),
        ],
        dir: ctx.dir.to_path_buf(),
        tool: "python3",
        install_hint: "install Python 3 with pytest (e.g. `apt-get install python3 python3-pytest`), \
                       or point PYTHON / --python at an interpreter that has pytest"
            .into(),
        program: python,
    };
    let mut finished = process::run(&invocation, ctx).await?;

    let stderr = String::from_utf8_lossy(&finished.stderr);
    if finished.exit_code != 0 && stderr.contains("No module named pytest") {
        let python = invocation.program.display();
        return Err(Error::ToolMissing {
            tool: "pytest".into(),
            hint: format!(
                "{python} has no pytest module: run `{python} -m pip install pytest`, give the project a \
                 .venv with pytest installed, or point PYTHON / --python at an interpreter that has it"
            ),
        });
    }

    let mut tally = match report::read_report(&report) {
        Ok(xml) => parse_junit(&xml),
        Err(err) => Tally {
            notes: vec![format!(
                "pytest exited with {} without a JUnit report the test-runner reads ({err}); see its output below",
                finished.exit_code
            )],
            ..Tally::default()
        },
    };
    if finished.exit_code == NO_TESTS_COLLECTED {
        // Nothing to run is an empty result, not a broken one: callers judge by exit_code.
        finished.exit_code = 0;
        tally
            .notes
            .push("pytest collected no tests (its exit status 5 is reported as 0: zero tests, not a crash)".into());
    }
    Ok(Outcome { command: invocation.command_line(), finished, tally })
}

/// The project's own virtualenv first (it has the project's dependencies), then
/// the configured interpreter, then `python3` from PATH.
fn python_for(dir: &Path, configured: Option<&Path>) -> PathBuf {
    let venv = dir.join(".venv/bin/python");
    if venv.is_file() {
        return venv;
    }
    configured.map_or_else(|| PathBuf::from("python3"), Path::to_path_buf)
}

/// Counts test cases: one with a `<failure>` or `<error>` is failed (errors are
/// collection and fixture problems), one with `<skipped>` skipped.
fn parse_junit(xml: &str) -> Tally {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(doc) => doc,
        Err(err) => {
            return Tally {
                notes: vec![format!("pytest's JUnit report could not be parsed ({err}); see its output below")],
                ..Tally::default()
            };
        }
    };
    let mut tally = Tally::default();
    for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let class = case.attribute("classname").unwrap_or_default();
        let name = case.attribute("name").unwrap_or_default();
        let problem = case.children().find(|n| n.has_tag_name("failure") || n.has_tag_name("error"));
        if let Some(problem) = problem {
            tally.failed += 1;
            let full_name = if class.is_empty() { name.to_owned() } else { format!("{class}::{name}") };
            let message = problem.attribute("message").unwrap_or_default();
            let text = problem.text().unwrap_or_default();
            let output = if text.contains(message) { text.to_owned() } else { format!("{message}\n{text}") };
            tally.fail(full_name, &output);
        } else if case.children().any(|n| n.has_tag_name("skipped")) {
            tally.skipped += 1;
        } else {
            tally.passed += 1;
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_cases_are_counted_and_failures_named_by_class_and_test() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5">
  <testcase classname="test_math" name="test_add" time="0.001"/>
  <testcase classname="test_math" name="test_sub" time="0.001">
    <failure message="assert 1 == 2">def test_sub():
&gt;       assert 1 == 2
E       assert 1 == 2

test_math.py:7: AssertionError</failure>
  </testcase>
  <testcase classname="test_math" name="test_later" time="0.000">
    <skipped type="pytest.skip" message="not yet">test_math.py:9: not yet</skipped>
  </testcase>
  <testcase classname="" name="tests.test_broken" time="0.000">
    <error message="collection failure">ImportError: No module named 'nope'</error>
  </testcase>
  <testcase classname="test_math" name="test_mul" time="0.001"/>
</testsuite></testsuites>"#;
        let tally = parse_junit(xml);
        assert_eq!((tally.passed, tally.failed, tally.skipped), (2, 2, 1));
        let names: Vec<_> = tally.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["test_math::test_sub", "tests.test_broken"]);
        assert!(tally.failures[0].output.contains("E       assert 1 == 2"));
        assert!(tally.failures[1].output.starts_with("collection failure\nImportError"));
    }

    #[test]
    fn a_broken_report_is_a_note_not_an_error() {
        let tally = parse_junit("<testsuites");
        assert_eq!((tally.passed, tally.failed, tally.skipped), (0, 0, 0));
        assert!(tally.notes[0].contains("could not be parsed"));
    }

    #[test]
    fn the_project_venv_wins_over_the_configured_python() {
        let dir = tempfile::tempdir().unwrap();
        let configured = Path::new("/opt/py/bin/python");
        assert_eq!(python_for(dir.path(), Some(configured)), configured);
        assert_eq!(python_for(dir.path(), None), Path::new("python3"));
        std::fs::create_dir_all(dir.path().join(".venv/bin")).unwrap();
        std::fs::write(dir.path().join(".venv/bin/python"), "").unwrap();
        assert_eq!(python_for(dir.path(), Some(configured)), dir.path().join(".venv/bin/python"));
    }
}
