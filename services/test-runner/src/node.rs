//! Node projects: Jest through its JSON report when the project uses it,
//! otherwise `npm test` judged by its exit status.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::process::{self, Invocation};
use crate::report::{self, Outcome, Tally};
use crate::{Error, RunContext};

const NODE_HINT: &str = "install Node.js, which ships npm and npx (https://nodejs.org or the distribution's nodejs \
                         and npm packages), for the user running the test-runner";

/// Far beyond any real package.json.
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

pub(crate) async fn run(ctx: &RunContext<'_>) -> Result<Outcome, Error> {
    let manifest_path = ctx.dir.join("package.json");
    // The project's own file, which a run could have replaced by a link or a huge file.
    let text = ct_confine::bounded::read_file(&manifest_path, MAX_MANIFEST_BYTES)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|source| Error::ReadProjectFile { path: manifest_path.clone(), source })?;
    let manifest: PackageJson =
        serde_json::from_str(&text).map_err(|source| Error::InvalidPackageJson { path: manifest_path, source })?;
    if manifest.uses_jest() {
        jest(ctx).await
    } else if manifest.scripts.contains_key("test") {
        npm_test(ctx).await
    } else {
        Err(Error::NoTestScript(ctx.dir.to_path_buf()))
    }
}

#[derive(Deserialize)]
struct PackageJson {
    #[serde(default)]
    dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default, rename = "devDependencies")]
    dev_dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    scripts: BTreeMap<String, serde_json::Value>,
}

impl PackageJson {
    fn uses_jest(&self) -> bool {
        self.dependencies.contains_key("jest")
            || self.dev_dependencies.contains_key("jest")
            || self
                .scripts
                .get("test")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|script| script.contains("jest"))
    }
}

async fn jest(ctx: &RunContext<'_>) -> Result<Outcome, Error> {
    // Without an installed jest, npx would download whatever version is newest.
    if installed_jest(ctx.dir).is_none() {
        return Err(Error::ToolMissing {
            tool: "jest".into(),
            hint: format!(
                "{}/package.json uses jest but node_modules/.bin/jest is missing: run `npm install` in {0}",
                ctx.dir.display()
            ),
        });
    }
    // In the run's own directory, which the tests may write and which goes with the run.
    let report = ctx.run_dir.join("jest.json");
    let invocation = Invocation {
        program: "npx".into(),
        args: vec!["jest".into(), "--json".into(), format!("--outputFile={}", report.display())],
        dir: ctx.dir.to_path_buf(),
        tool: "npx",
        install_hint: NODE_HINT.into(),
    };
    let finished = process::run(&invocation, ctx).await?;
    let tally = match report::read_report(&report) {
        Ok(json) => parse_jest(&json, ctx.dir),
        Err(err) => Tally {
            notes: vec![format!(
                "jest exited with {} without a JSON report the test-runner reads ({err}); see its output below",
                finished.exit_code
            )],
            ..Tally::default()
        },
    };
    Ok(Outcome { command: invocation.command_line(), finished, tally })
}

/// npm looks for binaries in the nearest node_modules up the tree (workspaces
/// hoist them to the root).
fn installed_jest(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().map(|d| d.join("node_modules/.bin/jest")).find(|jest| jest.exists())
}

async fn npm_test(ctx: &RunContext<'_>) -> Result<Outcome, Error> {
    let invocation = Invocation {
        program: "npm".into(),
        args: vec!["test".into()],
        dir: ctx.dir.to_path_buf(),
        tool: "npm",
        install_hint: NODE_HINT.into(),
    };
    let finished = process::run(&invocation, ctx).await?;
    let mut tally = Tally {
        notes: vec![
            "package.json does not use jest, so `npm test` ran and only its exit status is known: \
             the whole suite counts as 1 passed or 1 failed test"
                .into(),
        ],
        ..Tally::default()
    };
    if !finished.timed_out {
        if finished.exit_code == 0 {
            tally.passed = 1;
        } else {
            tally.failed = 1;
            let output = String::from_utf8_lossy(&finished.combined);
            tally.fail("npm test", crate::report::tail(&output, crate::report::FAILURE_EXCERPT));
        }
    }
    Ok(Outcome { command: invocation.command_line(), finished, tally })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JestReport {
    num_passed_tests: u32,
    num_failed_tests: u32,
    num_pending_tests: u32,
    #[serde(default)]
    num_todo_tests: u32,
    #[serde(default)]
    test_results: Vec<JestFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JestFile {
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    assertion_results: Vec<JestAssertion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JestAssertion {
    full_name: String,
    status: String,
    #[serde(default)]
    failure_messages: Vec<String>,
}

/// Failures are named `<file relative to the project>::<describe … test>`. A
/// test file that fails without any failed test (it does not compile, a hook
/// threw) counts as one failure named after the file.
fn parse_jest(json: &str, dir: &Path) -> Tally {
    let report: JestReport = match serde_json::from_str(json) {
        Ok(report) => report,
        Err(err) => {
            return Tally {
                notes: vec![format!("jest's JSON report could not be read ({err}); see its output below")],
                ..Tally::default()
            };
        }
    };
    let mut tally = Tally {
        passed: report.num_passed_tests,
        failed: report.num_failed_tests,
        skipped: report.num_pending_tests + report.num_todo_tests,
        ..Tally::default()
    };
    for file in &report.test_results {
        let path = Path::new(&file.name);
        let name = path.strip_prefix(dir).unwrap_or(path).display().to_string();
        let mut any_failed = false;
        for assertion in file.assertion_results.iter().filter(|a| a.status == "failed") {
            any_failed = true;
            tally.fail(format!("{name}::{}", assertion.full_name), &assertion.failure_messages.join("\n"));
        }
        if file.status == "failed" && !any_failed {
            tally.failed += 1;
            tally.fail(name, &file.message);
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jest_is_recognised_from_dependencies_or_the_test_script() {
        let parse = |json: &str| serde_json::from_str::<PackageJson>(json).unwrap().uses_jest();
        assert!(parse(r#"{"devDependencies": {"jest": "^29.7.0"}}"#));
        assert!(parse(r#"{"dependencies": {"jest": "29"}}"#));
        assert!(parse(r#"{"scripts": {"test": "jest --coverage"}}"#));
        assert!(!parse(r#"{"scripts": {"test": "mocha"}, "devDependencies": {"mocha": "10"}}"#));
    }

    #[test]
    fn jest_reports_are_counted_and_failures_named_by_file_and_test() {
        let json = r#"{
          "numPassedTests": 2, "numFailedTests": 1, "numPendingTests": 1, "numTodoTests": 0,
          "testResults": [
            {"name": "/p/math.test.js", "status": "failed", "message": "",
             "assertionResults": [
               {"fullName": "math adds", "status": "passed", "failureMessages": []},
               {"fullName": "math subtracts", "status": "failed",
                "failureMessages": ["Error: expect(received).toBe(expected)\n\nExpected: 2\nReceived: 1"]},
               {"fullName": "math later", "status": "pending", "failureMessages": []}]},
            {"name": "/p/broken.test.js", "status": "failed",
             "message": "SyntaxError: Unexpected token (3:4)", "assertionResults": []},
            {"name": "/p/ok.test.js", "status": "passed", "message": "",
             "assertionResults": [{"fullName": "ok", "status": "passed", "failureMessages": []}]}]
        }"#;
        let tally = parse_jest(json, Path::new("/p"));
        assert_eq!((tally.passed, tally.failed, tally.skipped), (2, 2, 1));
        let names: Vec<_> = tally.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["math.test.js::math subtracts", "broken.test.js"]);
        assert!(tally.failures[0].output.contains("Expected: 2"));
        assert!(tally.failures[1].output.contains("SyntaxError"));
    }
}
