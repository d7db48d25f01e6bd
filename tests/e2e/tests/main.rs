//! The end-to-end tests, one binary: each module is one area of behaviour, against real servers
//! (Temporal dev server, nats-server, the service binaries, the Claude Code CLI against the scripted
//! model, git). One binary links the whole stack once instead of once per area; `telemetry.rs`
//! is its own, because it records the process's spans.

mod budget;
mod cancel;
mod chaos;
mod commands;
mod compose;
mod compose_file;
mod configuration;
mod cost;
mod develop;
mod events;
mod fleet;
mod gateway;
mod integrate;
mod iterate;
mod parallel;
mod replay;
mod resume;
mod snapshots;
mod upgrade;
mod usage_limit;
