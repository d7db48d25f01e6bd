//! What every member of the fleet (executor, test-runner) shares.
//!
//! - [`ActivityWorker`]: polls one task queue with as many slots as the service has capacity,
//!   so work waits in Temporal until a slot is free.
//! - [`Lease`]: heartbeats an activity from the process that runs it and says when the attempt
//!   is lost (cancelled, timed out, or Temporal out of reach for too long), so the run is
//!   killed before Temporal can hand the attempt to someone else.
//! - [`join`]: the control API bound, its token and advertised address settled, from the
//!   flags every member takes ([`MemberArgs`]).
//! - [`WorkspaceRoots`]: the only directories a service works in.
//! - [`control`]: the authenticated control API (describe, runs in flight, kill).

pub mod control;
mod guard;
mod identity;
mod join;
mod lease;
mod member;
mod roots;
mod runs;
mod token;
mod worker;

pub use guard::{Guard, Interruption};
pub use identity::{advertised_address, control_address, instance_identity};
pub use join::{MemberArgs, Membership, join};
pub use lease::{Lease, Lost};
pub use member::{ControlPlane, run_member};
pub use roots::{RootsError, WorkspaceRoots};
pub use runs::{RunInfo, RunRegistry, RunTicket};
pub use token::{ControlToken, TokenError};
pub use worker::{ActivityWorker, WorkerError};
