//! One line of the metrics file: one finished stage.
//!
//! The first ten fields are the original claude-temporal format
//! (`stage, tokens_used, cost, duration_ms, files_modified, lines_added,
//! lines_removed, tests_pass, error, timestamp`); `workflow_id`, `model`,
//! `workflow_kind` and `event_id` are added. `event_id` is how a restarted
//! sink knows which events it has already written.

use chrono::{DateTime, Utc};
use ct_events::CloudEvent;
use ct_events::data::StageOutcome;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsLine {
    pub stage: String,
    /// Input, output and cache tokens together.
    #[serde(default)]
    pub tokens_used: u64,
    /// US dollars, as priced by the agent CLI.
    #[serde(default)]
    pub cost: f64,
    #[serde(default)]
    pub duration_ms: u64,
    /// How many files the stage changed.
    #[serde(default)]
    pub files_modified: u64,
    #[serde(default)]
    pub lines_added: u64,
    #[serde(default)]
    pub lines_removed: u64,
    /// `null` when the stage ran no tests.
    #[serde(default)]
    pub tests_pass: Option<bool>,
    /// Set for a failed stage.
    #[serde(default)]
    pub error: Option<String>,
    /// When the stage finished (the event's time).
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    pub workflow_id: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub workflow_kind: Option<String>,
    #[serde(default)]
    pub event_id: Option<String>,
}

impl MetricsLine {
    pub fn from_stage(event: &CloudEvent, outcome: &StageOutcome) -> Self {
        Self {
            stage: outcome.stage.clone(),
            tokens_used: outcome.tokens.total(),
            cost: outcome.cost_usd,
            duration_ms: outcome.duration_ms,
            files_modified: outcome.files_modified.len() as u64,
            lines_added: outcome.lines_added,
            lines_removed: outcome.lines_removed,
            tests_pass: outcome.tests.map(|tests| tests.all_passed()),
            error: outcome.error.clone(),
            timestamp: event.time,
            workflow_id: outcome.workflow_id.clone(),
            model: outcome.model.clone(),
            workflow_kind: Some(outcome.workflow_kind.clone()),
            event_id: Some(event.id.clone()),
        }
    }

    /// A stage failed when it says so or its tests did not pass.
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.tests_pass == Some(false)
    }
}
