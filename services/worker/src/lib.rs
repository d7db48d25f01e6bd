//! The worker: claude-temporal's Temporal workflows (develop, iterate, parallel). It schedules
//! agent runs and git work onto the agents queue (executors) and test runs onto the tests
//! queue (test-runners); it runs no agent, test or git work itself.

pub mod activities;
mod runner;
pub mod workflows;

pub use runner::{Config, WorkerError, run};
