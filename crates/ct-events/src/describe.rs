//! Events as people read them: one line each.

use crate::{CloudEvent, EventData};

/// One line saying what `event` tells, as `claude-temporal watch` and the dashboard show it.
pub fn describe(event: &CloudEvent) -> String {
    match &event.data {
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
    }
}

fn by(decided_by: &Option<String>) -> String {
    decided_by.as_deref().map(|who| format!(" by {who}")).unwrap_or_default()
}

fn comment(comment: &Option<String>) -> String {
    comment.as_deref().filter(|c| !c.is_empty()).map(|c| format!(": {c}")).unwrap_or_default()
}

/// A commit's first ten characters (all of it when it is not the hex it should be).
fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}
