//! `StageActivities::run_agent` as the executor serves it from the agents task queue: the
//! process that runs the agent is the one that heartbeats for it, so a cancel, a lost lease or
//! a kill through the control API reaches the agent directly, and the attempt never outlives
//! Temporal's view of it.

use std::sync::Arc;

use ct_contracts::failure;
use ct_contracts::{AgentReport, AgentTask, names};
use ct_domain::spend::AttemptOutcome;
use ct_events::data::AgentProgress as ProgressEvent;
use ct_events::{CloudEvent, EventData, Publisher};
use ct_fleet::{Interruption, Lost};
use ct_fleet::{RunInfo, RunRegistry};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tracing::Instrument;

use crate::checkpoint_store::CheckpointStore;
use crate::live::LiveFigures;
use crate::messages::{Progress, RunEvent, RunResult};
use crate::report::{failure_of, into_report};
use crate::stop_notices::StopNotices;
use crate::{Agents, EVENT_SOURCE};

pub(crate) struct AgentActivities {
    pub(crate) agents: Agents,
    pub(crate) events: Publisher,
    pub(crate) runs: RunRegistry,
    /// Where attempts leave checkpoints for a retry on any executor to resume from.
    pub(crate) checkpoints: CheckpointStore,
    /// This executor's Temporal identity, reported with every result.
    pub(crate) identity: String,
    /// This executor's build, reported with every result.
    pub(crate) build_id: String,
    /// Where a cancel announced by the workflow reaches its run before the next heartbeat.
    pub(crate) stop_notices: StopNotices,
    /// Fires when the executor begins to shut down: runs it stops then are handed back, lost
    /// with it rather than failed.
    pub(crate) stopping: tokio_util::sync::CancellationToken,
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
        #[cfg(feature = "upgrade-rehearsal")]
        if task.rehearsal.is_none() {
            let message =
                "this executor is the upgrade rehearsal's build: a run of another build reached it".to_owned();
            return Err(failure::non_retryable(failure::AGENT_FAILED, message));
        }
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
        let workflow_id = info.workflow_id.clone().unwrap_or_default();
        let _hearing_cancels = self.stop_notices.watch(&workflow_id, task.stage(), guard.nudges()).await;
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
            Err(interruption) => return Err(interruption.into_activity_error(&who, self.stopping.is_cancelled())),
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
                Ok(into_report(*result, attempt, &self.identity, &self.build_id, &live, snapshot))
            }
            Ok(Ended::Result(result)) => {
                record_run(&tracing::Span::current(), &result);
                let (attempts, details) = live.failed(&result);
                guard.report_last(details).await;
                Err(failure_of(*result, attempts, task.failures_allowed))
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
            Ok(Ended::Silent) => {
                // A failure of the agent's own, not a lost run: its figures say so.
                let (attempts, details) = live.stopped(AttemptOutcome::Failed);
                guard.report_last(details).await;
                let message = format!("{who}: the agent's run ended without a result");
                Err(failure::with_attempts(failure::AGENT_FAILED, message, false, attempts))
            }
            Err(interruption) => {
                tracing::warn!(?interruption, "stopped the agent before it finished");
                let stopping = self.stopping.is_cancelled();
                let outcome = match interruption {
                    Interruption::Cancelled if stopping => AttemptOutcome::Lost,
                    Interruption::Cancelled | Interruption::Lost(Lost::Cancelled) => AttemptOutcome::Cancelled,
                    Interruption::Killed | Interruption::Lost(_) => AttemptOutcome::Lost,
                };
                let (attempts, details) = live.stopped(outcome);
                // An attempt a retry may resume says, in its last heartbeat, that it did not finish.
                guard.report_last(if unfinished { live.unfinished() } else { details }).await;
                Err(interruption.into_activity_error_with(&who, stopping, serde_json::to_value(&attempts).ok()))
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
