//! What every claude-temporal binary does around its work, the same way: parse its flags (a usage
//! error exits 64), drain on SIGINT/SIGTERM, say it is ready through a port or readiness file,
//! exit with a reason, serve `/metrics` and `/healthz`, reach Temporal, and poll it as one build of
//! the fleet ([`builds`]).

#[cfg(feature = "temporal")]
pub mod builds;
mod metrics_http;
#[cfg(feature = "temporal")]
pub mod pending;
mod process;
#[cfg(feature = "temporal")]
mod temporal;

pub use metrics_http::{MetricsRender, serve_metrics};
pub use process::{
    announce_port, announce_ready, cancel_on_signal, exit_with, parse_args, withdraw_ready_file, write_port_file,
};
#[cfg(feature = "temporal")]
pub use temporal::{ConnectError, TemporalTarget, connect_client};
