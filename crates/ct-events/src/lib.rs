//! claude-temporal's events: the contract every process publishes and every
//! subscriber reads, and the plumbing to publish and consume them on NATS.
//!
//! - An event is a CloudEvents 1.0 JSON object ([`CloudEvent`]) with typed
//!   `data` ([`EventData`], one variant per [`EventType`]).
//! - It is published on `ct.events.<workflow token>.<type>` ([`subject`]) into
//!   the JetStream stream `CT_EVENTS` ([`StreamSettings`]), with
//!   `Nats-Msg-Id` = event id and the W3C trace context in headers.
//! - [`Publisher`] never blocks or fails its caller; [`EventConsumer`] is the
//!   durable, outage-proof reading side; [`watch`] follows one workflow live.
//!
//! Any NATS client can follow along: `nats sub 'ct.events.>'`.

mod connect;
mod consumer;
pub mod data;
mod describe;
mod error;
mod event;
mod outbox;
mod publisher;
mod retry;
mod stream;
pub mod subject;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
mod watch;

pub use connect::{DEFAULT_NATS_URL, NatsLogin, connect, redact_credentials};
pub use consumer::{ConsumerSettings, EventConsumer};
pub use describe::describe;
pub use error::{ConfigError, Error};
pub use event::{CloudEvent, DecodeError, EventData, EventType, TYPE_PREFIX};
pub use outbox::OutboxError;
pub use publisher::{Publisher, PublisherConfig};
pub use stream::{STREAM_NAME, StreamSettings, ensure_stream};
pub use watch::{WatchError, follow, watch};
