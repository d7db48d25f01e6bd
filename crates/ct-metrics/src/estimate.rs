//! Pre-stage estimates: what earlier runs of a stage cost, read from the metrics file.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use crate::{MetricsLine, SummaryError};

/// How many of a stage's latest runs an estimate looks at: recent runs reflect today's
/// prompts and models better than old ones.
const RECENT_RUNS: usize = 20;

/// A stage's likely cost: the median of its recent runs' costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub usd: f64,
    /// How many runs it is the median of.
    pub runs: u32,
}

/// The cost of every earlier run of each stage name, oldest first.
#[derive(Debug, Clone, Default)]
pub struct StageHistory {
    costs: BTreeMap<String, Vec<f64>>,
}

impl StageHistory {
    /// Reads the metrics file at `path`; a file that does not exist yet is an empty history.
    pub fn read(path: &Path) -> Result<Self, SummaryError> {
        let io_error = |source| SummaryError { path: path.to_owned(), source };
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(err) => return Err(io_error(err)),
        };
        let mut history = Self::default();
        for text in std::io::BufReader::new(file).lines() {
            let text = text.map_err(io_error)?;
            if let Ok(line) = serde_json::from_str::<MetricsLine>(&text) {
                history.costs.entry(line.stage).or_default().push(line.cost);
            }
        }
        Ok(history)
    }

    /// The estimate for a stage named `stage`, when it ran before.
    pub fn estimate(&self, stage: &str) -> Option<Estimate> {
        let costs = self.costs.get(stage)?;
        let mut recent: Vec<f64> = costs.iter().rev().take(RECENT_RUNS).copied().collect();
        recent.sort_by(f64::total_cmp);
        let middle = recent.len() / 2;
        let usd = if recent.len() % 2 == 1 { recent[middle] } else { (recent[middle - 1] + recent[middle]) / 2.0 };
        Some(Estimate { usd, runs: recent.len() as u32 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stage: &str, cost: f64) -> String {
        format!(r#"{{"stage":"{stage}","cost":{cost},"timestamp":"2026-01-01T00:00:00Z"}}"#)
    }

    #[test]
    fn an_estimate_is_the_median_of_the_stage_s_recent_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        // 25 runs of `build`: five old expensive ones fall out of the last 20.
        let mut lines: Vec<String> = (0..5).map(|_| line("build", 9.0)).collect();
        lines.extend((0..20).map(|i| line("build", 0.01 * f64::from(i + 1))));
        lines.push(line("docs", 0.5));
        lines.push(line("docs", 0.7));
        lines.push("not a metrics line".to_owned());
        std::fs::write(&path, lines.join("\n")).unwrap();
        let history = StageHistory::read(&path).unwrap();
        let build = history.estimate("build").unwrap();
        assert_eq!(build.runs, 20);
        assert!((build.usd - 0.105).abs() < 1e-9, "{build:?}");
        assert!((history.estimate("docs").unwrap().usd - 0.6).abs() < 1e-9);
        assert_eq!(history.estimate("deploy"), None);
    }

    #[test]
    fn a_missing_file_is_no_history() {
        let history = StageHistory::read(Path::new("/nonexistent/metrics.jsonl")).unwrap();
        assert_eq!(history.estimate("build"), None);
    }
}
