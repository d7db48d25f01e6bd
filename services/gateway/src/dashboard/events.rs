//! `/workflows/<id>/events`: the workflow's events as server-sent events, from the first one
//! the stream holds and then live as they are published on NATS, each as one line the way
//! `claude-temporal watch` prints it. The stream ends after the workflow's last event (when no
//! run reusing its id follows within two seconds) or, for a workflow that had ended, once its
//! stored events are sent, with an `end` event so the browser does not open it again. A browser
//! that opens it again gets the whole stream again.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ct_events::{CloudEvent, EventData, STREAM_NAME, WatchError};
use futures::{Stream, StreamExt as _};
use temporalio_client::{UntypedWorkflow, WorkflowDescribeOptions, WorkflowExecutionStatus};
use tokio::sync::OwnedSemaphorePermit;

use crate::Gateway;
use crate::auth::signed_in;

pub(crate) async fn stream(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(sign_in) = signed_in(&gateway, &headers) {
        return *sign_in;
    }
    // Each open stream holds a consumer on the server: a bounded number at once.
    let Ok(permit) = gateway.live_streams.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many event streams are open; reload later\n").into_response();
    };
    let events = match ct_events::follow(&gateway.events, STREAM_NAME, Some(&id)).await {
        Ok(events) => events,
        Err(err) => {
            tracing::warn!(workflow = %id, %err, "cannot read the workflow's events");
            return (StatusCode::BAD_GATEWAY, "the events could not be read from NATS; reload later\n").into_response();
        }
    };
    let ended = has_ended(&gateway, &id).await;
    let stopping = gateway.stopping.clone();
    let state = Following {
        events: Box::pin(events),
        gateway: gateway.clone(),
        id,
        ended,
        seen_any: false,
        caught_up: false,
        after_last: false,
        done: false,
        warned: false,
        _slot: permit,
    };
    let lines = futures::stream::unfold(state, |mut state| async move {
        let line = state.next().await?;
        Some((Ok::<_, Infallible>(line), state))
    })
    .take_until(async move { stopping.cancelled().await });
    Sse::new(lines).keep_alive(KeepAlive::default()).into_response()
}

/// How long the stream waits after a run's last event for a run that reuses the workflow id
/// (and for the first event of an ended workflow, which may have none kept) before it looks
/// again whether the workflow goes on.
const PAUSE_AT_THE_END: Duration = Duration::from_secs(2);
/// How long Temporal may take to say whether a workflow has ended.
const DESCRIBE_DEADLINE: Duration = Duration::from_secs(3);

/// A workflow's stored and new events, each with how many stored ones follow it.
type Events = Pin<Box<dyn Stream<Item = Result<(CloudEvent, u64), WatchError>> + Send>>;

/// One page's stream: the events, where they are, and its slot among the streams (given back
/// when the stream is dropped).
struct Following {
    events: Events,
    gateway: Arc<Gateway>,
    id: String,
    /// The workflow had ended when the stream was opened: it ends once the replay caught up.
    ended: bool,
    seen_any: bool,
    /// The event sent last was the last one stored.
    caught_up: bool,
    /// The event sent last was a run's last.
    after_last: bool,
    /// `end` was sent.
    done: bool,
    /// A skipped event was logged (once a stream).
    warned: bool,
    _slot: OwnedSemaphorePermit,
}

impl Following {
    /// The next line to send: an event, or `end` once the workflow's events are over.
    async fn next(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            if self.ended && self.caught_up {
                return Some(self.end());
            }
            let pause = (self.ended && !self.seen_any) || self.after_last;
            let next = if pause {
                match tokio::time::timeout(PAUSE_AT_THE_END, self.events.next()).await {
                    Ok(next) => next,
                    // A run reusing the id may have started: then its events are followed.
                    Err(_) if !self.ended && !has_ended(&self.gateway, &self.id).await => {
                        self.after_last = false;
                        continue;
                    }
                    Err(_) => return Some(self.end()),
                }
            } else {
                self.events.next().await
            };
            match next? {
                Ok((event, pending)) => {
                    self.seen_any = true;
                    self.caught_up = pending == 0;
                    self.after_last = is_last(&event);
                    return Some(as_sse(&event));
                }
                Err(err) if !self.warned => {
                    self.warned = true;
                    tracing::warn!(workflow = %self.id, %err, "an event was skipped on the dashboard (more are not logged)");
                }
                Err(_) => {}
            }
        }
    }

    fn end(&mut self) -> Event {
        self.done = true;
        Event::default().event("end").data("{}")
    }
}

/// Whether the workflow's latest run has ended. One Temporal does not know (an unknown id, or
/// past its retention) or does not describe in time counts as ended: its stream then ends once
/// its stored events are sent.
async fn has_ended(gateway: &Gateway, id: &str) -> bool {
    let handle = gateway.client.get_workflow_handle::<UntypedWorkflow>(id);
    match tokio::time::timeout(DESCRIBE_DEADLINE, handle.describe(WorkflowDescribeOptions::default())).await {
        Ok(Ok(description)) => description.status() != WorkflowExecutionStatus::Running,
        _ => true,
    }
}

/// Whether nothing follows `event` in the workflow's stream.
fn is_last(event: &CloudEvent) -> bool {
    matches!(
        event.data,
        EventData::WorkflowCompleted(_) | EventData::WorkflowFailed(_) | EventData::WorkflowCancelled(_)
    )
}

/// An event as the page shows it: its time, type and line, as JSON.
fn as_sse(event: &CloudEvent) -> Event {
    let shown = serde_json::json!({
        "time": event.time.format("%H:%M:%S").to_string(),
        "type": event.event_type().as_str(),
        "text": ct_events::describe(event),
    });
    Event::default().data(shown.to_string())
}
