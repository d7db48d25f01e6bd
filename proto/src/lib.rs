//! Generated messages of the executor and the test-runner runs, and the control API
//! (client and server) both serve.

pub use prost;
pub use tonic;

pub mod executor {
    tonic::include_proto!("claude_temporal.executor.v1");
}

pub mod test_runner {
    tonic::include_proto!("claude_temporal.test_runner.v1");
}

pub mod control {
    tonic::include_proto!("claude_temporal.control.v1");
}
