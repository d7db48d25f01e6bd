//! What Temporal says about a workflow's pending activities: whether the stage's work waits in
//! its task queue for a free executor or test-runner, and which one runs it. The workflow
//! itself cannot know this (an activity's start is not a workflow event), so the CLI's `status`
//! and `list` and the gateway's dashboard ask Temporal.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ct_contracts::names;
use ct_domain::spend::{self, RunHeartbeat};
use ct_domain::{StageState, WorkflowStatus};
use temporalio_client::{Client, UntypedWorkflow, WorkflowDescribeOptions};
use temporalio_common::protos::temporal::api::common::v1::Payloads;
use temporalio_common::protos::temporal::api::enums::v1::PendingActivityState;
use temporalio_common::protos::temporal::api::workflow::v1::PendingActivityInfo;

/// One pending activity, as far as `status` cares.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub activity_type: String,
    /// Scheduled but not started: waiting for a slot.
    pub queued_for: Option<Duration>,
    pub attempt: u32,
    /// The worker running it (or that ran its last attempt).
    pub worker: Option<String>,
    /// An agent run's figures so far, from its last heartbeat.
    pub live: Option<RunHeartbeat>,
}

impl Pending {
    fn from_info(info: &PendingActivityInfo, now: SystemTime) -> Self {
        let queued = info.state == PendingActivityState::Scheduled as i32;
        let since = [&info.scheduled_time, &info.last_attempt_complete_time]
            .into_iter()
            .flatten()
            .map(|t| {
                let nanos = u32::try_from(t.nanos).unwrap_or(0);
                UNIX_EPOCH + Duration::new(u64::try_from(t.seconds).unwrap_or(0), nanos)
            })
            .max();
        Self {
            activity_type: info.activity_type.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
            queued_for: queued.then(|| since.and_then(|t| now.duration_since(t).ok()).unwrap_or_default()),
            attempt: u32::try_from(info.attempt).unwrap_or(0),
            worker: Some(info.last_worker_identity.clone()).filter(|w| !w.is_empty()),
            live: info.heartbeat_details.as_ref().and_then(live_spend),
        }
    }
}

/// The executor's figures in an agent run's heartbeat details (JSON), if it sent any.
fn live_spend(details: &Payloads) -> Option<RunHeartbeat> {
    serde_json::from_slice(&details.payloads.first()?.data).ok()
}

/// The workflow's pending activities; empty when it has none or it cannot be described.
pub async fn of(client: &Client, id: &str) -> Vec<Pending> {
    let handle = client.get_workflow_handle::<UntypedWorkflow>(id);
    let Ok(description) = handle.describe(WorkflowDescribeOptions::default()).await else {
        return Vec::new();
    };
    let now = SystemTime::now();
    description.raw_description.pending_activities.iter().map(|info| Pending::from_info(info, now)).collect()
}

/// Marks the running stage `queued` while its agent or test run waits for a slot, and names
/// the executor that runs its agent.
pub fn overlay(status: &mut WorkflowStatus, pending: &[Pending]) {
    let Some(current) = status.current_stage.clone() else {
        return;
    };
    let Some(index) = status.stages.iter().position(|s| s.name == current) else {
        return;
    };
    let stage = &mut status.stages[index];
    let wanted = match stage.state {
        StageState::Running => names::RUN_AGENT,
        StageState::Testing => names::RUN_TESTS,
        _ => return,
    };
    let Some(activity) = pending.iter().find(|p| p.activity_type == wanted) else {
        return;
    };
    stage.attempts = stage.attempts.max(activity.attempt);
    match activity.queued_for {
        Some(waited) => {
            stage.state = StageState::Queued;
            stage.queued_ms = Some(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
        }
        None if wanted == names::RUN_AGENT => {
            status.stages[index].executor_id = activity.worker.clone();
            // The workflow learns of the run's attempts when it ends; until then the stage's
            // figures are those of its finished attempts and the running one's so far.
            if let Some(heartbeat) = activity.live.clone() {
                let stage = &mut status.stages[index];
                let (mut tokens, mut cost_usd) = spend::total(&heartbeat.earlier);
                if let Some(current) = &heartbeat.current {
                    tokens += current.tokens;
                    cost_usd += current.cost_usd.unwrap_or(0.0);
                }
                stage.input_tokens = tokens.input;
                stage.output_tokens = tokens.output;
                stage.cache_read_tokens = tokens.cache_read;
                stage.cache_write_tokens = tokens.cache_write;
                stage.cost_usd = cost_usd;
                stage.attempt_history = heartbeat.earlier;
                stage.live = heartbeat.current;
                status.refresh_totals();
            }
        }
        None => {}
    }
}

/// (queued, running) agent and test runs among the pending activities.
pub fn counts(pending: &[Pending]) -> (usize, usize) {
    let runs = pending.iter().filter(|p| p.activity_type == names::RUN_AGENT || p.activity_type == names::RUN_TESTS);
    runs.fold(
        (0, 0),
        |(queued, running), p| {
            if p.queued_for.is_some() { (queued + 1, running) } else { (queued, running + 1) }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_domain::StageStatus;

    fn running(state: StageState) -> WorkflowStatus {
        WorkflowStatus {
            current_stage: Some("scaffold".to_owned()),
            stages: vec![StageStatus { state, attempts: 1, ..StageStatus::pending("scaffold") }],
            ..WorkflowStatus::default()
        }
    }

    #[test]
    fn a_scheduled_agent_run_shows_the_stage_queued_and_a_started_one_its_executor() {
        let queued = Pending {
            activity_type: names::RUN_AGENT.to_owned(),
            queued_for: Some(Duration::from_millis(1500)),
            attempt: 2,
            worker: None,
            live: None,
        };
        let mut status = running(StageState::Running);
        overlay(&mut status, std::slice::from_ref(&queued));
        assert_eq!(status.stages[0].state, StageState::Queued);
        assert_eq!(status.stages[0].queued_ms, Some(1500));
        assert_eq!(status.stages[0].attempts, 2);

        let started =
            Pending { queued_for: None, worker: Some("executor:h:1@127.0.0.1:9".to_owned()), ..queued.clone() };
        let mut status = running(StageState::Running);
        overlay(&mut status, std::slice::from_ref(&started));
        assert_eq!(status.stages[0].state, StageState::Running);
        assert_eq!(status.stages[0].executor_id.as_deref(), Some("executor:h:1@127.0.0.1:9"));
        assert_eq!(counts(&[queued, started]), (1, 1));
    }

    #[test]
    fn a_pending_test_run_does_not_touch_a_stage_whose_agent_runs() {
        let mut status = running(StageState::Running);
        let tests = Pending {
            activity_type: names::RUN_TESTS.to_owned(),
            queued_for: Some(Duration::from_secs(1)),
            attempt: 1,
            worker: None,
            live: None,
        };
        overlay(&mut status, &[tests]);
        assert_eq!(status.stages[0].state, StageState::Running);
    }
}
