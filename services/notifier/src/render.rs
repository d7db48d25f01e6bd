//! What a person should read about an event: a title, a few labelled facts
//! and, where there is one, the command to run next. Console and Slack both
//! render from this, so they always say the same thing.

use ct_events::data::{StageOutcome, TestCounts, TokenUsage};
use ct_events::{CloudEvent, EventData};

pub(crate) struct Notice {
    pub(crate) title: String,
    pub(crate) facts: Vec<(&'static str, String)>,
    pub(crate) next_step: Option<String>,
}

/// Text that comes from agents or users (errors, summaries) is cut here so
/// one runaway message cannot flood a channel.
const MAX_TEXT: usize = 500;

pub(crate) fn notice(event: &CloudEvent) -> Notice {
    let id = event.workflow_id();
    let mut facts = vec![("Workflow", id.to_owned())];
    let mut next_step = None;
    let title = match &event.data {
        EventData::WorkflowStarted(data) => {
            facts.push(("Kind", data.workflow_kind.clone()));
            facts.push(("Template", data.template.clone()));
            if !data.stages.is_empty() {
                facts.push(("Stages", data.stages.join(" → ")));
            }
            next_step = Some(format!("claude-temporal watch {}", shell_word(id)));
            "Workflow started".to_owned()
        }
        EventData::WorkflowCompleted(data) => {
            facts.push(("Tokens", data.total_tokens.to_string()));
            facts.push(("Cost", dollars(data.total_cost_usd)));
            facts.push(("Duration", duration(data.duration_ms)));
            "Workflow completed".to_owned()
        }
        EventData::WorkflowFailed(data) | EventData::WorkflowCancelled(data) => {
            facts.push(("Cost", dollars(data.total_cost_usd)));
            if let Some(error) = &data.error {
                facts.push(("Reason", clip(error)));
            }
            next_step = Some(format!("claude-temporal status {}", shell_word(id)));
            if matches!(event.data, EventData::WorkflowFailed(_)) {
                "Workflow failed".to_owned()
            } else {
                "Workflow cancelled".to_owned()
            }
        }
        EventData::StageStarted(data) => {
            facts.push(("Stage", data.stage.clone()));
            if data.attempt > 1 {
                facts.push(("Attempt", data.attempt.to_string()));
            }
            format!("Stage {} started", data.stage)
        }
        EventData::StageCompleted(data) => {
            stage_facts(&mut facts, data);
            format!("Stage {} completed", data.stage)
        }
        EventData::StageFailed(data) => {
            stage_facts(&mut facts, data);
            next_step = Some(format!("claude-temporal status {}", shell_word(id)));
            format!("Stage {} failed", data.stage)
        }
        EventData::ApprovalRequested(data) => {
            facts.push(("Stage", data.stage.clone()));
            facts.push(("Cost so far", dollars(data.cost_so_far_usd)));
            if let Some(rest) = data.estimate_rest_usd {
                facts.push(("Estimated rest", format!("~{}", dollars(rest))));
            }
            if let Some(summary) = &data.summary {
                facts.push(("Summary", clip(summary)));
            }
            if let Some(timeout) = data.timeout_secs {
                facts.push(("Times out in", duration(timeout.saturating_mul(1000))));
            }
            next_step = Some(format!(
                "claude-temporal approve {id}   or   claude-temporal reject {id} --reason \"…\"",
                id = shell_word(id)
            ));
            format!("Approval needed: {}", data.stage)
        }
        EventData::ApprovalGranted(data) | EventData::ApprovalRejected(data) => {
            facts.push(("Stage", data.stage.clone()));
            if let Some(who) = &data.decided_by {
                facts.push(("By", clip(who)));
            }
            if let Some(comment) = &data.comment {
                facts.push(("Comment", clip(comment)));
            }
            let verdict = if matches!(event.data, EventData::ApprovalGranted(_)) { "approved" } else { "rejected" };
            format!("Stage {} {verdict}", data.stage)
        }
        EventData::ApprovalTimedOut(data) => {
            facts.push(("Stage", data.stage.clone()));
            facts.push(("Waited", duration(data.waited_secs.saturating_mul(1000))));
            next_step = Some(format!("claude-temporal status {}", shell_word(id)));
            format!("Approval timed out: {}", data.stage)
        }
        EventData::AgentProgress(data) => {
            facts.push(("Stage", data.stage.clone()));
            match &data.tool {
                Some(tool) => format!("{tool}: {}", clip(&data.message)),
                None => clip(&data.message),
            }
        }
        EventData::AgentStopping(data) => {
            facts.push(("Stage", data.stage.clone()));
            format!("Stopping the agent of {}", data.stage)
        }
        EventData::CostUpdated(data) => {
            facts.push(("Stage", data.stage.clone()));
            facts.push(("Tokens", tokens(&data.tokens)));
            facts.push(("Stage cost", dollars(data.stage_cost_usd)));
            facts.push(("Total cost", dollars(data.total_cost_usd)));
            if data.running { "Cost so far".to_owned() } else { "Cost update".to_owned() }
        }
        EventData::TestsCompleted(data) => {
            facts.push(("Stage", data.stage.clone()));
            facts.push(("Tests", test_counts(&data.counts)));
            if !data.failures.is_empty() {
                let shown: Vec<&str> = data.failures.iter().take(5).map(String::as_str).collect();
                let more = data.failures.len().saturating_sub(shown.len());
                let mut failing = shown.join(", ");
                if more > 0 {
                    failing.push_str(&format!(" and {more} more"));
                }
                facts.push(("Failing", clip(&failing)));
            }
            if data.counts.all_passed() {
                format!("Tests passed ({})", data.framework)
            } else {
                format!("Tests failed ({})", data.framework)
            }
        }
        EventData::SnapshotCreated(data) | EventData::SnapshotRestored(data) => {
            if let Some(stage) = &data.stage {
                facts.push(("Stage", stage.clone()));
            }
            facts.push(("Commit", data.commit.chars().take(12).collect()));
            if let Some(reason) = &data.reason {
                facts.push(("Reason", clip(reason)));
            }
            if matches!(event.data, EventData::SnapshotCreated(_)) {
                "Snapshot taken".to_owned()
            } else {
                "Snapshot restored".to_owned()
            }
        }
        EventData::BudgetWarning(data) => {
            facts.push(("Stage", data.stage.clone()));
            facts.push(("Spent", format!("{} of {}", dollars(data.spent_usd), dollars(data.limit_usd))));
            next_step = Some(format!("claude-temporal budget {} --add USD", shell_word(id)));
            format!("{}% of the {} budget used", (data.warn_at * 100.0).round(), data.scope)
        }
        EventData::BudgetExhausted(data) => {
            facts.push(("Stage", data.stage.clone()));
            facts.push(("Spent", format!("{} of {}", dollars(data.spent_usd), dollars(data.limit_usd))));
            let why = match (data.stopped_run, data.estimate_usd) {
                (true, _) => "its agent was stopped at the model response that crossed the limit".to_owned(),
                (false, Some(usd)) => format!("its estimate of {} does not fit in what is left", dollars(usd)),
                (false, None) => "it cannot start within the limit".to_owned(),
            };
            facts.push(("Why", why));
            facts.push(("Times out in", duration(data.timeout_secs.saturating_mul(1000))));
            next_step = Some(format!("claude-temporal budget {} --add USD", shell_word(id)));
            format!("Budget reached: {} waits ({} budget)", data.stage, data.scope)
        }
        EventData::BudgetRaised(data) => {
            facts.push(("Stage", data.stage.clone()));
            facts.push(("New limit", dollars(data.limit_usd)));
            facts.push(("Spent", dollars(data.spent_usd)));
            format!("Budget raised: {} goes on", data.stage)
        }
        EventData::ConflictPredicted(data) => {
            facts.push(("Branches", format!("{} × {}", data.first, data.second)));
            facts.push(("Files", clip(&data.files.join(", "))));
            format!("Conflict predicted between {} and {}", data.first, data.second)
        }
        EventData::IntegrationStarted(data) => {
            facts.push(("Order", clip(&data.order.join(", "))));
            facts.push(("From", data.base.chars().take(12).collect()));
            format!("Integration started: {}", data.branch)
        }
        EventData::ConflictResolved(data) => {
            facts.push(("Files", clip(&data.files.join(", "))));
            format!("Conflict resolved: {}", data.feature)
        }
        EventData::FeatureMerged(data) => {
            facts.push(("Into", data.integration_branch.clone()));
            facts.push(("Commit", data.commit.chars().take(12).collect()));
            format!("{}: {}", data.feature, data.outcome)
        }
        EventData::FeatureHeldBack(data) => {
            facts.push(("Why", clip(&data.reason)));
            format!("Held back: {}", data.feature)
        }
        EventData::IntegrationCompleted(data) => {
            facts.push(("Merged", clip(&data.merged.join(", "))));
            if !data.held_back.is_empty() {
                facts.push(("Held back", clip(&data.held_back.join(", "))));
            }
            facts.push(("Commit", data.commit.chars().take(12).collect()));
            match &data.landed {
                Some(branch) => facts.push(("Landed", format!("{branch} fast-forwarded"))),
                None => next_step = Some(format!("git merge {}", shell_word(&data.branch))),
            }
            format!("Integration done: {}", data.branch)
        }
    };
    Notice { title, facts, next_step }
}

fn stage_facts(facts: &mut Vec<(&'static str, String)>, data: &StageOutcome) {
    facts.push(("Stage", data.stage.clone()));
    if let Some(model) = &data.model {
        facts.push(("Model", model.clone()));
    }
    facts.push(("Tokens", tokens(&data.tokens)));
    facts.push(("Cost", dollars(data.cost_usd)));
    facts.push(("Duration", duration(data.duration_ms)));
    if let Some(tests) = &data.tests {
        facts.push(("Tests", test_counts(tests)));
    }
    if let Some(error) = &data.error {
        facts.push(("Error", clip(error)));
    }
}

fn tokens(usage: &TokenUsage) -> String {
    format!("{} ({} in, {} out)", usage.total(), usage.input_tokens, usage.output_tokens)
}

fn test_counts(counts: &TestCounts) -> String {
    let mut text = format!("{} passed, {} failed", counts.passed, counts.failed);
    if counts.skipped > 0 {
        text.push_str(&format!(", {} skipped", counts.skipped));
    }
    text
}

fn dollars(amount: f64) -> String {
    format!("${amount:.4}")
}

fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0 => format!("{ms} ms"),
        1..60 => format!("{:.1} s", ms as f64 / 1000.0),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The id as one shell word, so a pasted command works whatever the id holds.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/@+=".contains(c));
    if plain { text.to_owned() } else { format!("'{}'", text.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use ct_events::data::ApprovalRequested;

    use super::*;

    #[test]
    fn a_budget_wait_says_why_and_what_to_run() {
        let event = CloudEvent::new(
            "/t",
            EventData::BudgetExhausted(ct_events::data::BudgetExhausted {
                workflow_id: "develop-demo".into(),
                stage: "build".into(),
                scope: "workflow".into(),
                limit_usd: 2.0,
                spent_usd: 2.1,
                stopped_run: true,
                estimate_usd: None,
                timeout_secs: 3600,
            }),
        );
        let notice = notice(&event);
        assert_eq!(notice.title, "Budget reached: build waits (workflow budget)");
        assert!(notice.facts.contains(&("Spent", "$2.1000 of $2.0000".to_owned())));
        assert_eq!(notice.next_step.as_deref(), Some("claude-temporal budget develop-demo --add USD"));
    }

    #[test]
    fn an_approval_request_says_what_to_run() {
        let event = CloudEvent::new(
            "/t",
            EventData::ApprovalRequested(ApprovalRequested {
                workflow_id: "develop-demo".into(),
                run_id: "run-1".into(),
                stage: "implement".into(),
                summary: Some("3 files changed".into()),
                cost_so_far_usd: 0.5,
                timeout_secs: Some(3600),
                estimate_rest_usd: Some(1.5),
            }),
        );
        let notice = notice(&event);
        assert_eq!(notice.title, "Approval needed: implement");
        assert!(notice.facts.contains(&("Cost so far", "$0.5000".to_owned())));
        assert!(notice.facts.contains(&("Times out in", "1h00m".to_owned())));
        assert!(notice.facts.contains(&("Estimated rest", "~$1.5000".to_owned())));
        let next = notice.next_step.unwrap();
        assert!(next.contains("claude-temporal approve develop-demo"), "{next}");
        assert!(next.contains("claude-temporal reject develop-demo"), "{next}");
    }

    #[test]
    fn ids_and_long_text_are_made_safe() {
        assert_eq!(shell_word("develop-x_1"), "develop-x_1");
        assert_eq!(shell_word("it's here"), r"'it'\''s here'");
        assert_eq!(clip(&"x".repeat(600)).chars().count(), MAX_TEXT + 1);
        assert_eq!(duration(250), "250 ms");
        assert_eq!(duration(12_300), "12.3 s");
        assert_eq!(duration(125_000), "2m05s");
    }
}
