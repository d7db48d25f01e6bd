//! What `claude-temporal metrics` prints: the metrics file summed up.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::line::MetricsLine;

/// The metrics file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the metrics file {path}: {source}")]
pub struct SummaryError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Sums over a set of stage lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub stages: u64,
    /// Stages with an error or failing tests.
    pub failures: u64,
    pub tokens_used: u64,
    pub cost: f64,
    pub duration_ms: u64,
}

impl Totals {
    fn add(&mut self, line: &MetricsLine) {
        self.stages += 1;
        self.failures += u64::from(line.failed());
        self.tokens_used += line.tokens_used;
        self.cost += line.cost;
        self.duration_ms += line.duration_ms;
    }
}

/// One failed stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub workflow_id: String,
    pub stage: String,
    pub timestamp: DateTime<Utc>,
    pub error: Option<String>,
    pub tests_pass: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub total: Totals,
    pub by_workflow: BTreeMap<String, Totals>,
    pub by_stage: BTreeMap<String, Totals>,
    /// Oldest first, as in the file.
    pub failures: Vec<Failure>,
    /// Lines that are not metrics lines (hand edits, other tools).
    pub skipped_lines: u64,
}

/// Sums the metrics file at `path`, counting only stages that finished at
/// or after `since` when given. A missing file is an error naming the path.
pub fn summarize(path: &Path, since: Option<SystemTime>) -> Result<Summary, SummaryError> {
    let io_error = |source| SummaryError { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let since = since.map(DateTime::<Utc>::from);
    let mut summary = Summary::default();
    for text in std::io::BufReader::new(file).lines() {
        let text = text.map_err(io_error)?;
        if text.trim().is_empty() {
            continue;
        }
        let Ok(line) = serde_json::from_str::<MetricsLine>(&text) else {
            summary.skipped_lines += 1;
            continue;
        };
        if since.is_some_and(|since| line.timestamp < since) {
            continue;
        }
        summary.total.add(&line);
        summary.by_workflow.entry(line.workflow_id.clone()).or_default().add(&line);
        summary.by_stage.entry(line.stage.clone()).or_default().add(&line);
        if line.failed() {
            summary.failures.push(Failure {
                workflow_id: line.workflow_id,
                stage: line.stage,
                timestamp: line.timestamp,
                error: line.error,
                tests_pass: line.tests_pass,
            });
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sums_per_workflow_and_stage_and_lists_failures_since_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let lines = [
            r#"{"stage":"scaffold","tokens_used":100,"cost":0.5,"duration_ms":1000,"files_modified":2,"lines_added":10,"lines_removed":0,"tests_pass":null,"error":null,"timestamp":"2025-01-01T00:00:00Z","workflow_id":"old"}"#,
            r#"{"stage":"scaffold","tokens_used":200,"cost":1.0,"duration_ms":2000,"files_modified":1,"lines_added":5,"lines_removed":1,"tests_pass":true,"error":null,"timestamp":"2025-06-01T00:00:00Z","workflow_id":"a","event_id":"1"}"#,
            r#"{"stage":"implement","tokens_used":300,"cost":2.0,"duration_ms":3000,"files_modified":3,"lines_added":50,"lines_removed":4,"tests_pass":false,"error":null,"timestamp":"2025-06-01T00:01:00Z","workflow_id":"a","event_id":"2"}"#,
            "garbage",
            r#"{"stage":"implement","tokens_used":50,"cost":0.25,"duration_ms":500,"files_modified":0,"lines_added":0,"lines_removed":0,"tests_pass":null,"error":"agent exited 1","timestamp":"2025-06-02T00:00:00Z","workflow_id":"b","event_id":"3"}"#,
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();

        let all = summarize(&path, None).unwrap();
        assert_eq!(all.total.stages, 4);
        assert_eq!(all.skipped_lines, 1);

        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_740_000_000); // 2025-02-19
        let recent = summarize(&path, Some(since)).unwrap();
        assert_eq!(recent.total.stages, 3);
        assert_eq!(recent.total.tokens_used, 550);
        assert!((recent.total.cost - 3.25).abs() < 1e-9);
        assert_eq!(recent.by_workflow["a"].stages, 2);
        assert!((recent.by_workflow["a"].cost - 3.0).abs() < 1e-9);
        assert_eq!(recent.by_stage["implement"].failures, 2);
        assert_eq!(recent.by_stage["scaffold"].failures, 0);
        let failed: Vec<_> = recent.failures.iter().map(|f| (f.workflow_id.as_str(), f.error.is_some())).collect();
        assert_eq!(failed, vec![("a", false), ("b", true)]);
        assert!(!recent.by_workflow.contains_key("old"));
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = summarize(Path::new("/nonexistent/metrics.jsonl"), None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/metrics.jsonl"), "{err}");
    }
}
