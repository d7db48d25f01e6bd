//! `StageActivities::run_agent` as the executor serves it from the agents task queue: the
//! process that runs the agent is the one that heartbeats for it, so a cancel, a lost lease or
//! a kill through the control API reaches the agent directly, and the attempt never outlives
//! Temporal's view of it.

use std::sync::Arc;

use ct_contracts::failure::{self, AGENT_AUTH_FAILED, AGENT_MAX_TURNS};
use ct_contracts::{AgentReport, AgentTask, SnapshotTask, names};
use ct_domain::git::Snapshot;
use ct_domain::spend::{AttemptOutcome, AttemptSpend};
use ct_events::data::{AgentProgress as ProgressEvent, Snapshot as SnapshotEvent};
use ct_events::{CloudEvent, EventData, Publisher};
use ct_fleet::{Interruption, Lost};
use ct_fleet::{RunInfo, RunRegistry};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tracing::Instrument;

use crate::checkpoint_store::CheckpointStore;
use crate::live::LiveFigures;
use crate::messages::{Checkpoint, Failure, FailureKind, Progress, RunEvent, RunRequest, RunResult};
use crate::{Agents, EVENT_SOURCE};

pub(crate) struct AgentActivities {
    pub(crate) agents: Agents,
    pub(crate) events: Publisher,
    pub(crate) runs: RunRegistry,
    /// Where attempts leave checkpoints for a retry on any executor to resume from.
    pub(crate) checkpoints: CheckpointStore,
    /// This executor's Temporal identity, reported with every result.
    pub(crate) identity: String,
}

#[activities]
impl AgentActivities {
    #[activity(name = names::RUN_AGENT)]
    pub(crate) async fn run_agent(
        self: Arc<Self>,
        ctx: ActivityContext,
        task: AgentTask,
    ) -> Result<AgentReport, ActivityError> {
        // Attempts of earlier schedulings of this run count too: the number names the attempt's
        // transcript and tells a retry (which starts from the snapshot) from a first run.
        let attempt = ctx.info().attempt + task.earlier_attempts;
        let run_id = format!("{}/{attempt}", task.run_id);
        // The GenAI conventions' agent span; what the run used is recorded when it ends.
        let span = tracing::info_span!(
            "invoke_agent",
            otel.name = "invoke_agent claude-code",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            run_id = %run_id,
            gen_ai.operation.name = "invoke_agent",
            gen_ai.provider.name = "anthropic",
            gen_ai.agent.name = "claude-code",
            gen_ai.request.model = %task.settings.model,
            gen_ai.response.model = tracing::field::Empty,
            gen_ai.conversation.id = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            gen_ai.usage.cache_read.input_tokens = tracing::field::Empty,
            gen_ai.usage.cache_creation.input_tokens = tracing::field::Empty,
            ct.agent.cost_usd = tracing::field::Empty,
            ct.agent.turns = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        self.run(&ctx, task, run_id, attempt).instrument(span).await
    }
}

impl AgentActivities {
    async fn run(
        &self,
        ctx: &ActivityContext,
        task: AgentTask,
        run_id: String,
        attempt: u32,
    ) -> Result<AgentReport, ActivityError> {
        let info = ctx.info();
        let ticket = self.runs.register(RunInfo::started_now(
            run_id.clone(),
            info.workflow_id.clone().unwrap_or_default(),
            info.activity_id.clone(),
            attempt,
            task.project_path.clone(),
        ));
        // Heartbeats start before anything else: Temporal's heartbeat clock runs from the
        // attempt's start, and restoring a snapshot or starting the CLI can take seconds.
        let guard = ct_fleet::Guard::new(ctx, &ticket);
        let mut live = LiveFigures::new(ctx, &task, attempt);
        // Before the first heartbeat, which would otherwise replace the previous attempt's.
        guard.report(live.starting());
        let who = format!("executor {}", self.identity);
        // One activity's attempts share it (see CHECKPOINT_BUCKET); a new scheduling of the run
        // starts afresh.
        let key = format!("{}/{}", info.workflow_run_id.as_deref().unwrap_or("standalone"), info.activity_id);
        let started = guard.run(self.prepare(&task, run_id, attempt, &key, &mut live)).await;
        let (mut run, snapshot) = match started {
            Ok(started) => started?,
            Err(interruption) => return Err(interruption.into_activity_error(&who)),
        };
        let uploads = self.checkpoints.uploads(key);
        let waiting = async {
            loop {
                match run.events.recv().await {
                    Some(RunEvent::Progress(progress)) => {
                        match &progress {
                            Progress::Usage(usage) => {
                                guard.report(live.update(usage, &self.events));
                                if live.over_budget() {
                                    return Ended::OverBudget;
                                }
                            }
                            Progress::Started { session_id, .. } => live.started(session_id),
                            _ => {}
                        }
                        self.publish_progress(ctx, &task, &progress);
                        log_progress(progress);
                    }
                    Some(RunEvent::Checkpoint(checkpoint)) => uploads.offer(checkpoint),
                    Some(RunEvent::Result(result)) => return Ended::Result(result),
                    None => return Ended::Silent,
                }
            }
        };
        let outcome = guard.run(waiting).await;
        // Whatever ended the wait, the agent is dead before the attempt is given back.
        run.stop().await;
        let unfinished = resumable(&outcome);
        uploads.finish(unfinished);
        match outcome {
            Ok(Ended::Result(result)) if result.succeeded() => {
                record_run(&tracing::Span::current(), &result);
                Ok(into_report(*result, attempt, &self.identity, &live, snapshot))
            }
            Ok(Ended::Result(result)) => {
                record_run(&tracing::Span::current(), &result);
                let (attempts, details) = live.failed(&result);
                guard.report_last(details).await;
                Err(failure_of(*result, attempts))
            }
            Ok(Ended::OverBudget) => {
                let spent = live.run_cost_usd();
                let (attempts, details) = live.stopped(AttemptOutcome::OverBudget);
                guard.report_last(details).await;
                let budget = task.budget.unwrap_or_else(|| unreachable!("only a run with a budget goes over it"));
                tracing::warn!(spent, allowance = budget.allowance_usd, "stopped the agent at its budget");
                let message = format!(
                    "{who}: stopped the agent at the model response that took its run to ${spent:.4}, past the \
                     ${:.4} it may spend under the {} budget of ${:.4}",
                    budget.allowance_usd,
                    budget.scope.as_str(),
                    budget.limit_usd
                );
                Err(failure::with_attempts(failure::AGENT_OVER_BUDGET, message, true, attempts))
            }
            Ok(Ended::Silent) => Err(failure::retryable(format!("{who}: the agent's run ended without a result"))),
            Err(interruption) => {
                tracing::warn!(?interruption, "stopped the agent before it finished");
                let outcome = match interruption {
                    Interruption::Cancelled | Interruption::Lost(Lost::Cancelled) => AttemptOutcome::Cancelled,
                    Interruption::Killed | Interruption::Lost(_) => AttemptOutcome::Lost,
                };
                let (attempts, details) = live.stopped(outcome);
                // An attempt a retry may resume says, in its last heartbeat, that it did not finish.
                guard.report_last(if unfinished { live.unfinished() } else { details }).await;
                Err(interruption.into_activity_error_with(&who, serde_json::to_value(&attempts).ok()))
            }
        }
    }

    /// A retry of an attempt that did not finish (its executor died, lost Temporal or handed it
    /// back) resumes the checkpoint it left under `key`, on the work tree as it was then; any
    /// other retry starts over from the stage's snapshot. Then starts the agent.
    async fn prepare(
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
            append_system_prompt: String::new(),
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

    /// `agent.progress` for tool uses and text, straight from the process that sees them.
    fn publish_progress(&self, ctx: &ActivityContext, task: &AgentTask, progress: &Progress) {
        let (tool, message) = match progress {
            Progress::ToolUse { name, summary } => (Some(name.clone()), summary.clone()),
            Progress::Text(text) => (None, text.clone()),
            _ => return,
        };
        let Some(workflow_id) = ctx.info().workflow_id.clone() else {
            return;
        };
        let stage = task.stage().to_owned();
        let data = EventData::AgentProgress(ProgressEvent { workflow_id, stage, tool, message });
        self.events.publish(CloudEvent::new(EVENT_SOURCE, data));
    }
}

/// Whether a retry may resume from the attempt's last checkpoint: only when the run was left
/// unfinished (lost to Temporal, or handed back at shutdown). A run that ended, was cancelled
/// by its workflow or killed on purpose starts over.
fn resumable(outcome: &Result<Ended, Interruption>) -> bool {
    matches!(outcome, Err(Interruption::Cancelled | Interruption::Lost(Lost::Gone | Lost::Unreachable(_))))
}

/// How waiting for the agent ended, short of an interruption.
enum Ended {
    Result(Box<RunResult>),
    /// A model response took the run past its budget.
    OverBudget,
    /// The run's events stopped without a result.
    Silent,
}

/// What the run used and how it ended, on its `invoke_agent` span.
fn record_run(span: &tracing::Span, result: &RunResult) {
    let usage = result.usage.unwrap_or_default();
    span.record("gen_ai.response.model", result.model.as_str())
        .record("gen_ai.conversation.id", result.session_id.as_str())
        .record("gen_ai.usage.input_tokens", usage.input)
        .record("gen_ai.usage.output_tokens", usage.output)
        .record("gen_ai.usage.cache_read.input_tokens", usage.cache_read)
        .record("gen_ai.usage.cache_creation.input_tokens", usage.cache_write)
        .record("ct.agent.cost_usd", result.total_cost_usd)
        .record("ct.agent.turns", result.num_turns);
    if let Some(failure) = &result.failure {
        span.record("otel.status_code", "ERROR").record("error.type", failure.kind.name());
    }
}

fn log_progress(progress: Progress) {
    match progress {
        Progress::ToolUse { name, summary } => tracing::info!(tool = %name, %summary, "agent tool use"),
        Progress::Text(text) => tracing::debug!(%text, "agent text"),
        Progress::Started { session_id, model } => tracing::info!(session = %session_id, %model, "agent started"),
        Progress::Usage(usage) => tracing::debug!(
            responses = usage.responses,
            input_tokens = usage.tokens.input,
            output_tokens = usage.tokens.output,
            cost_usd = ?usage.cost_usd,
            "agent usage so far"
        ),
    }
}

/// A failed run as the activity's failure, with every attempt's figures (this one's last).
fn failure_of(result: RunResult, attempts: Vec<AttemptSpend>) -> ActivityError {
    let Failure { kind, message } = result
        .failure
        .unwrap_or(Failure { kind: FailureKind::Agent, message: "the run reported no failure".to_owned() });
    let message = format!(
        "agent failed ({}): {message} [exit code {}, {} turns, ${:.4} spent]",
        kind.name(),
        result.exit_code,
        result.num_turns,
        result.total_cost_usd
    );
    match kind {
        FailureKind::UsageLimit if result.usage_limit_resets_at > 0 => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let resets_in = std::time::Duration::from_secs(result.usage_limit_resets_at).saturating_sub(now);
            failure::usage_limited(message, resets_in, attempts)
        }
        FailureKind::Auth => failure::with_attempts(AGENT_AUTH_FAILED, message, true, attempts),
        FailureKind::MaxTurns => failure::with_attempts(AGENT_MAX_TURNS, message, true, attempts),
        _ => failure::with_attempts(failure::AGENT_FAILED, message, false, attempts),
    }
}

fn into_report(
    result: RunResult,
    attempt: u32,
    identity: &str,
    live: &LiveFigures<'_>,
    snapshot: Option<Snapshot>,
) -> AgentReport {
    let usage = result.usage.unwrap_or_default();
    let changes = result.changes.unwrap_or_default();
    AgentReport {
        attempt,
        earlier: live.earlier(),
        session_id: result.session_id,
        resumed: live.is_resumed(),
        num_turns: result.num_turns,
        input_tokens: usage.input,
        output_tokens: usage.output,
        cache_read_tokens: usage.cache_read,
        cache_write_tokens: usage.cache_write,
        cost_usd: result.total_cost_usd,
        files_changed: changes.files,
        lines_added: changes.lines_added,
        lines_removed: changes.lines_removed,
        result_text: result.result_text,
        model: result.model,
        executor_id: identity.to_owned(),
        confinement: result.confinement,
        refused: result.refused,
        snapshot,
    }
}
