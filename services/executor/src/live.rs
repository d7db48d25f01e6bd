//! A run's figures while it streams: into the attempt's heartbeats (what `status` shows, and
//! what the next attempt inherits) and out as `cost.updated` events, at most one a second.

use std::time::{Duration, Instant};

use crate::messages::{RunResult, UsageSoFar};
use ct_contracts::AgentTask;
use ct_domain::spend::{AttemptOutcome, AttemptSpend, LiveSpend, RunHeartbeat};
use ct_events::data::{CostUpdated, TokenUsage};
use ct_events::{CloudEvent, EventData, Publisher};
use temporalio_sdk::activities::ActivityContext;

use crate::EVENT_SOURCE;

const EVENTS_AT_MOST_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct LiveFigures<'a> {
    task: &'a AgentTask,
    workflow_id: Option<String>,
    attempt: u32,
    /// The run's attempts before this one.
    earlier: Vec<AttemptSpend>,
    /// The previous attempt was still running when last heard of: it died without a word, or
    /// was handed back unfinished, so there may be a checkpoint to resume.
    previous_unfinished: bool,
    /// This attempt's figures after its last ended response.
    last: Option<LiveSpend>,
    /// The agent's conversation, once its CLI announced it.
    session_id: String,
    /// The attempt continues an earlier one's conversation.
    resumed: bool,
    last_event: Option<Instant>,
}

impl<'a> LiveFigures<'a> {
    pub(crate) fn new(ctx: &ActivityContext, task: &'a AgentTask, attempt: u32) -> Self {
        let (earlier, previous_unfinished) = earlier_attempts(ctx, task);
        Self {
            task,
            workflow_id: ctx.info().workflow_id.clone(),
            attempt,
            earlier,
            previous_unfinished,
            last: None,
            session_id: String::new(),
            resumed: false,
            last_event: None,
        }
    }

    /// What the run's heartbeats carry before its first model response ends: this attempt, with
    /// nothing spent yet, so that a next attempt counts it as lost if it dies now.
    pub(crate) fn starting(&self) -> serde_json::Value {
        heartbeat(&self.earlier, Some(self.current()))
    }

    /// This attempt's figures so far: those after its last ended response, else none yet.
    fn current(&self) -> LiveSpend {
        self.last.clone().unwrap_or_else(|| LiveSpend {
            attempt: self.attempt,
            model: self.task.settings.model.clone(),
            tokens: Default::default(),
            cost_usd: Some(0.0),
            responses: 0,
            session_id: self.session_id.clone(),
            resumed: self.resumed,
        })
    }

    /// Whether the previous attempt was still running when last heard of.
    pub(crate) fn previous_unfinished(&self) -> bool {
        self.previous_unfinished
    }

    /// What the last heartbeat of an attempt handed back unfinished carries: the same as a
    /// running one's, so that the next attempt counts it as lost and may resume it.
    pub(crate) fn unfinished(&self) -> serde_json::Value {
        heartbeat(&self.earlier, Some(self.current()))
    }

    /// Notes that the attempt continues an earlier one's conversation.
    pub(crate) fn resumed(&mut self) {
        self.resumed = true;
    }

    /// Whether the attempt continues an earlier one's conversation.
    pub(crate) fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// Notes the agent's conversation, which every later figure of the attempt names.
    pub(crate) fn started(&mut self, session_id: &str) {
        self.session_id = session_id.to_owned();
    }

    /// The run's figures after `usage`, as heartbeat details; publishes them as
    /// `cost.updated` unless one went out less than a second ago.
    pub(crate) fn update(&mut self, usage: &UsageSoFar, events: &Publisher) -> serde_json::Value {
        let spend = LiveSpend {
            attempt: self.attempt,
            model: usage.model.clone(),
            tokens: usage.tokens,
            cost_usd: usage.cost_usd,
            responses: usage.responses,
            session_id: self.session_id.clone(),
            resumed: self.resumed,
        };
        if let Some(workflow_id) = &self.workflow_id
            && self.last_event.is_none_or(|at| at.elapsed() >= EVENTS_AT_MOST_EVERY)
        {
            self.last_event = Some(Instant::now());
            events.publish(CloudEvent::new(EVENT_SOURCE, EventData::CostUpdated(self.event(workflow_id, &spend))));
        }
        self.last = Some(spend.clone());
        heartbeat(&self.earlier, Some(spend))
    }

    /// Every attempt so far, this one last with the figures of its ended responses: an attempt
    /// stopped before its CLI could report (cancelled, killed, timed out). Its heartbeat
    /// details come with it.
    pub(crate) fn stopped(&self, outcome: AttemptOutcome) -> (Vec<AttemptSpend>, serde_json::Value) {
        let mut attempts = self.earlier.clone();
        attempts.push(AttemptSpend::from_live(&self.current(), outcome));
        let details = heartbeat(&attempts, None);
        (attempts, details)
    }

    /// Whether the run, its earlier attempts included, has spent more than its budget allows.
    /// A run on a model without a price cannot tell, and goes on.
    pub(crate) fn over_budget(&self) -> bool {
        let Some(budget) = &self.task.budget else {
            return false;
        };
        self.run_cost_usd() > budget.allowance_usd
    }

    /// The run's spend so far, its earlier attempts included.
    pub(crate) fn run_cost_usd(&self) -> f64 {
        let current = self.last.as_ref().and_then(|live| live.cost_usd).unwrap_or(0.0);
        ct_domain::spend::total(&self.earlier).1 + current
    }

    /// The attempts before this one, for a report that succeeded.
    pub(crate) fn earlier(&self) -> Vec<AttemptSpend> {
        self.earlier.clone()
    }

    /// Every attempt so far, this failed one last with the CLI's figures: what its failure
    /// carries to the workflow and its last heartbeat to the next attempt.
    pub(crate) fn failed(&self, result: &RunResult) -> (Vec<AttemptSpend>, serde_json::Value) {
        // A CLI killed at the executor's timeout writes no `result`: its ended responses count.
        let Some(usage) = result.usage else {
            return self.stopped(AttemptOutcome::Failed);
        };
        let mut attempts = self.earlier.clone();
        attempts.push(AttemptSpend {
            attempt: self.attempt,
            outcome: AttemptOutcome::Failed,
            tokens: usage,
            cost_usd: result.total_cost_usd,
            priced: true,
            session_id: result.session_id.clone(),
            resumed: self.resumed,
        });
        let details = heartbeat(&attempts, None);
        (attempts, details)
    }

    fn event(&self, workflow_id: &str, spend: &LiveSpend) -> CostUpdated {
        let (earlier_tokens, earlier_usd) = ct_domain::spend::total(&self.earlier);
        let stage_cost_usd = earlier_usd + spend.cost_usd.unwrap_or(0.0);
        let mut tokens = earlier_tokens;
        tokens += spend.tokens;
        CostUpdated {
            workflow_id: workflow_id.to_owned(),
            stage: self.task.stage().to_owned(),
            model: Some(spend.model.clone()).filter(|m| !m.is_empty()),
            tokens: TokenUsage {
                input_tokens: tokens.input,
                output_tokens: tokens.output,
                cache_read_tokens: tokens.cache_read,
                cache_write_tokens: tokens.cache_write,
            },
            stage_cost_usd,
            total_cost_usd: self.task.spent_before_usd + stage_cost_usd,
            running: true,
            priced: spend.cost_usd.is_some(),
        }
    }
}

/// The attempts before this one: the last heartbeat of the previous attempt, which Temporal
/// hands on (a lost attempt's running figures count as lost), else what the workflow passed
/// from earlier schedulings of the run; and whether the previous attempt was still running.
fn earlier_attempts(ctx: &ActivityContext, task: &AgentTask) -> (Vec<AttemptSpend>, bool) {
    match ctx.heartbeat_details().deserialize::<RunHeartbeat>() {
        Ok(Some(previous)) => {
            let unfinished = previous.current.is_some();
            (previous.into_attempts(), unfinished)
        }
        Ok(None) => (task.earlier_spend.clone(), false),
        Err(err) => {
            tracing::warn!(%err, "cannot read the previous attempt's figures; counting from the workflow's");
            (task.earlier_spend.clone(), false)
        }
    }
}

fn heartbeat(earlier: &[AttemptSpend], current: Option<LiveSpend>) -> serde_json::Value {
    serde_json::to_value(RunHeartbeat { earlier: earlier.to_vec(), current }).unwrap_or_default()
}
