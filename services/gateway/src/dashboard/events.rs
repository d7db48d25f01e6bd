//! `/workflows/<id>/events`: the workflow's events as server-sent events, from the first one
//! the stream holds and then live as they are published on NATS, each as one line the way
//! `claude-temporal watch` prints it. The stream ends after the workflow's last event, with an
//! `end` event so the browser does not open it again.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ct_events::{CloudEvent, EventData, STREAM_NAME};
use futures::StreamExt as _;

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
    let stopping = gateway.stopping.clone();
    let lines = events
        .filter_map(|event| async move { event.ok() })
        // Up to and with the workflow's last event, sent as `end`.
        .scan(false, move |ended, event| {
            // The stream's slot is given back when the stream is dropped.
            let _slot = &permit;
            let line = (!*ended).then(|| {
                *ended = is_last(&event);
                Ok::<_, Infallible>(as_sse(&event, *ended))
            });
            futures::future::ready(line)
        })
        .take_until(async move { stopping.cancelled().await });
    Sse::new(lines).keep_alive(KeepAlive::default()).into_response()
}

/// Whether nothing follows `event` in the workflow's stream.
fn is_last(event: &CloudEvent) -> bool {
    matches!(
        event.data,
        EventData::WorkflowCompleted(_) | EventData::WorkflowFailed(_) | EventData::WorkflowCancelled(_)
    )
}

/// An event as the page shows it: its time, type and line, as JSON; the last is named `end`.
fn as_sse(event: &CloudEvent, last: bool) -> Event {
    let shown = serde_json::json!({
        "time": event.time.format("%H:%M:%S").to_string(),
        "type": event.event_type().as_str(),
        "text": ct_events::describe(event),
    });
    let sse = Event::default().data(shown.to_string());
    if last { sse.event("end") } else { sse }
}
