//! `agent.stopping` as the executor running the agent hears it. The workflow announces it in the
//! workflow task that asks Temporal to cancel the run; each one heard makes the run's lease
//! heartbeat at once, and Temporal's answer (cancel requested or not) decides whether the agent
//! stops. So a cancel reaches the agent in well under a second instead of at the next heartbeat,
//! and an event alone stops nothing: a forged one costs one heartbeat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_events::{CloudEvent, EventData, EventType};
use futures::StreamExt as _;
use tokio::sync::Notify;
use tokio_util::task::AbortOnDropHandle;

/// An `agent.stopping` event is a few hundred bytes; anything much larger is not one.
const MAX_NOTICE_BYTES: usize = 4096;
/// At most one heartbeat a second on notices, however many arrive.
const NUDGE_SPACING: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(crate) struct StopNotices {
    client: async_nats::Client,
}

impl StopNotices {
    /// Connects in the background, like the event publisher: NATS may come up later.
    pub(crate) async fn connect(
        nats_url: &str,
        login: Option<&ct_events::NatsLogin>,
    ) -> Result<Self, ct_events::Error> {
        Ok(Self { client: ct_events::connect(nats_url, login, "ct-executor-notices").await? })
    }

    /// Nudges `lease` whenever workflow `workflow_id` announces that the agent of `stage` is
    /// stopping, until the returned handle is dropped. `None` (logged) when NATS cannot take the
    /// subscription: then the cancel arrives with the next heartbeat, as it would anyway.
    pub(crate) async fn watch(
        &self,
        workflow_id: &str,
        stage: &str,
        lease: Arc<Notify>,
    ) -> Option<AbortOnDropHandle<()>> {
        let subject = ct_events::subject::event_subject(workflow_id, EventType::AgentStopping);
        let mut notices = match self.client.subscribe(subject).await {
            Ok(notices) => notices,
            Err(err) => {
                tracing::warn!(%err, "cannot hear agent.stopping; a cancel arrives with the next heartbeat");
                return None;
            }
        };
        let stage = stage.to_owned();
        Some(AbortOnDropHandle::new(tokio::spawn(async move {
            // Anyone allowed to publish on the subject may flood it: each nudge costs a
            // heartbeat, so they are spaced out, and oversized messages are not even parsed.
            let mut last_nudge: Option<Instant> = None;
            while let Some(notice) = notices.next().await {
                if notice.payload.len() > MAX_NOTICE_BYTES || last_nudge.is_some_and(|at| at.elapsed() < NUDGE_SPACING)
                {
                    continue;
                }
                let about_this_stage = CloudEvent::from_json(&notice.payload)
                    .is_ok_and(|event| matches!(&event.data, EventData::AgentStopping(data) if data.stage == stage));
                if about_this_stage {
                    tracing::info!(%stage, "the workflow announced a cancel; asking Temporal now");
                    last_nudge = Some(Instant::now());
                    lease.notify_one();
                }
            }
        })))
    }
}
