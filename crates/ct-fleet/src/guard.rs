//! Running an activity's work only while the attempt is ours: the lease holds, nobody killed
//! the run through the control API, and the worker has not cancelled it.

use std::future::Future;

use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::{Lease, Lost, RunTicket};

/// Why the work was stopped before it finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interruption {
    Lost(Lost),
    /// Killed through the control API.
    Killed,
    /// The worker cancelled the activity (it is shutting down, or core learnt of a cancel).
    Cancelled,
}

impl Interruption {
    /// What the attempt reports: a cancel as a cancellation, everything else as a retryable
    /// failure that names the service instance (`who`) that stopped.
    pub fn into_activity_error(self, who: &str, stopping: bool) -> ActivityError {
        self.into_activity_error_with(who, stopping, None)
    }

    /// The same, carrying `details` (what the run had used) to the workflow. A run lost with
    /// its lease, or handed back by a service shutting down (`stopping`), fails as
    /// [`ct_contracts::failure::RUN_LOST`]: retried, and not counted as an attempt of its agent.
    pub fn into_activity_error_with(
        self,
        who: &str,
        stopping: bool,
        details: Option<serde_json::Value>,
    ) -> ActivityError {
        let failure = |type_name: &str, message: String| {
            let failure = ApplicationFailure::builder(message).type_name(type_name.to_owned());
            match &details {
                Some(details) => ActivityError::application(failure.details(details.clone()).build()),
                None => ActivityError::application(failure.build()),
            }
        };
        match self {
            Self::Lost(Lost::Cancelled) => ActivityError::Cancelled { details: details.map(Into::into) },
            Self::Cancelled if stopping => {
                failure(ct_contracts::failure::RUN_LOST, format!("{who} is shutting down and handed the run back"))
            }
            Self::Cancelled => ActivityError::Cancelled { details: details.map(Into::into) },
            Self::Lost(lost) => failure(ct_contracts::failure::RUN_LOST, format!("{who} stopped the run: {lost}")),
            Self::Killed => {
                failure(ct_contracts::failure::AGENT_FAILED, format!("the run was killed through {who}'s control API"))
            }
        }
    }
}

/// An attempt's lease and kill switch, to race its work against in one or more steps.
pub struct Guard<'a> {
    ctx: &'a ActivityContext,
    ticket: &'a RunTicket,
    lease: Lease<'a>,
}

impl<'a> Guard<'a> {
    /// Starts heartbeating now: make it first thing in the activity.
    pub fn new(ctx: &'a ActivityContext, ticket: &'a RunTicket) -> Self {
        Self { ctx, ticket, lease: Lease::new(ctx) }
    }

    /// Makes the next heartbeat go out at once (see [`crate::Lease::nudges`]).
    pub fn nudges(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.lease.nudges()
    }

    /// What the attempt's heartbeats carry from now on.
    pub fn report(&self, details: serde_json::Value) {
        self.lease.report(details);
    }

    /// Records `details` as the attempt's last heartbeat (see [`crate::Lease::report_last`]).
    pub async fn report_last(&self, details: serde_json::Value) {
        self.lease.report_last(details).await;
    }

    /// Drives `work` while the attempt is ours. On an interruption `work` is dropped, so
    /// whatever it runs must die with it (or be stopped by the caller before returning).
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, Interruption> {
        tokio::select! {
            done = work => Ok(done),
            lost = self.lease.held() => Err(Interruption::Lost(lost)),
            () = self.ticket.killed().cancelled() => Err(Interruption::Killed),
            () = self.ctx.cancelled() => Err(Interruption::Cancelled),
        }
    }
}
