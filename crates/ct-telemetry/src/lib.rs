//! What every claude-temporal binary shares around its work: logging, OpenTelemetry spans and
//! the trace context that makes one workflow one trace across processes, flags, signals and
//! readiness files.

mod export;
pub mod grpc;
mod init;
mod process;
pub mod propagate;
#[cfg(feature = "testing")]
pub mod testing;

pub use export::{ENDPOINT_VARS, ExportError, ExportTarget};
pub use init::{Telemetry, init, init_at};
pub use process::{
    announce_port, announce_ready, cancel_on_signal, exit_with, parse_args, withdraw_ready_file, write_port_file,
};
