//! Events on disk until the stream has them, so that a process that dies (or is killed) with
//! events still unpublished loses none: it finds them in its outbox when it starts again and
//! publishes them first. One JSON line per event, synced before `publish` returns; emptied
//! whenever everything written has been stored. The stream's duplicate window (the event id is
//! `Nats-Msg-Id`) drops the copies of events that were stored just before a crash.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;

use crate::event::CloudEvent;

/// One line of the outbox, as read back: `{"traceparent": ..., "event": <CloudEvents JSON>}`.
#[derive(Deserialize)]
struct Entry {
    /// The event's CloudEvents JSON, exactly as it was written.
    event: Box<serde_json::value::RawValue>,
    /// The W3C `traceparent` of the span it was published from, if any.
    #[serde(default)]
    traceparent: Option<String>,
}

/// An event read back from the outbox of an earlier run.
pub(crate) struct Pending {
    pub(crate) event: CloudEvent,
    pub(crate) traceparent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot open the event outbox {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error(
        "the event outbox {path} is in use by another process; give each worker its own \
         (CT_EVENTS_OUTBOX)"
    )]
    Locked { path: PathBuf },
}

struct State {
    file: File,
    /// Events written since the process started, those read back included.
    written: u64,
}

pub(crate) struct Outbox {
    path: PathBuf,
    state: Mutex<State>,
}

impl Outbox {
    /// Opens (or creates) the outbox at `path`, locked for this process, and returns the events
    /// an earlier run left in it, in order. Lines that do not parse (a write cut short by a
    /// crash) are skipped with a warning.
    pub(crate) fn open(path: &Path) -> Result<(Self, Vec<Pending>), OutboxError> {
        let open_error = |source| OutboxError::Open { path: path.to_owned(), source };
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(open_error)?;
        }
        let file = OpenOptions::new().create(true).read(true).append(true).open(path).map_err(open_error)?;
        if file.try_lock().is_err() {
            return Err(OutboxError::Locked { path: path.to_owned() });
        }
        let mut pending = Vec::new();
        for line in BufReader::new(&file).lines() {
            let line = line.map_err(open_error)?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<Entry>(&line).map_err(|err| err.to_string()).and_then(|entry| {
                let event = CloudEvent::from_json(entry.event.get().as_bytes()).map_err(|err| err.to_string())?;
                Ok(Pending { event, traceparent: entry.traceparent })
            });
            match parsed {
                Ok(entry) => pending.push(entry),
                Err(err) => tracing::warn!(path = %path.display(), %err, "skipping a damaged outbox line"),
            }
        }
        if !pending.is_empty() {
            tracing::info!(path = %path.display(), events = pending.len(), "publishing the events an earlier run left");
        }
        let written = pending.len() as u64;
        Ok((Self { path: path.to_owned(), state: Mutex::new(State { file, written }) }, pending))
    }

    /// Writes `event` and syncs it to disk; only then is it safe to say it was emitted.
    pub(crate) fn append(&self, event: &CloudEvent, traceparent: Option<String>) -> std::io::Result<()> {
        // The event's own JSON goes in as it is: no second encoding of it.
        let traceparent = serde_json::to_string(&traceparent).map_err(std::io::Error::other)?;
        let mut line = format!("{{\"traceparent\":{traceparent},\"event\":").into_bytes();
        line.extend(event.to_json());
        line.extend(b"}\n");
        let mut state = self.lock();
        state.file.write_all(&line)?;
        state.file.sync_data()?;
        state.written += 1;
        Ok(())
    }

    /// Empties the outbox when `stored` (events stored since the process started) covers every
    /// event written to it; a later append may have raced ahead, and then it waits.
    pub(crate) fn settle(&self, stored: u64) {
        let state = self.lock();
        if stored < state.written {
            return;
        }
        if let Err(err) = state.file.set_len(0).and_then(|()| state.file.sync_data()) {
            tracing::warn!(path = %self.path.display(), %err, "cannot empty the event outbox; its events will be republished (and deduplicated)");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
