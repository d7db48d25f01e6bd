//! The metrics file, appended to and synced before any event is acked.
//!
//! Exactly-once lines from at-least-once delivery: each line carries its
//! event id, the ids already in the file are loaded at start-up, and an event
//! whose id is known is acked without writing. A crash can leave a torn last
//! line (written in part, never acked): it is cut off at start-up, and the
//! event comes again and is written whole.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use crate::error::Error;
use ct_metrics::MetricsLine;

pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    written: HashSet<String>,
}

impl Journal {
    pub(crate) async fn open(path: &Path) -> Result<Self, Error> {
        let io_error = |source| Error::MetricsFile { path: path.to_owned(), source };
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(io_error)?;
        }
        let content = match tokio::fs::read(path).await {
            Ok(content) => content,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(io_error(err)),
        };
        let complete = content.iter().rposition(|byte| *byte == b'\n').map_or(0, |i| i + 1);
        if complete < content.len() {
            tracing::warn!(
                path = %path.display(),
                bytes = content.len() - complete,
                "cutting off a torn last line left by a crash; its event will be delivered again"
            );
            let file = OpenOptions::new().write(true).open(path).await.map_err(io_error)?;
            file.set_len(complete as u64).await.map_err(io_error)?;
            file.sync_all().await.map_err(io_error)?;
        }
        let written = event_ids(path, &content[..complete]);
        let file = OpenOptions::new().create(true).append(true).open(path).await.map_err(io_error)?;
        tracing::info!(path = %path.display(), lines_with_ids = written.len(), "metrics file opened");
        Ok(Self { path: path.to_owned(), file, written })
    }

    pub(crate) fn contains(&self, event_id: &str) -> bool {
        self.written.contains(event_id)
    }

    /// Appends `lines` and waits until they are on disk.
    pub(crate) async fn append(&mut self, lines: &[MetricsLine]) -> Result<(), Error> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::with_capacity(lines.len() * 256);
        for line in lines {
            // A struct of strings and numbers: serde_json cannot fail on it.
            serde_json::to_writer(&mut buffer, line).expect("a metrics line serializes");
            buffer.push(b'\n');
        }
        let io_error = |source| Error::MetricsFile { path: self.path.clone(), source };
        self.file.write_all(&buffer).await.map_err(io_error)?;
        self.file.sync_data().await.map_err(io_error)?;
        self.written.extend(lines.iter().filter_map(|line| line.event_id.clone()));
        Ok(())
    }
}

/// Ids of the lines already written; lines that are not ours (or not JSON)
/// are left alone and counted in a warning.
fn event_ids(path: &Path, content: &[u8]) -> HashSet<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        event_id: Option<String>,
    }
    let mut ids = HashSet::new();
    let mut unreadable = 0usize;
    for line in content.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
        match serde_json::from_slice::<IdOnly>(line) {
            Ok(IdOnly { event_id: Some(id) }) => {
                ids.insert(id);
            }
            Ok(IdOnly { event_id: None }) => {}
            Err(_) => unreadable += 1,
        }
    }
    if unreadable > 0 {
        tracing::warn!(path = %path.display(), unreadable, "lines that are not JSON objects are kept but ignored");
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str) -> MetricsLine {
        MetricsLine {
            stage: "implement".into(),
            tokens_used: 10,
            cost: 0.01,
            duration_ms: 5,
            files_modified: 1,
            lines_added: 2,
            lines_removed: 0,
            tests_pass: Some(true),
            error: None,
            timestamp: chrono::Utc::now(),
            workflow_id: "w".into(),
            model: None,
            workflow_kind: Some("develop".into()),
            event_id: Some(id.into()),
        }
    }

    #[tokio::test]
    async fn written_ids_are_known_again_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/metrics.jsonl");
        let mut journal = Journal::open(&path).await.unwrap();
        journal.append(&[line("a"), line("b")]).await.unwrap();
        assert!(journal.contains("a"));
        drop(journal);

        let journal = Journal::open(&path).await.unwrap();
        assert!(journal.contains("a") && journal.contains("b") && !journal.contains("c"));
    }

    #[tokio::test]
    async fn a_torn_last_line_is_cut_off_and_its_id_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut journal = Journal::open(&path).await.unwrap();
        journal.append(&[line("whole")]).await.unwrap();
        drop(journal);
        let torn = serde_json::to_string(&line("torn")).unwrap();
        let mut content = std::fs::read(&path).unwrap();
        content.extend_from_slice(&torn.as_bytes()[..torn.len() - 5]);
        std::fs::write(&path, &content).unwrap();

        let mut journal = Journal::open(&path).await.unwrap();
        assert!(journal.contains("whole") && !journal.contains("torn"));
        journal.append(&[line("torn")]).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        for text_line in text.lines() {
            serde_json::from_str::<MetricsLine>(text_line).unwrap();
        }
    }

    #[tokio::test]
    async fn lines_written_by_others_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let original = "{\"stage\":\"test\",\"tokens_used\":5,\"cost\":0.1,\"duration_ms\":1,\"files_modified\":0,\"lines_added\":0,\"lines_removed\":0,\"tests_pass\":true,\"error\":null,\"timestamp\":\"2025-01-01T00:00:00Z\"}\nnot json\n";
        std::fs::write(&path, original).unwrap();
        let mut journal = Journal::open(&path).await.unwrap();
        journal.append(&[line("new")]).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(original));
        assert_eq!(text.lines().count(), 3);
    }
}
