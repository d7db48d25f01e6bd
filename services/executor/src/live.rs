//! A run's figures while it streams: into the attempt's heartbeats (what `status` shows) and
//! out as `cost.updated` events, at most one a second.

use std::time::{Duration, Instant};

use ct_contracts::AgentTask;
use ct_domain::spend::{LiveSpend, Tokens};
use ct_events::data::{CostUpdated, TokenUsage};
use ct_events::{CloudEvent, EventData, Publisher};
use ct_proto::executor::UsageSoFar;

use crate::activity::EVENT_SOURCE;

const EVENTS_AT_MOST_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct LiveFigures<'a> {
    task: &'a AgentTask,
    workflow_id: Option<String>,
    attempt: u32,
    last_event: Option<Instant>,
}

impl<'a> LiveFigures<'a> {
    pub(crate) fn new(task: &'a AgentTask, workflow_id: Option<String>, attempt: u32) -> Self {
        Self { task, workflow_id, attempt, last_event: None }
    }

    /// The attempt's figures after `usage`, as heartbeat details; publishes them as
    /// `cost.updated` unless one went out less than a second ago.
    pub(crate) fn update(&mut self, usage: &UsageSoFar, events: &Publisher) -> serde_json::Value {
        let tokens = usage.tokens.unwrap_or_default();
        let spend = LiveSpend {
            attempt: self.attempt,
            model: usage.model.clone(),
            tokens: Tokens {
                input: tokens.input_tokens,
                output: tokens.output_tokens,
                cache_read: tokens.cache_read_tokens,
                cache_write: tokens.cache_write_tokens,
            },
            cost_usd: usage.cost_usd,
            responses: usage.responses,
        };
        if let Some(workflow_id) = &self.workflow_id
            && self.last_event.is_none_or(|at| at.elapsed() >= EVENTS_AT_MOST_EVERY)
        {
            self.last_event = Some(Instant::now());
            events.publish(CloudEvent::new(EVENT_SOURCE, EventData::CostUpdated(self.event(workflow_id, &spend))));
        }
        serde_json::to_value(&spend).unwrap_or_default()
    }

    fn event(&self, workflow_id: &str, spend: &LiveSpend) -> CostUpdated {
        let stage_cost_usd = spend.cost_usd.unwrap_or(0.0);
        CostUpdated {
            workflow_id: workflow_id.to_owned(),
            stage: stage_of(&self.task.run_id).to_owned(),
            model: Some(spend.model.clone()).filter(|m| !m.is_empty()),
            tokens: TokenUsage {
                input_tokens: spend.tokens.input,
                output_tokens: spend.tokens.output,
                cache_read_tokens: spend.tokens.cache_read,
                cache_write_tokens: spend.tokens.cache_write,
            },
            stage_cost_usd,
            total_cost_usd: self.task.spent_before_usd + stage_cost_usd,
            running: true,
            priced: spend.cost_usd.is_some(),
        }
    }
}

/// The stage (or feature branch) of a run id `<workflow id>/<stage>`.
pub(crate) fn stage_of(run_id: &str) -> &str {
    run_id.rsplit_once('/').map_or(run_id, |(_, stage)| stage)
}
