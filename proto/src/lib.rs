//! The control API every executor and test-runner serves (describe, runs in flight, kill), its
//! messages, client and server: the one contract here that crosses a wire of our own. Activity
//! payloads are serde JSON in ct-contracts.

pub use prost;
pub use tonic;

pub mod control {
    tonic::include_proto!("claude_temporal.control.v1");
}
