//! What an executor or test-runner settles before it polls: its control API bound, the token
//! that guards it, the address the fleet reaches it on, and where its work comes from. Both
//! take the same flags for it and fail the same way on a bad one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ct_config::{Flag, TemporalSettings, key};
use ct_service::TemporalTarget;
use ct_service::builds::Build;
use tokio::net::TcpListener;

use crate::{ControlToken, advertised_address};

/// The flags every fleet member takes for its place in the fleet.
#[derive(Debug, Clone, clap::Args)]
pub struct MemberArgs {
    /// A directory projects may live in; repeat for more. Anything else is refused
    /// [env: CT_WORKSPACE_ROOTS, `:`-separated; required].
    #[arg(long = "workspace-root", value_name = "DIR")]
    pub workspace_roots: Vec<PathBuf>,
    /// Address the fleet reaches the control API on, IP:PORT [default: the listen address; for a
    /// wildcard one, this host's address toward Temporal].
    #[arg(long, env = "CT_CONTROL_ADVERTISE", value_name = "IP:PORT")]
    pub control_advertise: Option<SocketAddr>,
    /// Write the control API's port to this file once polling.
    #[arg(long, value_name = "PATH")]
    pub port_file: Option<PathBuf>,
    /// File holding the control API's token; made (mode 0600) when missing and the address is
    /// loopback [default: the executor's <state dir>/control.token, the test-runner's
    /// <temp dir>/ct-test-runner.token]. The token itself in the environment wins over any
    /// file, for containers [env: CT_CONTROL_TOKEN].
    #[arg(long, env = "CT_CONTROL_TOKEN_FILE", value_name = "PATH")]
    pub control_token_file: Option<PathBuf>,
}

impl MemberArgs {
    /// The settings these flags give, for `ConfigArgs::load`.
    pub fn flags(&self) -> [Option<Flag>; 1] {
        [Flag::given_paths(key::WORKSPACE_ROOTS, "--workspace-root", &self.workspace_roots)]
    }
}

/// A member's place in the fleet, its control API listening.
#[derive(Debug, Clone)]
pub struct Membership {
    pub temporal: TemporalTarget,
    /// The queue it polls (`<workflow queue>.agents` or `.tests`).
    pub task_queue: String,
    pub control_token: ControlToken,
    /// The file the token was read from or written to: no run may read it.
    pub token_file: PathBuf,
    /// Where the fleet reaches the control API (the listener's address, or one given).
    pub advertise: SocketAddr,
    /// After shutdown begins, running work gets this long before it is killed.
    pub grace: Duration,
    /// The build it is: it serves the workflows pinned to this build.
    pub build: Build,
}

/// Binds the control API on `listen` and settles the member's token (`CT_CONTROL_TOKEN`, else
/// the flag's file, else `default_token_file`) and advertised address. The error says which
/// setting to fix.
pub async fn join(
    args: &MemberArgs,
    listen: &str,
    default_token_file: PathBuf,
    temporal: &TemporalSettings,
    task_queue: String,
    grace: Duration,
) -> Result<(TcpListener, Membership), String> {
    let listener = TcpListener::bind(listen).await.map_err(|err| format!("cannot listen on {listen}: {err}"))?;
    let bound = listener.local_addr().map_err(|err| format!("cannot read the address bound on {listen}: {err}"))?;
    let token_file = args.control_token_file.clone().unwrap_or(default_token_file);
    let control_token = ControlToken::resolve(std::env::var("CT_CONTROL_TOKEN").ok(), &token_file, bound)
        .map_err(|err| err.to_string())?;
    let advertise = advertised_address(bound, args.control_advertise, &temporal.address).map_err(|err| {
        format!(
            "cannot tell which address reaches this control API from {}: {err}; give it with --control-advertise IP:PORT",
            temporal.address
        )
    })?;
    let membership = Membership {
        temporal: TemporalTarget { address: temporal.address.clone(), namespace: temporal.namespace.clone() },
        task_queue,
        control_token,
        token_file,
        advertise,
        grace,
        build: Build { deployment: temporal.deployment.clone(), build_id: temporal.build_id.clone() },
    };
    Ok((listener, membership))
}
