//! The runs a service has in flight, for the control API: listed, counted, killed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

/// What the control API tells about a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    pub workflow_id: String,
    pub activity_id: String,
    pub attempt: u32,
    pub project_path: String,
    pub started_unix_ms: u64,
}

impl RunInfo {
    pub fn started_now(
        run_id: String,
        workflow_id: String,
        activity_id: String,
        attempt: u32,
        project_path: String,
    ) -> Self {
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self { run_id, workflow_id, activity_id, attempt, project_path, started_unix_ms }
    }
}

struct Entry {
    info: RunInfo,
    kill: CancellationToken,
}

#[derive(Clone, Default)]
pub struct RunRegistry {
    // Keyed by a sequence number: two attempts may carry the same run id for a moment.
    runs: Arc<Mutex<BTreeMap<u64, Entry>>>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

/// Held while a run is in flight; dropping it takes the run off the list. Its token is
/// cancelled when someone kills the run through the control API.
pub struct RunTicket {
    key: u64,
    registry: RunRegistry,
    kill: CancellationToken,
}

impl RunTicket {
    pub fn killed(&self) -> &CancellationToken {
        &self.kill
    }
}

impl Drop for RunTicket {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.key);
    }
}

impl RunRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        // A panic while holding this lock leaves the map itself intact.
        self.runs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn register(&self, info: RunInfo) -> RunTicket {
        let key = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let kill = CancellationToken::new();
        self.lock().insert(key, Entry { info, kill: kill.clone() });
        RunTicket { key, registry: self.clone(), kill }
    }

    pub fn list(&self) -> Vec<RunInfo> {
        self.lock().values().map(|entry| entry.info.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Kills every run with this id; false when there was none.
    pub fn kill(&self, run_id: &str) -> bool {
        let runs = self.lock();
        let mut killed = false;
        for entry in runs.values().filter(|entry| entry.info.run_id == run_id) {
            entry.kill.cancel();
            killed = true;
        }
        killed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_listed_while_its_ticket_lives_and_can_be_killed() {
        let registry = RunRegistry::default();
        let info = RunInfo::started_now("wf/stage/1".into(), "wf".into(), "3".into(), 1, "/p".into());
        let ticket = registry.register(info.clone());
        assert_eq!(registry.list(), vec![info]);
        assert!(!registry.kill("other"));
        assert!(registry.kill("wf/stage/1"));
        assert!(ticket.killed().is_cancelled());
        drop(ticket);
        assert!(registry.is_empty());
    }
}
