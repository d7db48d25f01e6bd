//! Turning a runner's parsed outcome into the `TestReport` the workflow gets, with bounded sizes.

use ct_contracts::TestReport;

use crate::detect::Framework;

/// One failed test, as the parsers find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestFailure {
    pub(crate) name: String,
    /// An excerpt of what it printed.
    pub(crate) output: String,
}

use crate::process::Finished;

/// A failing test's name, in bytes.
const MAX_NAME_BYTES: usize = 512;
/// Per-failure output: enough for the assertion and the lines around it.
pub(crate) const FAILURE_EXCERPT: usize = 2 * 1024;
/// `output_tail`, not counting the notes put before it.
const OUTPUT_TAIL: usize = 4 * 1024;
/// The most read of a runner's report file (JUnit XML, Jest JSON), which the tests could
/// have replaced by anything.
pub(crate) const MAX_REPORT_BYTES: u64 = 64 << 20;
/// A run with thousands of failures must still fit in one Temporal payload (the server refuses
/// those over 2 MiB by default); the counts stay exact.
const MAX_LISTED_FAILURES: usize = 100;

/// What a framework module read from its runner's output.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) passed: u32,
    pub(crate) failed: u32,
    pub(crate) skipped: u32,
    pub(crate) failures: Vec<TestFailure>,
    /// Said first in `output_tail`: what the counts mean when the run was unusual.
    pub(crate) notes: Vec<String>,
    /// Human-readable output to tail instead of the raw streams (go's JSON events).
    pub(crate) transcript: Option<String>,
}

/// A runner's report file, read as hostile input: never through a link, never a device,
/// never more than [`MAX_REPORT_BYTES`].
pub(crate) fn read_report(file: &std::path::Path) -> std::io::Result<String> {
    let bytes = ct_confine::bounded::read_file(file, MAX_REPORT_BYTES)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl Tally {
    pub(crate) fn fail(&mut self, name: impl Into<String>, output: &str) {
        // Names come from report files the tests could have written: one must not be a novel.
        let mut name = name.into();
        if name.len() > MAX_NAME_BYTES {
            name.truncate(floor_boundary(&name, MAX_NAME_BYTES));
        }
        self.failures.push(TestFailure { name, output: excerpt(output, FAILURE_EXCERPT) });
    }
}

/// A finished run with its command line and parsed outcome.
pub(crate) struct Outcome {
    pub(crate) command: String,
    pub(crate) finished: Finished,
    pub(crate) tally: Tally,
}

pub(crate) fn report(framework: Framework, outcome: Outcome, timeout_ms: u64) -> TestReport {
    let Outcome { command, finished, mut tally } = outcome;
    if finished.timed_out {
        tally.notes.insert(
            0,
            format!(
                "timed out after {timeout_ms} ms: the process group was killed; the counts cover only \
                 the tests that had reported a result by then"
            ),
        );
    }
    if let Some(limit) = finished.output_over {
        tally.notes.insert(
            0,
            format!(
                "the tests printed more than {limit} bytes on one stream, the most the test-runner \
                 reads: the process group was killed; the counts cover only the tests that had \
                 reported a result by then"
            ),
        );
    }
    tally.failures.sort_by(|a, b| a.name.cmp(&b.name));
    let failures_truncated = tally.failures.len() > MAX_LISTED_FAILURES;
    if failures_truncated {
        let more = tally.failures.len() - MAX_LISTED_FAILURES;
        tally.failures.truncate(MAX_LISTED_FAILURES);
        tally.notes.push(format!("{more} more failures are not listed (the first {MAX_LISTED_FAILURES} by name are)"));
    }
    let raw = tally.transcript.take().unwrap_or_else(|| String::from_utf8_lossy(&finished.combined).into_owned());
    let mut output_tail = String::new();
    for note in &tally.notes {
        output_tail.push_str("note: ");
        output_tail.push_str(note);
        output_tail.push('\n');
    }
    if !output_tail.is_empty() {
        output_tail.push('\n');
    }
    let printed = strip_ansi(&raw);
    let kept = tail(&printed, OUTPUT_TAIL);
    let output_truncated = kept.len() < printed.len();
    output_tail.push_str(kept);

    TestReport {
        framework: framework.name().to_owned(),
        command,
        passed: tally.passed,
        failed: tally.failed,
        skipped: tally.skipped,
        failures: tally.failures.into_iter().map(|f| (f.name, f.output)).collect(),
        failures_truncated,
        duration_ms: u64::try_from(finished.duration.as_millis()).unwrap_or(u64::MAX),
        exit_code: finished.exit_code,
        timed_out: finished.timed_out,
        output_tail,
        output_truncated,
        // Set by the caller, which knows how the run was confined and by whom.
        confinement: String::new(),
        runner_id: String::new(),
        runner_build: String::new(),
    }
}

/// The start and the end of `text` (assertion messages tend to be at one end,
/// the failing line at the other), at most about `max` bytes.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let text = strip_ansi(text);
    let text = text.trim_end();
    if text.len() <= max {
        return text.to_owned();
    }
    let head = &text[..floor_boundary(text, max / 2)];
    let tail = tail(text, max / 2);
    let cut = text.len() - head.len() - tail.len();
    format!("{head}\n[… {cut} bytes trimmed …]\n{tail}")
}

/// The last `max` bytes of `text`, from a line start when one is near.
pub(crate) fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let rest = &text[start..];
    match rest.find('\n') {
        Some(newline) if newline < 200 => &rest[newline + 1..],
        _ => rest,
    }
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Drops terminal colour codes (CSI sequences), which some runners emit even
/// without a terminal and which read as noise anywhere else.
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(excerpt("assert 1 == 2\n", 100), "assert 1 == 2");
    }

    #[test]
    fn long_text_keeps_its_head_and_tail() {
        let text = format!("HEAD{}TAIL", "é".repeat(3000));
        let cut = excerpt(&text, 1000);
        assert!(cut.starts_with("HEAD") && cut.ends_with("TAIL"), "{cut}");
        assert!(cut.len() < 1100 && cut.contains("bytes trimmed"));
    }

    #[test]
    fn the_tail_starts_at_a_line_when_it_can() {
        let text = format!("{}\nlast line\n", "x".repeat(50));
        assert_eq!(tail(&text, 15), "last line\n");
    }

    #[test]
    fn colour_codes_are_removed() {
        assert_eq!(strip_ansi("\u{1b}[31mFAIL\u{1b}[0m x"), "FAIL x");
    }
}
