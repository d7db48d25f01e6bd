//! `go test -json`, read from its event stream.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::process::{self, Invocation};
use crate::report::{Outcome, Tally};
use crate::{Error, RunContext};

pub(crate) async fn run(ctx: &RunContext<'_>) -> Result<Outcome, Error> {
    let invocation = Invocation {
        program: "go".into(),
        args: vec!["test".into(), "-json".into(), "./...".into()],
        dir: ctx.dir.to_path_buf(),
        tool: "go",
        install_hint: "install Go (https://go.dev/dl/) and put its bin directory on the test-runner's PATH".into(),
    };
    let finished = process::run(&invocation, ctx).await?;
    let mut tally = parse_events(&String::from_utf8_lossy(&finished.stdout));
    let stderr = String::from_utf8_lossy(&finished.stderr);
    if let Some(transcript) = tally.transcript.as_mut() {
        transcript.push_str(&stderr);
    }
    if finished.exit_code != 0 && !finished.timed_out && tally.failed == 0 {
        tally.notes.push(format!(
            "go test exited with {} although no test or package reported a failure; go's output follows",
            finished.exit_code
        ));
    }
    Ok(Outcome { command: invocation.command_line(), finished, tally })
}

/// One line of `go test -json` (cmd/test2json), with the fields we read.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Event {
    action: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    test: Option<String>,
    #[serde(default)]
    output: Option<String>,
    /// On `build-output` events (Go ≥ 1.24): the package being built.
    #[serde(default)]
    import_path: Option<String>,
    /// On a package's `fail` when its build failed (Go ≥ 1.24).
    #[serde(default)]
    failed_build: Option<String>,
}

#[derive(Default)]
struct TestState {
    result: Option<String>,
    output: String,
}

#[derive(Default)]
struct PackageState {
    failed: bool,
    failed_build: Option<String>,
    output: String,
}

/// Subtests are tests of their own (`TestX/case`): only leaves are counted, so
/// that a failing subtest is one failure and not two; a parent that fails with
/// every subtest passing still counts. A package that fails without a failing
/// test (its build failed, TestMain exited) counts as one failure named after it.
fn parse_events(stdout: &str) -> Tally {
    let mut tests: BTreeMap<(String, String), TestState> = BTreeMap::new();
    let mut packages: BTreeMap<String, PackageState> = BTreeMap::new();
    let mut builds: BTreeMap<String, String> = BTreeMap::new();
    let mut transcript = String::new();

    for line in stdout.lines() {
        let Ok(event) = serde_json::from_str::<Event>(line) else {
            transcript.push_str(line);
            transcript.push('\n');
            continue;
        };
        let output = event.output.as_deref().unwrap_or_default();
        transcript.push_str(output);
        if event.action == "build-output" {
            if let Some(path) = event.import_path {
                builds.entry(path).or_default().push_str(output);
            }
            continue;
        }
        match event.test {
            Some(test) => {
                let state = tests.entry((event.package, test)).or_default();
                match event.action.as_str() {
                    "output" => state.output.push_str(output),
                    "pass" | "fail" | "skip" => state.result = Some(event.action),
                    _ => {}
                }
            }
            None => {
                let state = packages.entry(event.package).or_default();
                match event.action.as_str() {
                    "output" => state.output.push_str(output),
                    "fail" => {
                        state.failed = true;
                        state.failed_build = event.failed_build;
                    }
                    _ => {}
                }
            }
        }
    }

    let parents: BTreeSet<(&str, &str)> = tests
        .keys()
        .flat_map(|(package, test)| test.match_indices('/').map(move |(slash, _)| (package.as_str(), &test[..slash])))
        .collect();
    let mut tally = Tally::default();
    let mut packages_with_failing_tests = BTreeSet::new();
    for ((package, test), state) in &tests {
        let is_parent = parents.contains(&(package.as_str(), test.as_str()));
        let failed_child = is_parent
            && tests.iter().any(|((p, t), s)| {
                p == package
                    && t.strip_prefix(test.as_str()).is_some_and(|rest| rest.starts_with('/'))
                    && s.result.as_deref() == Some("fail")
            });
        match state.result.as_deref() {
            Some("fail") if !failed_child => {
                tally.failed += 1;
                packages_with_failing_tests.insert(package.as_str());
                tally.fail(format!("{package}::{test}"), &state.output);
            }
            Some("fail") => {
                packages_with_failing_tests.insert(package.as_str());
            }
            Some("pass") if !is_parent => tally.passed += 1,
            Some("skip") if !is_parent => tally.skipped += 1,
            _ => {}
        }
    }
    for (package, state) in &packages {
        if state.failed && !packages_with_failing_tests.contains(package.as_str()) {
            tally.failed += 1;
            let build =
                state.failed_build.as_ref().and_then(|path| builds.get(path)).map(String::as_str).unwrap_or_default();
            tally.fail(package.clone(), &format!("{build}{}", state.output));
        }
    }
    tally.transcript = Some(transcript);
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event stream `go test -json ./...` writes (format of cmd/test2json,
    /// Go 1.24) for one package with a failing test, a failing subtest, a
    /// skipped test and a passing one, and a second package that does not build.
    const EVENTS: &str = r##"{"Action":"start","Package":"example.com/calc"}
{"Action":"run","Package":"example.com/calc","Test":"TestAdd"}
{"Action":"output","Package":"example.com/calc","Test":"TestAdd","Output":"=== RUN   TestAdd\n"}
{"Action":"output","Package":"example.com/calc","Test":"TestAdd","Output":"--- PASS: TestAdd (0.00s)\n"}
{"Action":"pass","Package":"example.com/calc","Test":"TestAdd","Elapsed":0}
{"Action":"run","Package":"example.com/calc","Test":"TestSub"}
{"Action":"output","Package":"example.com/calc","Test":"TestSub","Output":"=== RUN   TestSub\n"}
{"Action":"output","Package":"example.com/calc","Test":"TestSub","Output":"    calc_test.go:12: Sub(3, 1) = 1, want 2\n"}
{"Action":"output","Package":"example.com/calc","Test":"TestSub","Output":"--- FAIL: TestSub (0.00s)\n"}
{"Action":"fail","Package":"example.com/calc","Test":"TestSub","Elapsed":0}
{"Action":"run","Package":"example.com/calc","Test":"TestTable"}
{"Action":"run","Package":"example.com/calc","Test":"TestTable/zero"}
{"Action":"pass","Package":"example.com/calc","Test":"TestTable/zero","Elapsed":0}
{"Action":"run","Package":"example.com/calc","Test":"TestTable/negative"}
{"Action":"output","Package":"example.com/calc","Test":"TestTable/negative","Output":"    calc_test.go:30: got -2, want 2\n"}
{"Action":"fail","Package":"example.com/calc","Test":"TestTable/negative","Elapsed":0}
{"Action":"fail","Package":"example.com/calc","Test":"TestTable","Elapsed":0}
{"Action":"run","Package":"example.com/calc","Test":"TestLater"}
{"Action":"output","Package":"example.com/calc","Test":"TestLater","Output":"    calc_test.go:40: not yet\n"}
{"Action":"skip","Package":"example.com/calc","Test":"TestLater","Elapsed":0}
{"Action":"output","Package":"example.com/calc","Output":"FAIL\n"}
{"Action":"output","Package":"example.com/calc","Output":"FAIL\texample.com/calc\t0.002s\n"}
{"Action":"fail","Package":"example.com/calc","Elapsed":0.002}
{"ImportPath":"example.com/broken [example.com/broken.test]","Action":"build-output","Output":"# example.com/broken [example.com/broken.test]\n"}
{"ImportPath":"example.com/broken [example.com/broken.test]","Action":"build-output","Output":"broken/b_test.go:5:2: undefined: nope\n"}
{"ImportPath":"example.com/broken [example.com/broken.test]","Action":"build-fail"}
{"Action":"start","Package":"example.com/broken"}
{"Action":"output","Package":"example.com/broken","Output":"FAIL\texample.com/broken [build failed]\n"}
{"Action":"fail","Package":"example.com/broken","Elapsed":0,"FailedBuild":"example.com/broken [example.com/broken.test]"}
"##;

    #[test]
    fn leaves_are_counted_and_build_failures_named_by_package() {
        let tally = parse_events(EVENTS);
        assert_eq!((tally.passed, tally.failed, tally.skipped), (2, 3, 1));
        let names: Vec<_> = tally.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["example.com/calc::TestSub", "example.com/calc::TestTable/negative", "example.com/broken"]);
        assert!(tally.failures[0].output.contains("Sub(3, 1) = 1, want 2"));
        assert!(tally.failures[2].output.contains("undefined: nope"));
        let transcript = tally.transcript.unwrap();
        assert!(transcript.contains("--- FAIL: TestSub") && !transcript.contains("\"Action\""));
    }

    #[test]
    fn a_parent_failing_on_its_own_is_a_failure() {
        let events = r#"{"Action":"run","Package":"p","Test":"TestP"}
{"Action":"pass","Package":"p","Test":"TestP/a","Elapsed":0}
{"Action":"output","Package":"p","Test":"TestP","Output":"    p_test.go:9: cleanup failed\n"}
{"Action":"fail","Package":"p","Test":"TestP","Elapsed":0}
{"Action":"fail","Package":"p","Elapsed":0}
"#;
        let tally = parse_events(events);
        assert_eq!((tally.passed, tally.failed), (1, 1));
        assert_eq!(tally.failures[0].name, "p::TestP");
    }
}
