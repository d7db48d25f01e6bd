//! `claude-temporal watch ID`: a workflow live from its events on NATS.

use std::process::ExitCode;

use ct_events::{CloudEvent, EventData, STREAM_NAME};
use futures::StreamExt;

use crate::cli::WatchArgs;
use crate::error::CliError;

pub(super) async fn run(config: &ct_config::Config, args: WatchArgs) -> anyhow::Result<ExitCode> {
    let nats_url = &config.settings.nats_url;
    let login =
        ct_events::NatsLogin::load(config.settings.nats_user.as_deref(), config.settings.nats_password_file.as_deref())
            .map_err(|err| CliError::BadInput(err.to_string()))?;
    let client = ct_events::connect(nats_url, login.as_ref(), "claude-temporal-watch").await.map_err(|err| {
        CliError::Unreachable(format!("cannot connect to NATS at {}: {err}", ct_events::redact_credentials(nats_url)))
    })?;
    let jetstream = async_nats::jetstream::new(client);
    let mut events = ct_events::watch(&jetstream, STREAM_NAME, Some(&args.id)).await.map_err(|err| {
        CliError::Unreachable(format!(
            "cannot read events of `{}`: {err}. Is NATS with JetStream up (`claude-temporal dev status`)?",
            args.id
        ))
    })?;
    if !args.json {
        eprintln!("watching {} (events from the start; Ctrl-C to stop)", args.id);
    }
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                eprintln!("skipped: {err}");
                continue;
            }
        };
        if args.json {
            println!("{}", String::from_utf8_lossy(&event.to_json()));
        } else {
            println!("{}", render(&event));
        }
        match &event.data {
            EventData::WorkflowCompleted(_) => return Ok(ExitCode::SUCCESS),
            EventData::WorkflowFailed(_) | EventData::WorkflowCancelled(_) => {
                return Ok(ExitCode::from(1));
            }
            _ => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One readable line per event.
fn render(event: &CloudEvent) -> String {
    let time = event.time.format("%H:%M:%S");
    let line = match &event.data {
        EventData::WorkflowStarted(d) => format!(
            "workflow started: {} on {} ({} stages: {})",
            d.workflow_kind,
            d.project_path,
            d.stages.len(),
            d.stages.join(" → ")
        ),
        EventData::WorkflowCompleted(d) => format!(
            "workflow completed: {} tokens, ${:.4}, {:.1}s",
            d.total_tokens,
            d.total_cost_usd,
            d.duration_ms as f64 / 1000.0
        ),
        EventData::WorkflowFailed(d) | EventData::WorkflowCancelled(d) => format!(
            "workflow {}: {} (${:.4} spent)",
            event.event_type().as_str().trim_start_matches("workflow."),
            d.error.as_deref().unwrap_or("no reason given"),
            d.total_cost_usd
        ),
        EventData::StageStarted(d) if d.attempt > 1 => format!("▶ {} (attempt {})", d.stage, d.attempt),
        EventData::StageStarted(d) => format!("▶ {}", d.stage),
        EventData::StageCompleted(d) => format!(
            "✔ {}: {} tokens, ${:.4}, {} files, +{}/-{}{}",
            d.stage,
            d.tokens.total(),
            d.cost_usd,
            d.files_modified.len(),
            d.lines_added,
            d.lines_removed,
            d.tests.as_ref().map(|t| format!(", tests {}/{}", t.passed, t.passed + t.failed)).unwrap_or_default()
        ),
        EventData::StageFailed(d) => format!("✘ {}: {}", d.stage, d.error.as_deref().unwrap_or("failed")),
        EventData::ApprovalRequested(d) => format!(
            "⏸ {} awaits approval (${:.4} so far): claude-temporal approve {id}  |  claude-temporal reject {id} --reason ...",
            d.stage,
            d.cost_so_far_usd,
            id = d.workflow_id
        ),
        EventData::ApprovalGranted(d) => format!("approved {}{}{}", d.stage, by(&d.decided_by), comment(&d.comment)),
        EventData::ApprovalRejected(d) => format!("rejected {}{}{}", d.stage, by(&d.decided_by), comment(&d.comment)),
        EventData::ApprovalTimedOut(d) => format!("approval of {} timed out after {}s", d.stage, d.waited_secs),
        EventData::AgentProgress(d) => match &d.tool {
            Some(tool) => format!("  {}: {tool} {}", d.stage, d.message),
            None => format!("  {}: {}", d.stage, d.message),
        },
        EventData::AgentStopping(d) => format!("■ {}: stopping the agent (the workflow is being cancelled)", d.stage),
        EventData::CostUpdated(d) => format!(
            "  {}: {} tokens, ${:.4} (workflow ${:.4}){}",
            d.stage,
            d.tokens.total(),
            d.stage_cost_usd,
            d.total_cost_usd,
            match (d.running, d.priced) {
                (true, true) => " so far",
                (true, false) => " so far, leaving out a model the price table lacks",
                (false, _) => "",
            }
        ),
        EventData::TestsCompleted(d) => format!(
            "  {}: {} {} passed, {} failed, {} skipped{}",
            d.stage,
            d.framework,
            d.counts.passed,
            d.counts.failed,
            d.counts.skipped,
            if d.failures.is_empty() { String::new() } else { format!(" ({})", d.failures.join(", ")) }
        ),
        EventData::SnapshotCreated(d) => {
            format!("  snapshot {} {}", d.stage.as_deref().unwrap_or("-"), short(&d.commit))
        }
        EventData::SnapshotRestored(d) => {
            format!("  restored snapshot {} {}", d.stage.as_deref().unwrap_or("-"), short(&d.commit))
        }
        EventData::BudgetWarning(d) => format!(
            "  budget {}: ${:.4} of the {} limit ${:.4} spent ({:.0}%)",
            d.stage,
            d.spent_usd,
            d.scope,
            d.limit_usd,
            d.warn_at * 100.0
        ),
        EventData::BudgetExhausted(d) => format!(
            "  budget {}: the {} limit ${:.4} is reached (${:.4} spent); waiting for `claude-temporal budget {} --add USD`",
            d.stage,
            d.scope,
            d.limit_usd,
            d.spent_usd,
            event.workflow_id()
        ),
        EventData::BudgetRaised(d) => {
            format!("  budget {}: {} limit raised to ${:.4}; going on", d.stage, d.scope, d.limit_usd)
        }
        EventData::ConflictPredicted(d) => {
            let more = if d.files_truncated { ", and more" } else { "" };
            format!("⚠ conflict predicted: {} × {} in {}{more}", d.first, d.second, d.files.join(", "))
        }
        EventData::IntegrationStarted(d) => {
            format!("⇢ integration into {}: {}", d.branch, d.order.join(", "))
        }
        EventData::ConflictResolved(d) => {
            format!("  conflict resolved: {} in {}", d.feature, d.files.join(", "))
        }
        EventData::FeatureMerged(d) => {
            format!("✔ {}: {} ({})", d.feature, d.outcome, short(&d.commit))
        }
        EventData::FeatureHeldBack(d) => format!("✖ {} held back: {}", d.feature, d.reason),
        EventData::IntegrationCompleted(d) => {
            let landed =
                d.landed.as_deref().map(|branch| format!("; {branch} fast-forwarded to it")).unwrap_or_default();
            format!(
                "■ integration {} at {}: {} merged, {} held back{landed}",
                d.branch,
                short(&d.commit),
                d.merged.len(),
                d.held_back.len()
            )
        }
    };
    format!("{time} {line}")
}

fn by(decided_by: &Option<String>) -> String {
    decided_by.as_deref().map(|who| format!(" by {who}")).unwrap_or_default()
}

fn comment(comment: &Option<String>) -> String {
    comment.as_deref().filter(|c| !c.is_empty()).map(|c| format!(": {c}")).unwrap_or_default()
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}
