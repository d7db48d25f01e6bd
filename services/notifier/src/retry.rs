//! Trying one backend again: exponential backoff with jitter, Retry-After
//! honoured, a bounded number of attempts.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tracing::Instrument as _;

use ct_events::CloudEvent;

use crate::backend::{Backend, DeliveryError};

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles after each failure.
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// A receiver asking to wait longer than this (Retry-After) gets the
    /// event as a dead letter instead of holding up every later event.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The waits after each failure: exponential up to `max_delay`, with equal jitter (half
    /// the delay fixed, half random), so notifiers retrying together spread out but never
    /// retry early.
    fn waits(&self) -> impl Iterator<Item = Duration> + use<> {
        ExponentialBuilder::new()
            .with_min_delay(self.initial_delay / 2)
            .with_max_delay(self.max_delay / 2)
            .with_jitter()
            .without_max_times()
            .build()
    }
}

#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    Delivered { attempts: u32 },
    GaveUp { attempts: u32, reason: String },
}

/// [`deliver_with_retries`] as one span that says which backend and how it ended (never where
/// it went: a webhook or Slack URL is a secret).
pub(crate) async fn deliver_in_span(
    backend: &Backend,
    event: &CloudEvent,
    body: &[u8],
    policy: &RetryPolicy,
) -> Outcome {
    let span = tracing::info_span!(
        "deliver",
        otel.name = %format!("notify {}", backend.name()),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        ct.notify.backend = backend.name(),
        ct.notify.outcome = tracing::field::Empty,
        ct.notify.attempts = tracing::field::Empty,
    );
    let outcome = deliver_with_retries(backend, event, body, policy).instrument(span.clone()).await;
    let (ended, attempts) = match &outcome {
        Outcome::Delivered { attempts } => ("delivered", attempts),
        Outcome::GaveUp { attempts, .. } => {
            span.record("otel.status_code", "ERROR");
            ("gave_up", attempts)
        }
    };
    span.record("ct.notify.outcome", ended);
    span.record("ct.notify.attempts", attempts);
    outcome
}

async fn deliver_with_retries(backend: &Backend, event: &CloudEvent, body: &[u8], policy: &RetryPolicy) -> Outcome {
    let mut attempts = 0;
    let mut waits = policy.waits();
    loop {
        attempts += 1;
        let (reason, retry_after) = match backend.deliver(event, body).await {
            Ok(()) => return Outcome::Delivered { attempts },
            Err(DeliveryError::Permanent { reason }) => {
                return Outcome::GaveUp { attempts, reason };
            }
            Err(DeliveryError::Retryable { reason, retry_after }) => (reason, retry_after),
        };
        if attempts >= policy.max_attempts {
            return Outcome::GaveUp { attempts, reason: format!("{reason} (after {attempts} attempts)") };
        }
        if let Some(asked) = retry_after.filter(|asked| *asked > policy.max_retry_after) {
            return Outcome::GaveUp {
                attempts,
                reason: format!(
                    "{reason}; asked to retry after {asked:?}, beyond the {:?} limit",
                    policy.max_retry_after
                ),
            };
        }
        let delay = waits.next().unwrap_or(policy.max_delay).max(retry_after.unwrap_or_default());
        tracing::warn!(
            backend = backend.name(), event.id = %event.id, attempts, %reason, ?delay,
            "delivery failed; retrying"
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_ceiling() {
        let policy = RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let waits: Vec<Duration> = policy.waits().take(30).collect();
            assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(100), "{waits:?}");
            assert!(waits[2] >= Duration::from_millis(200) && waits[2] <= Duration::from_millis(400), "{waits:?}");
            assert!(waits[29] >= Duration::from_millis(500) && waits[29] <= Duration::from_secs(1), "{waits:?}");
        }
    }
}
