//! How a workflow's status reads on a terminal.

use std::fmt::Write as _;

use ct_domain::spend::AttemptOutcome;
use ct_domain::{StageState, WorkflowStatus};

/// The stages whose agent or tests ran on another build than the workflow's, said after it
/// (a pinned workflow has none; an unversioned fleet mid-upgrade may).
fn ran_elsewhere(status: &WorkflowStatus, build: &str) -> String {
    fn other<'a>(ran: &'a Option<String>, build: &str) -> Option<&'a str> {
        ran.as_deref().filter(|ran| *ran != build)
    }
    let stages: Vec<String> = status
        .stages
        .iter()
        .filter_map(|stage| match (other(&stage.executor_build, build), other(&stage.test_runner_build, build)) {
            (None, None) => None,
            (Some(agent), None) => Some(format!("{} (agent on {agent})", stage.name)),
            (None, Some(tests)) => Some(format!("{} (tests on {tests})", stage.name)),
            (Some(agent), Some(tests)) => Some(format!("{} (agent on {agent}, tests on {tests})", stage.name)),
        })
        .collect();
    if stages.is_empty() { String::new() } else { format!("; other builds ran {}", stages.join(", ")) }
}

pub(crate) fn status_table(status: &WorkflowStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "workflow  {}", status.workflow_id);
    let _ = writeln!(out, "state     {}", json_name(&status.state));
    let _ = writeln!(out, "project   {}", status.project_path);
    if !status.features.is_empty() {
        let _ = writeln!(out, "features  {}", status.features.join("; "));
    }
    if let Some(trace_id) = &status.trace_id {
        let _ = writeln!(out, "trace     {trace_id}");
    }
    for conflict in &status.predicted_conflicts {
        let more = if conflict.files_truncated { ", and more" } else { "" };
        let _ = writeln!(
            out,
            "conflict  {} × {} would conflict in {}{more}",
            conflict.first,
            conflict.second,
            conflict.files.join(", ")
        );
    }
    if let Some(integration) = &status.integration {
        out.push_str(&integration_lines(integration));
    }
    if let Some(build) = &status.build {
        let _ = writeln!(out, "build     {build}{}", ran_elsewhere(status, build));
    }
    let _ = writeln!(
        out,
        "\n{:<22} {:<18} {:>3} {:>9} {:>9} {:>10} {:>7} {:>9}",
        "STAGE", "STATE", "TRY", "IN TOK", "OUT TOK", "COST $", "TESTS", "TIME"
    );
    for stage in &status.stages {
        let tests = match (stage.tests_passed, stage.tests_failed) {
            (Some(passed), Some(failed)) => format!("{passed}/{}", passed + failed),
            _ => "-".to_owned(),
        };
        let time = if stage.state == StageState::Pending {
            "-".to_owned()
        } else {
            format!("{:.1}s", stage.duration_ms as f64 / 1000.0)
        };
        let _ = writeln!(
            out,
            "{:<22} {:<18} {:>3} {:>9} {:>9} {:>10.4} {:>7} {:>9}",
            stage.name,
            json_name(&stage.state),
            stage.attempts,
            stage.input_tokens + stage.cache_read_tokens + stage.cache_write_tokens,
            stage.output_tokens,
            stage.cost_usd,
            tests,
            time
        );
    }
    let _ = writeln!(out, "\ntotal     {} tokens, ${:.4}", status.total_tokens, status.total_cost_usd);
    for stage in status
        .stages
        .iter()
        .filter(|stage| stage.attempt_history.iter().any(|a| a.outcome != AttemptOutcome::Completed))
    {
        let attempts: Vec<String> = stage
            .attempt_history
            .iter()
            .map(|a| {
                let resumed = if a.resumed { ", resumed" } else { "" };
                format!("{} {} (${:.4}{resumed})", a.attempt, json_name(&a.outcome), a.cost_usd)
            })
            .collect();
        let lost = match stage.lost_runs {
            0 => String::new(),
            1 => " (1 run lost with its executor, not counted)".to_owned(),
            n => format!(" ({n} runs lost with their executors, not counted)"),
        };
        let _ = writeln!(out, "attempts  {}: {}{lost}", stage.name, attempts.join(", "));
    }
    for (stage, live) in status.stages.iter().filter_map(|stage| Some((stage, stage.live.as_ref()?))) {
        let cost = match live.cost_usd {
            Some(usd) => format!("${usd:.4}"),
            None => format!("cost unknown (no price for {})", live.model),
        };
        let _ = writeln!(
            out,
            "running   {}: {} tokens, {cost} so far in attempt {} ({} model responses)",
            stage.name,
            live.tokens.total(),
            live.attempt,
            live.responses
        );
    }
    if let Some(baseline) = &status.test_baseline
        && baseline.failed > 0
    {
        let _ = writeln!(
            out,
            "baseline  {} test(s) failed before the first stage, not blamed on any: {}",
            baseline.failed,
            baseline.failing.join(", ")
        );
    }
    if let Some(stage) = &status.awaiting_approval {
        let _ = writeln!(
            out,
            "waiting   for approval of `{stage}`: claude-temporal approve {id}  |  claude-temporal reject {id} --reason ...",
            id = status.workflow_id
        );
    }
    let estimates: Vec<String> = status
        .stages
        .iter()
        .filter(|stage| stage.state == StageState::Pending)
        .filter_map(|stage| {
            let estimate = stage.estimate?;
            Some(format!("{} ~${:.4} ({} earlier runs)", stage.name, estimate.usd, estimate.runs))
        })
        .collect();
    if !estimates.is_empty() {
        let _ = writeln!(out, "estimate  {}", estimates.join(", "));
    }
    if let Some(line) = budget_wait_line(status) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(wait) = &status.usage_limit {
        let _ = writeln!(
            out,
            "waiting   usage limit until {}: stage `{}` runs again then ({})",
            wait.until, wait.stage, wait.message
        );
    }
    if let Some(progress) = &status.iteration {
        let best = progress.best.map_or_else(String::new, |best| format!(", best so far: {best}"));
        let runs = match progress.continued {
            0 => String::new(),
            n => format!(" (in {} Temporal runs: the loop continued as new to keep its history short)", n + 1),
        };
        let _ = writeln!(out, "iteration {} of {}{best}{runs}", progress.current, progress.max);
        if let Some(reason) = &progress.stop_reason {
            let _ = writeln!(out, "stopped   {reason}");
        }
    }
    if let Some(error) = &status.error {
        let _ = writeln!(out, "error     {error}");
    }
    out
}

/// What a workflow waiting for budget waits for, and the command that ends the wait.
pub(crate) fn budget_wait_line(status: &WorkflowStatus) -> Option<String> {
    let wait = status.budget.as_ref()?.waiting.as_ref()?;
    let why = match (wait.stopped_run, wait.estimate_usd) {
        (true, _) => "its agent was stopped at the model response that crossed".to_owned(),
        (false, Some(usd)) => format!("its estimate of ${usd:.4} does not fit in"),
        (false, None) => "it cannot start within".to_owned(),
    };
    Some(format!(
        "waiting   for budget: stage `{}`: {why} the {} budget of ${:.4} (${:.4} spent); \
         claude-temporal budget {} --add USD (times out after {}s)",
        wait.stage,
        wait.scope.as_str(),
        wait.limit_usd,
        wait.spent_usd,
        status.workflow_id,
        wait.timeout_secs
    ))
}

/// The name a state has in `--json` output, so tables and JSON agree.
pub(crate) fn json_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// One line saying what the workflow is doing now, for progress during waits.
pub(crate) fn progress_line(status: &WorkflowStatus) -> String {
    let done = status.stages.iter().filter(|s| s.state == StageState::Completed).count();
    let waiting_for_budget = status.budget.as_ref().and_then(|b| b.waiting.as_ref());
    let now = match (&status.awaiting_approval, &status.current_stage) {
        (None, Some(stage)) if let Some(wait) = &status.usage_limit => {
            format!("{stage}: waiting: usage limit until {}", wait.until)
        }
        (None, Some(stage)) if waiting_for_budget.is_some() => {
            format!("{stage}: awaiting budget (claude-temporal budget {} --add USD)", status.workflow_id)
        }
        (Some(stage), _) => format!("awaiting approval of `{stage}` (claude-temporal approve {})", status.workflow_id),
        (None, Some(stage)) => {
            let state =
                status.stages.iter().find(|s| &s.name == stage).map(|s| json_name(&s.state)).unwrap_or_default();
            format!("{stage}: {state}")
        }
        (None, None) => json_name(&status.state),
    };
    format!("[{done}/{}] {now} | {} tokens, ${:.4}", status.stages.len(), status.total_tokens, status.total_cost_usd)
}

/// Writes to stdout, ignoring a closed pipe: `claude-temporal config show | head` is fine.
pub(crate) fn print_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// The integration branch, what became of each feature, and the landing.
pub(crate) fn integration_lines(integration: &ct_domain::integration::IntegrationStatus) -> String {
    use ct_domain::integration::Landing;
    let mut out = String::new();
    let at = integration.commit.as_deref().map(|c| format!(" at {}", &c[..c.len().min(12)])).unwrap_or_default();
    let _ = writeln!(out, "integration  {}{at}", integration.branch);
    for feature in &integration.features {
        let _ = writeln!(out, "  {:<36} {}", feature.branch, feature.describe());
    }
    if let Some(worktree) = &integration.worktree {
        let _ = writeln!(out, "  worktree {worktree}");
    }
    match &integration.landing {
        Some(Landing::Landed { branch, commit }) => {
            let _ = writeln!(out, "  landed: {branch} fast-forwarded to {}", &commit[..commit.len().min(12)]);
        }
        Some(Landing::Refused { reason, command }) => {
            let _ = writeln!(out, "  not landed: {reason}; to merge it yourself: {command}");
        }
        None => {}
    }
    if let Some(error) = &integration.error {
        let _ = writeln!(out, "  stopped: {error}");
    }
    out
}
