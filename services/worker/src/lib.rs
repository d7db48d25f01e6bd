//! The worker: Temporal workflows (develop) and the activities that call the
//! executor and the test-runner over gRPC.

pub mod activities;
mod connect;
mod runner;
pub mod workflows;

pub use connect::{ConnectError, TemporalTarget, connect_client};
pub use runner::{Config, WorkerError, run};
