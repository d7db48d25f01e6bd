use std::time::Duration;

use ct_proto::executor::{
    AgentResult, FailureKind, RunAgentRequest, agent_progress, executor_client::ExecutorClient,
    run_agent_event,
};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use super::failure::{self, AGENT_AUTH_FAILED, AGENT_MAX_TURNS, AGENT_UNAVAILABLE};
use super::{AgentReport, AgentTask, EVENT_SOURCE};
use ct_events::data::AgentProgress;
use ct_events::{CloudEvent, EventData, Publisher};

/// Heartbeats go out at least this often even when the agent is quiet, so the
/// server notices a dead worker and delivers cancels promptly.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

pub(super) async fn run(
    channel: Channel,
    events: &Publisher,
    ctx: &ActivityContext,
    task: AgentTask,
) -> Result<AgentReport, ActivityError> {
    let attempt = ctx.info().attempt;
    let request = RunAgentRequest {
        run_id: format!("{}/{attempt}", task.run_id),
        project_path: task.project_path.clone(),
        prompt: task.prompt.clone(),
        model: task.settings.model.clone(),
        max_turns: task.settings.max_turns,
        timeout_ms: task.settings.timeout_secs.saturating_mul(1000),
        max_output_tokens: task.settings.max_output_tokens,
        append_system_prompt: String::new(),
    };
    let mut client = ExecutorClient::new(channel);
    let call = async {
        let mut stream = client
            .run_agent(request)
            .await
            .map_err(|status| failure::from_status("executor", &status, AGENT_UNAVAILABLE))?
            .into_inner();
        let mut ticker = tokio::time::interval(HEARTBEAT_EVERY);
        let mut progress_count: u64 = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    ctx.record_heartbeat(progress_count).await?;
                }
                event = stream.next() => match event {
                    None => return Err(failure::retryable(
                        "executor closed the stream without a result (did it restart?)".to_owned(),
                    )),
                    Some(Err(status)) => {
                        return Err(failure::from_status("executor", &status, AGENT_UNAVAILABLE));
                    }
                    Some(Ok(event)) => match event.event {
                        Some(run_agent_event::Event::Progress(progress)) => {
                            progress_count += 1;
                            publish_progress(events, ctx, &task.run_id, progress.kind.as_ref());
                            log_progress(&task.run_id, progress.kind);
                            ctx.record_heartbeat(progress_count).await?;
                        }
                        Some(run_agent_event::Event::Result(result)) => return Ok(result),
                        None => {}
                    },
                }
            }
        }
    };
    // Dropping the call drops the gRPC stream, which makes the executor kill the agent.
    let result = tokio::select! {
        result = call => result?,
        _ = ctx.cancelled() => return Err(ActivityError::cancelled()),
    };
    into_report(result, attempt)
}

/// `agent.progress` for tool uses and text, so `watch` and any subscriber see
/// what the agent does while it works.
fn publish_progress(events: &Publisher, ctx: &ActivityContext, run_id: &str, kind: Option<&agent_progress::Kind>) {
    let (tool, message) = match kind {
        Some(agent_progress::Kind::ToolUse(tool)) => (Some(tool.name.clone()), tool.summary.clone()),
        Some(agent_progress::Kind::Text(text)) => (None, text.clone()),
        _ => return,
    };
    let Some(workflow_id) = ctx.info().workflow_id.clone() else {
        return;
    };
    let stage = run_id.rsplit_once('/').map_or(run_id, |(_, stage)| stage).to_owned();
    let data = EventData::AgentProgress(AgentProgress { workflow_id, stage, tool, message });
    let event = CloudEvent::new(EVENT_SOURCE, data);
    let trace = super::events::trace_of(ctx, &event.id);
    events.publish_traced(event, trace);
}

fn log_progress(run_id: &str, kind: Option<agent_progress::Kind>) {
    match kind {
        Some(agent_progress::Kind::ToolUse(tool)) => {
            tracing::info!(run_id, tool = %tool.name, summary = %tool.summary, "agent tool use");
        }
        Some(agent_progress::Kind::Text(text)) => tracing::debug!(run_id, %text, "agent text"),
        Some(agent_progress::Kind::Started(started)) => {
            tracing::info!(run_id, session = %started.session_id, model = %started.model, "agent started");
        }
        None => {}
    }
}

fn into_report(result: AgentResult, attempt: u32) -> Result<AgentReport, ActivityError> {
    if !result.success {
        let failure = result.failure.unwrap_or_default();
        let kind = FailureKind::try_from(failure.kind).unwrap_or(FailureKind::Agent);
        let message = format!(
            "agent failed ({}): {} [exit code {}, {} turns, ${:.4} spent]",
            kind.as_str_name().trim_start_matches("FAILURE_KIND_").to_lowercase(),
            failure.message,
            result.exit_code,
            result.num_turns,
            result.total_cost_usd
        );
        return Err(match kind {
            FailureKind::Auth => failure::typed(AGENT_AUTH_FAILED, message, true),
            FailureKind::MaxTurns => failure::typed(AGENT_MAX_TURNS, message, true),
            _ => failure::retryable(message),
        });
    }
    let usage = result.usage.unwrap_or_default();
    let changes = result.changes.unwrap_or_default();
    Ok(AgentReport {
        attempt,
        session_id: result.session_id,
        num_turns: result.num_turns,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cache_read_tokens: usage.cache_read_tokens,
        cache_write_tokens: usage.cache_write_tokens,
        cost_usd: result.total_cost_usd,
        files_changed: changes.files,
        lines_added: changes.lines_added,
        lines_removed: changes.lines_removed,
        result_text: result.result_text,
        model: result.model,
    })
}
