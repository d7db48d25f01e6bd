//! The JetStream stream that keeps every event on disk.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::error::{ConfigError, Error};
use crate::subject::ALL_EVENTS;

/// Name of the stream unless `CT_EVENTS_STREAM` says otherwise.
pub const STREAM_NAME: &str = "CT_EVENTS";

/// The stream's name and limits. Every process that touches the stream
/// applies the same settings (they all read the same environment), so
/// whichever starts first creates it and the others find it unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSettings {
    pub name: String,
    /// Events older than this are discarded.
    pub max_age: Duration,
    /// Oldest events are discarded beyond this many bytes.
    pub max_bytes: i64,
    /// A republished event id within this window is stored once.
    pub duplicate_window: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            name: STREAM_NAME.to_owned(),
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

impl StreamSettings {
    /// Defaults overridden by `CT_EVENTS_STREAM`, `CT_EVENTS_MAX_AGE_SECS`,
    /// `CT_EVENTS_MAX_BYTES` and `CT_EVENTS_DUPLICATE_WINDOW_SECS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            name: std::env::var("CT_EVENTS_STREAM").unwrap_or(defaults.name),
            max_age: env_secs("CT_EVENTS_MAX_AGE_SECS")?.unwrap_or(defaults.max_age),
            max_bytes: env_number("CT_EVENTS_MAX_BYTES")?.unwrap_or(defaults.max_bytes),
            duplicate_window: env_secs("CT_EVENTS_DUPLICATE_WINDOW_SECS")?.unwrap_or(defaults.duplicate_window),
        })
    }

    fn to_config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: vec![ALL_EVENTS.to_owned()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            max_age: self.max_age,
            max_bytes: self.max_bytes,
            duplicate_window: self.duplicate_window,
            description: Some("claude-temporal events (CloudEvents JSON)".to_owned()),
            ..Default::default()
        }
    }
}

/// Creates the stream, or brings an existing one to `settings`.
pub async fn ensure_stream(jetstream: &jetstream::Context, settings: &StreamSettings) -> Result<(), Error> {
    jetstream
        .create_or_update_stream(settings.to_config())
        .await
        .map(drop)
        .map_err(|source| Error::Stream { stream: settings.name.clone(), source })
}

pub(crate) fn env_number<T: std::str::FromStr>(var: &'static str) -> Result<Option<T>, ConfigError> {
    match std::env::var(var) {
        Ok(value) => value.trim().parse().map(Some).map_err(|_| ConfigError { var, value }),
        Err(_) => Ok(None),
    }
}

fn env_secs(var: &'static str) -> Result<Option<Duration>, ConfigError> {
    Ok(env_number::<u64>(var)?.map(Duration::from_secs))
}
