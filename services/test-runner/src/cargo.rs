//! `cargo test`, read from libtest's plain output (its JSON format needs nightly).

use std::collections::BTreeMap;

use crate::process::{self, Invocation};
use crate::report::{Outcome, Tally};
use crate::{Error, RunContext};

pub(crate) async fn run(ctx: &RunContext<'_>) -> Result<Outcome, Error> {
    let invocation = Invocation {
        program: "cargo".into(),
        args: vec!["test".into(), "--no-fail-fast".into()],
        dir: ctx.dir.to_path_buf(),
        tool: "cargo",
        install_hint: "install Rust with rustup (https://rustup.rs) for the user running the test-runner".into(),
    };
    let finished = process::run(&invocation, ctx).await?;
    let mut tally = parse_libtest(&String::from_utf8_lossy(&finished.stdout));
    if finished.exit_code != 0 && !finished.timed_out && tally.failed == 0 {
        tally.notes.push(if tally.passed + tally.skipped == 0 {
            format!(
                "cargo test exited with {} before any test reported a result: the build most likely \
                 failed (0 failed tests does not mean success); cargo's output follows",
                finished.exit_code
            )
        } else {
            format!(
                "cargo test exited with {} although no test failed: a target may have failed to build \
                 or a test binary crashed; cargo's output follows",
                finished.exit_code
            )
        });
    }
    Ok(Outcome { command: invocation.command_line(), finished, tally })
}

/// Counts come from each test binary's `test result:` line; a binary cut off
/// before its summary (timeout, crash) is counted from its `test … ...` lines.
fn parse_libtest(stdout: &str) -> Tally {
    let mut tally = Tally::default();
    let mut pending = Counts::default();
    let mut failed_names = Vec::new();
    let mut sections: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut current_section: Option<&str> = None;

    for line in stdout.lines() {
        if let Some(summary) = line.strip_prefix("test result: ") {
            current_section = None;
            let counts = Counts::from_summary(summary);
            tally.passed += counts.passed;
            tally.failed += counts.failed;
            tally.skipped += counts.ignored;
            pending = Counts::default();
        } else if let Some((name, result)) = test_line(line) {
            match result {
                "ok" => pending.passed += 1,
                "FAILED" => {
                    pending.failed += 1;
                    failed_names.push(name);
                }
                r if r.starts_with("ignored") => pending.ignored += 1,
                _ => {}
            }
        } else if let Some(name) = line.strip_prefix("---- ").and_then(|rest| rest.strip_suffix(" stdout ----")) {
            current_section = Some(name);
            sections.entry(name).or_default();
        } else if line == "failures:" {
            current_section = None;
        } else if let Some(name) = current_section {
            sections.entry(name).or_default().push(line);
        }
    }
    tally.passed += pending.passed;
    tally.failed += pending.failed;
    tally.skipped += pending.ignored;

    for name in failed_names {
        let output = sections.get(name).map(|lines| lines.join("\n")).unwrap_or_default();
        tally.fail(name, output.trim());
    }
    tally
}

/// `test tests::adds ... ok` → (`tests::adds`, `ok`).
fn test_line(line: &str) -> Option<(&str, &str)> {
    line.strip_prefix("test ")?.rsplit_once(" ... ")
}

#[derive(Default)]
struct Counts {
    passed: u32,
    failed: u32,
    ignored: u32,
}

impl Counts {
    /// `FAILED. 1 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.07s`
    fn from_summary(summary: &str) -> Self {
        let mut counts = Self::default();
        let after_status = summary.split_once(". ").map_or(summary, |(_, rest)| rest);
        for part in after_status.split(';') {
            let mut words = part.split_whitespace();
            let (Some(number), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<u32>() else {
                continue;
            };
            match what {
                "passed" => counts.passed = number,
                "failed" => counts.failed = number,
                "ignored" => counts.ignored = number,
                _ => {}
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real output of `cargo test --no-fail-fast` (Rust 1.95) for a crate with
    /// unit tests, an integration test and a doctest.
    const OUTPUT: &str = "
running 4 tests
test tests::later ... ignored, later
test tests::later2 ... ignored
test tests::ok1 ... ok
test tests::bad ... FAILED

failures:

---- tests::bad stdout ----
some output

thread 'tests::bad' (15652) panicked at src/lib.rs:8:49:
assertion `left == right` failed: math is broken
  left: 3
 right: 4
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    tests::bad

test result: FAILED. 1 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.07s


running 1 test
test it_ok ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s


running 1 test
test src/lib.rs - add (line 1) ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

all doctests ran in 0.28s; merged doctests compilation took 0.28s
";

    #[test]
    fn results_are_summed_over_every_test_binary() {
        let tally = parse_libtest(OUTPUT);
        assert_eq!((tally.passed, tally.failed, tally.skipped), (3, 1, 2));
        assert_eq!(tally.failures.len(), 1);
        let failure = &tally.failures[0];
        assert_eq!(failure.name, "tests::bad");
        assert!(failure.output.starts_with("some output"), "{}", failure.output);
        assert!(failure.output.contains("math is broken\n  left: 3\n right: 4"));
        assert!(!failure.output.contains("failures:"));
    }

    #[test]
    fn a_binary_cut_off_before_its_summary_is_counted_from_its_lines() {
        let cut = "\nrunning 3 tests\ntest a ... ok\ntest b ... FAILED\n";
        let tally = parse_libtest(cut);
        assert_eq!((tally.passed, tally.failed, tally.skipped), (1, 1, 0));
        assert_eq!(tally.failures[0].name, "b");
    }
}
