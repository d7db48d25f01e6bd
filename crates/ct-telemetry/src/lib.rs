//! What every claude-temporal binary shares to be observed: logging, OpenTelemetry spans and
//! the trace context that makes one workflow one trace across processes.

mod export;
pub mod grpc;
mod init;
pub mod propagate;
#[cfg(feature = "testing")]
pub mod testing;

pub use export::{ENDPOINT_VARS, ExportError, ExportTarget};
pub use init::{Telemetry, init, init_at};
