//! `agent.stopping` as the executor running the agent hears it. The workflow announces it in the
//! workflow task that asks Temporal to cancel the run; each one heard makes the run's lease
//! heartbeat at once, and Temporal's answer (cancel requested or not) decides whether the agent
//! stops. So a cancel reaches the agent in well under a second instead of at the next heartbeat,
//! and an event alone stops nothing: a forged one costs one heartbeat.

use std::sync::Arc;

use ct_events::{CloudEvent, EventData, EventType};
use futures::StreamExt as _;
use tokio::sync::Notify;
use tokio_util::task::AbortOnDropHandle;

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
            while let Some(notice) = notices.next().await {
                let about_this_stage = CloudEvent::from_json(&notice.payload)
                    .is_ok_and(|event| matches!(&event.data, EventData::AgentStopping(data) if data.stage == stage));
                if about_this_stage {
                    tracing::info!(%stage, "the workflow announced a cancel; asking Temporal now");
                    lease.notify_one();
                }
            }
        })))
    }
}
