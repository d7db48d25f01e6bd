//! Following events live, for `claude-temporal watch` and any other reader
//! that wants history and then new events, in order, without a durable name.
//!
//! An ordered consumer is ephemeral (nothing is left on the server when the
//! reader goes away) and re-creates itself after a gap or a reconnect, so
//! events arrive in stream order with none skipped.

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use futures::{Stream, StreamExt};

use crate::error::Error;
use crate::event::CloudEvent;
use crate::event::DecodeError;
use crate::subject::{ALL_EVENTS, workflow_filter};

/// One item of a watch: an event, or why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("a message on {subject} is not a claude-temporal event: {source}")]
    Malformed {
        subject: String,
        #[source]
        source: DecodeError,
    },
    #[error("reading events failed: {0}")]
    Stream(#[from] pull::OrderedError),
}

/// Every stored event of `workflow_id` (all workflows when `None`) from the
/// first, then new ones as they are published. The stream never ends on its
/// own; drop it to stop.
pub async fn watch(
    jetstream: &jetstream::Context,
    stream: &str,
    workflow_id: Option<&str>,
) -> Result<impl Stream<Item = Result<CloudEvent, WatchError>> + use<>, Error> {
    Ok(follow(jetstream, stream, workflow_id).await?.map(|item| item.map(|(event, _)| event)))
}

/// Like [`watch`], each event with how many of the workflow's stored events
/// follow it: 0 once the reader has caught up with what is stored.
pub async fn follow(
    jetstream: &jetstream::Context,
    stream: &str,
    workflow_id: Option<&str>,
) -> Result<impl Stream<Item = Result<(CloudEvent, u64), WatchError>> + use<>, Error> {
    let watch_error =
        |source: Box<dyn std::error::Error + Send + Sync>| Error::Watch { stream: stream.to_owned(), source };
    let events = jetstream.get_stream(stream).await.map_err(|err| watch_error(err.into()))?;
    let filter_subject = workflow_id.map_or_else(|| ALL_EVENTS.to_owned(), workflow_filter);
    let consumer = events
        .create_consumer(pull::OrderedConfig {
            // Named in the request's subject, so that a user allowed to watch can be kept from
            // every durable consumer by name (deploy/nats.conf).
            name: Some(format!("ct-watch-{}", uuid::Uuid::now_v7().simple())),
            filter_subject,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|err| watch_error(err.into()))?;
    let messages = consumer.messages().await.map_err(|err| watch_error(err.into()))?;
    Ok(messages.map(|message| {
        let message = message?;
        // Ordered consumers' messages always carry their position; none reads as caught up.
        let pending = message.info().map_or(0, |info| info.pending);
        let event = CloudEvent::from_json(&message.payload)
            .map_err(|source| WatchError::Malformed { subject: message.subject.to_string(), source })?;
        Ok((event, pending))
    }))
}
