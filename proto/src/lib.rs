//! Generated gRPC clients, servers and messages for the executor and the test-runner.

pub use prost;
pub use tonic;

pub mod executor {
    tonic::include_proto!("claude_temporal.executor.v1");
}

pub mod test_runner {
    tonic::include_proto!("claude_temporal.test_runner.v1");
}
