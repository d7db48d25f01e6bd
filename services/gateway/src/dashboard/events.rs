//! `/workflows/<id>/events`: the workflow's events as server-sent events, from the first one
//! the stream holds and then live as they are published on NATS, each as one line the way
//! `claude-temporal watch` prints it. The stream ends two seconds after the workflow's last
//! event (or, for a workflow that had ended, when its replay pauses), with an `end` event so the
//! browser does not open it again. A browser that opens it again gets the whole stream again.

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
    let events = match ct_events::watch(&gateway.events, STREAM_NAME, Some(&id)).await {
        Ok(events) => events,
        Err(err) => {
            tracing::warn!(workflow = %id, %err, "cannot read the workflow's events");
            return (StatusCode::BAD_GATEWAY, "the events could not be read from NATS; reload later\n").into_response();
        }
    };
    // A workflow that has ended may lack its last event (older than the stream keeps, or lost
    // in publishing): its stream ends once the replay pauses.
    let ended = has_ended(&gateway, &id).await;
    let stopping = gateway.stopping.clone();
    let state = Following { events: Box::pin(events), ended, after_last: false, done: false, _slot: permit, id };
    let lines = futures::stream::unfold(state, |mut state| async move {
        let line = state.next().await?;
        Some((Ok::<_, Infallible>(line), state))
    })
    .take_until(async move { stopping.cancelled().await });
    Sse::new(lines).keep_alive(KeepAlive::default()).into_response()
}

/// How long the stream may pause after a workflow's last event (or in the replay of one that
/// has ended) before it ends: a run that reuses the workflow id has its events right after.
const PAUSE_AT_THE_END: Duration = Duration::from_secs(2);

/// One page's stream: the events, where they are, and its slot among the streams (given back
/// when the stream is dropped).
struct Following {
    events: Pin<Box<dyn Stream<Item = Result<CloudEvent, WatchError>> + Send>>,
    /// The workflow had ended when the stream was opened.
    ended: bool,
    /// The last event sent was a run's last.
    after_last: bool,
    /// `end` was sent.
    done: bool,
    _slot: OwnedSemaphorePermit,
    id: String,
}

impl Following {
    /// The next line to send: an event, or `end` once the stream pauses at its end.
    async fn next(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            let next = if self.ended || self.after_last {
                match tokio::time::timeout(PAUSE_AT_THE_END, self.events.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        self.done = true;
                        return Some(Event::default().event("end").data("{}"));
                    }
                }
            } else {
                self.events.next().await
            };
            match next? {
                Ok(event) => {
                    self.after_last = is_last(&event);
                    return Some(as_sse(&event));
                }
                Err(err) => tracing::warn!(workflow = %self.id, %err, "an event was skipped on the dashboard"),
            }
        }
    }
}

/// Whether the workflow's latest run has ended; one Temporal cannot describe counts as running.
async fn has_ended(gateway: &Gateway, id: &str) -> bool {
    let handle = gateway.client.get_workflow_handle::<UntypedWorkflow>(id);
    match handle.describe(WorkflowDescribeOptions::default()).await {
        Ok(description) => description.status() != WorkflowExecutionStatus::Running,
        Err(_) => false,
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
