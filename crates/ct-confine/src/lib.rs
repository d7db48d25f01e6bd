//! Confinement of the processes an executor or a test-runner starts on behalf of a workflow:
//! the agent CLI with every tool it runs, and a project's tests.
//!
//! A run gets namespaces of its own where bubblewrap can build them (its own
//! file system, no network but bridges to the service's sockets, its own PID and IPC spaces),
//! and a Landlock domain (writes only under the paths its policy names, reads everywhere
//! except the service's own state and other runs' directories, optionally TCP connects only to
//! named ports, no signals or abstract sockets beyond its own domain), `no_new_privs`, and
//! resource limits, and every process it starts is killed with it ([`RunGuard`]). Everything
//! that leaves a run passes through a [`Redactor`].

mod abi;
pub mod bounded;
mod egress;
mod error;
mod gitdirs;
pub mod init;
mod limits;
mod namespaces;
mod policy;
mod redact;
mod sandbox;
mod service;
pub mod skip;
mod tree;
mod world;

pub use abi::{Confinement, Mode};

/// Variables every run may keep from its service's environment to reach the network as the
/// service does: proxies, and the CA files a TLS-re-signing proxy needs (they only name files).
pub const NETWORK_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
];
pub use egress::{AllowList, Egress, Refusal, ServedSocket, forward};
pub use error::Error;
pub use gitdirs::git_dirs;
pub use limits::ResourceLimits;
pub use namespaces::{service_homes, service_tool_dirs, tool_dirs};
pub use policy::{Bridge, Policy};
pub use redact::Redactor;
pub use sandbox::{Prepared, Sandbox};
pub use service::{default_state_dir, make_private_dir, protect_service};
pub use tree::{RUN_MARKER_VAR, RunGuard};
