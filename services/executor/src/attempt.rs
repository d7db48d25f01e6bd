//! How an attempt starts: a retry of an attempt that did not finish resumes its checkpoint, any
//! other retry starts over from the stage's snapshot (taken by the first attempt), and then the
//! agent is started.

use ct_contracts::{AgentTask, SnapshotTask};
use ct_domain::git::Snapshot;
use ct_events::data::Snapshot as SnapshotEvent;
use ct_events::{CloudEvent, EventData};
use temporalio_sdk::activities::ActivityError;

use crate::EVENT_SOURCE;
use crate::activity::AgentActivities;
use crate::live::LiveFigures;
use crate::messages::{Checkpoint, RunRequest};

impl AgentActivities {
    /// A retry of an attempt that did not finish (its executor died, lost Temporal or handed it
    /// back) resumes the checkpoint it left under `key`, on the work tree as it was then; any
    /// other retry starts over from the stage's snapshot. Then starts the agent.
    pub(crate) async fn prepare(
        &self,
        task: &AgentTask,
        run_id: String,
        attempt: u32,
        key: &str,
        live: &mut LiveFigures<'_>,
    ) -> Result<(crate::RunHandle, Option<Snapshot>), ActivityError> {
        let resume = match attempt > 1 && live.previous_unfinished() {
            true => self.resumable(task, key).await,
            false => None,
        };
        if resume.is_some() {
            live.resumed();
        }
        let snapshot = match &task.snapshot {
            Some(wanted) => Some(self.stage_snapshot(task, wanted, attempt, resume.is_none()).await?),
            None => {
                if resume.is_none()
                    && let Some(reference) = task.restore_on_retry.as_ref().filter(|_| attempt > 1)
                {
                    self.put_back(task, reference).await?;
                }
                None
            }
        };
        let request = RunRequest {
            run_id,
            project_path: task.project_path.clone(),
            prompt: task.prompt.clone(),
            model: task.settings.model.clone(),
            max_turns: task.settings.max_turns,
            timeout_ms: task.settings.timeout_secs.saturating_mul(1000),
            max_output_tokens: task.settings.max_output_tokens,
            resume,
        };
        let run = self.agents.start(request).await.map_err(|err| {
            tracing::warn!(%err, "agent run refused");
            err.into_activity_error()
        })?;
        Ok((run, snapshot))
    }

    /// The stage's snapshot: taken by the run's very first attempt; found again by any later
    /// one, and put back unless it resumes a checkpoint instead. A later attempt whose first
    /// never got as far as taking it takes it.
    async fn stage_snapshot(
        &self,
        task: &AgentTask,
        wanted: &SnapshotTask,
        attempt: u32,
        put_back: bool,
    ) -> Result<Snapshot, ActivityError> {
        let project = self.project(task)?;
        // The very first attempt never reuses a snapshot: one left by an earlier workflow of
        // the same id would hold another tree.
        if attempt > 1 || task.earlier_attempts > 0 {
            let found =
                crate::workspace::find_snapshot(project.clone(), wanted.workflow_id.clone(), wanted.number).await?;
            if let Some(taken) = found {
                // The attempt that took it may have died before its event left: said again,
                // under the same id, which the stream keeps once.
                self.snapshot_created(wanted, &taken);
                if put_back {
                    self.put_back(task, &taken.reference).await?;
                }
                return Ok(taken);
            }
        }
        let taken = crate::workspace::take_snapshot(project, wanted.clone()).await?;
        self.snapshot_created(wanted, &taken);
        Ok(taken)
    }

    /// `snapshot.created` for the stage's snapshot, with an id of the snapshot's own.
    fn snapshot_created(&self, wanted: &SnapshotTask, taken: &Snapshot) {
        let created = SnapshotEvent {
            workflow_id: wanted.workflow_id.clone(),
            stage: Some(wanted.stage.clone()),
            commit: taken.commit.clone(),
            reason: Some(format!("before stage `{}`", wanted.stage)),
        };
        let id = format!("{}/snapshot-{}/created", wanted.workflow_id, wanted.number);
        self.events.publish(CloudEvent::new(EVENT_SOURCE, EventData::SnapshotCreated(created)).with_id(id));
    }

    /// Puts the stage's snapshot back before a retry, so that a failed attempt's half-done
    /// edits never reach the next one.
    async fn put_back(&self, task: &AgentTask, reference: &str) -> Result<(), ActivityError> {
        let restored = crate::workspace::restore(self.project(task)?, reference.to_owned()).await?;
        tracing::info!(
            snapshot = %reference,
            written = restored.written.len(),
            removed = restored.removed.len(),
            "restored the stage's snapshot before retrying"
        );
        Ok(())
    }

    fn project(&self, task: &AgentTask) -> Result<std::path::PathBuf, ActivityError> {
        self.agents.config().roots.check(&task.project_path).map_err(|e| crate::Error::from(e).into_activity_error())
    }

    /// The checkpoint an earlier attempt left under `key`, with the work tree put back as it
    /// holds it; `None` (and a warning that says why) when the run has to start over.
    async fn resumable(&self, task: &AgentTask, key: &str) -> Option<Checkpoint> {
        let checkpoint = match self.checkpoints.get(key).await {
            Ok(Some(checkpoint)) => checkpoint,
            Ok(None) => return None,
            Err(err) => {
                tracing::warn!(%err, "cannot resume the lost attempt's conversation; starting over from the stage's snapshot");
                return None;
            }
        };
        let restored = match self.project(task) {
            Ok(project) => crate::workspace::restore(project, checkpoint.tree.clone()).await,
            Err(err) => Err(err),
        };
        match restored {
            Ok(restored) => {
                tracing::info!(
                    session = %checkpoint.session_id,
                    responses = checkpoint.responses,
                    written = restored.written.len(),
                    removed = restored.removed.len(),
                    "resuming the lost attempt's conversation from its last checkpoint"
                );
                Some(checkpoint)
            }
            Err(err) => {
                tracing::warn!(
                    session = %checkpoint.session_id,
                    err = ?err,
                    "cannot put the work tree back as the checkpoint holds it; starting over from the stage's snapshot"
                );
                None
            }
        }
    }
}
