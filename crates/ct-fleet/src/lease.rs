//! Heartbeats from the process that runs the work, straight to the Temporal server, with the
//! attempt's own task token.
//!
//! Temporal times an attempt out when no heartbeat reached it for the heartbeat timeout, and
//! then gives the attempt to someone else. Whoever still runs the old attempt must stop before
//! that happens, or two attempts overlap. The SDK's own heartbeats are throttled and their
//! failures are not visible to the activity, so the lease sends its own: each answered
//! heartbeat extends the lease to (time it was *sent*) + heartbeat timeout − margin, which is
//! never later than the server's own deadline; when that passes without an answer, the lease
//! is lost and the caller kills its run.
//!
//! Heartbeats go out every tenth of the timeout or so (at most every 5 s: each is a billable
//! action on Temporal Cloud), and at once when someone [`Lease::nudge`]s the lease: a cancel
//! announced elsewhere is confirmed, and acted on, without waiting for the next one.

use std::sync::Arc;
use std::time::Duration;

use temporalio_client::{ActivityIdentifier, AsyncActivityHandle, Client, RpcOptions};
use temporalio_common::protos::TaskToken;
use temporalio_sdk::activities::ActivityContext;
use tokio::time::Instant;

/// How often heartbeats go out at most and at least.
const MOST_OFTEN: Duration = Duration::from_secs(1);
const LEAST_OFTEN: Duration = Duration::from_secs(5);

/// How often heartbeats go out for an attempt with this heartbeat timeout: often enough that
/// several may go unanswered before the lease is lost.
fn cadence(timeout: Option<Duration>) -> Duration {
    timeout.map_or(LEAST_OFTEN, |timeout| (timeout / 10).clamp(MOST_OFTEN, LEAST_OFTEN))
}

/// Why the attempt is no longer ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// The workflow asked to cancel the activity.
    Cancelled,
    /// The server no longer knows this attempt: it timed out or the workflow ended.
    Gone,
    /// No heartbeat was answered for this long, so Temporal may already have timed the
    /// attempt out.
    Unreachable(Duration),
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cancelled => f.write_str("the workflow cancelled this attempt"),
            Self::Gone => f.write_str("Temporal no longer knows this attempt (it timed out or its workflow ended)"),
            Self::Unreachable(for_how_long) => write!(
                f,
                "no heartbeat reached Temporal for {:.1} s, so the attempt may already run elsewhere",
                for_how_long.as_secs_f64()
            ),
        }
    }
}

pub struct Lease<'a> {
    ctx: &'a ActivityContext,
    handle: AsyncActivityHandle<Client>,
    /// None when the activity was scheduled without a heartbeat timeout: then only a cancel or
    /// the server forgetting the attempt ends the lease.
    ttl: Option<Duration>,
    /// When the last answered heartbeat was sent (at first: when the lease was made), kept
    /// across calls of [`Lease::held`] so the work can be raced against it in several steps.
    last_answer: std::sync::Mutex<Instant>,
    /// What every heartbeat carries from now on (the run's figures so far); Temporal keeps the
    /// last one it got, for `status` and for the next attempt.
    details: std::sync::Mutex<Option<serde_json::Value>>,
    every: Duration,
    nudges: Arc<tokio::sync::Notify>,
}

impl<'a> Lease<'a> {
    pub fn new(ctx: &'a ActivityContext) -> Self {
        let info = ctx.info();
        let token = TaskToken::from(info.task_token.clone());
        let handle = ctx.client().get_async_activity_handle(ActivityIdentifier::from_task_token(token));
        // Room for the server's clock reading of our last heartbeat and for killing the run.
        let ttl = info.heartbeat_timeout.map(|timeout| timeout.saturating_sub(margin(timeout)));
        Self {
            ctx,
            handle,
            ttl,
            last_answer: std::sync::Mutex::new(Instant::now()),
            details: std::sync::Mutex::new(None),
            every: cadence(info.heartbeat_timeout),
            nudges: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// What makes the next heartbeat go out now, e.g. when a cancel of the attempt was
    /// announced: its answer says whether the cancel is real.
    pub fn nudges(&self) -> Arc<tokio::sync::Notify> {
        self.nudges.clone()
    }

    /// Sets the details the next heartbeats carry.
    pub fn report(&self, details: serde_json::Value) {
        *self.details.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(details);
    }

    /// Records `details` as the attempt's last heartbeat: the SDK sends the last recorded
    /// details with the attempt's failure, and Temporal hands them to the next attempt.
    pub async fn report_last(&self, details: serde_json::Value) {
        self.report(details.clone());
        if let Err(err) = self.ctx.record_heartbeat(details).await {
            tracing::warn!(%err, "cannot record the attempt's last figures");
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        self.details.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn last_answer(&self) -> Instant {
        *self.last_answer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Heartbeats until the attempt is lost; never returns while it is held. Make the lease
    /// first thing in an activity: the server's clock runs from the attempt's start.
    pub async fn held(&self) -> Lost {
        let mut last_answer = self.last_answer();
        let mut expires = self.ttl.map(|ttl| last_answer + ttl);
        let mut ticker = tokio::time::interval(self.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = self.nudges.notified() => ticker.reset(),
            }
            // The SDK times an activity out locally when it records no heartbeat for the
            // heartbeat timeout; recording one also lets it deliver cancels it hears of.
            let details = self.details();
            let recorded = match details.clone() {
                Some(details) => self.ctx.record_heartbeat(details).await,
                None => self.ctx.record_heartbeat(()).await,
            };
            if let Err(err) = recorded {
                tracing::warn!(%err, "cannot record a heartbeat");
            }
            let sent = Instant::now();
            let call = self.handle.heartbeat(details, RpcOptions::builder().timeout(self.every * 2).build());
            let answer = match expires {
                Some(at) => match tokio::time::timeout_at(at, call).await {
                    Ok(answer) => answer,
                    Err(_) => return Lost::Unreachable(last_answer.elapsed()),
                },
                None => call.await,
            };
            match answer {
                Ok(response) if response.cancel_requested => return Lost::Cancelled,
                Ok(_) => {
                    last_answer = sent;
                    *self.last_answer.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = sent;
                    expires = self.ttl.map(|ttl| sent + ttl);
                }
                Err(temporalio_client::errors::AsyncActivityError::NotFound(_)) => return Lost::Gone,
                Err(err) => {
                    tracing::warn!(%err, "heartbeat not answered");
                    if expires.is_some_and(|at| Instant::now() >= at) {
                        return Lost::Unreachable(last_answer.elapsed());
                    }
                }
            }
        }
    }
}

/// Three tenths of the timeout, at least half a second and at most three: room for the
/// server's reading of the last heartbeat and for the kill itself.
fn margin(timeout: Duration) -> Duration {
    timeout.mul_f64(0.3).clamp(Duration::from_millis(500), Duration::from_secs(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_go_out_every_few_seconds_and_several_fit_in_the_timeout() {
        assert_eq!(cadence(Some(Duration::from_secs(45))), Duration::from_millis(4500));
        assert_eq!(cadence(Some(Duration::from_secs(30))), Duration::from_secs(3));
        assert_eq!(cadence(Some(Duration::from_secs(300))), Duration::from_secs(5));
        assert_eq!(cadence(Some(Duration::from_secs(5))), Duration::from_secs(1));
        assert_eq!(cadence(None), Duration::from_secs(5));
    }

    #[test]
    fn the_lease_ends_before_the_server_would_time_the_attempt_out() {
        assert_eq!(margin(Duration::from_secs(5)), Duration::from_millis(1500));
        assert_eq!(margin(Duration::from_secs(1)), Duration::from_millis(500));
        assert_eq!(margin(Duration::from_secs(60)), Duration::from_secs(3));
    }
}
