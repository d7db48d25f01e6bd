//! Connecting to the Temporal frontend, shared by every process that talks to it.

use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, Url};
use temporalio_sdk::opentelemetry::OpenTelemetryPlugin;

/// Where Temporal is and which namespace to use.
#[derive(Debug, Clone)]
pub struct TemporalTarget {
    /// `host:port` or a full `http://host:port` URL.
    pub address: String,
    pub namespace: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid Temporal address `{address}`: {reason} (expected host:port, e.g. 127.0.0.1:7233)")]
    BadAddress { address: String, reason: String },
    #[error(
        "cannot reach Temporal at {address}: {reason}. Is the server running? \
         Start the local stack with `claude-temporal dev up`, or set TEMPORAL_ADDRESS"
    )]
    Unreachable { address: String, reason: String },
}

pub async fn connect_client(target: &TemporalTarget, identity: &str) -> Result<Client, ConnectError> {
    let with_scheme =
        if target.address.contains("://") { target.address.clone() } else { format!("http://{}", target.address) };
    let url = Url::parse(&with_scheme)
        .map_err(|err| ConnectError::BadAddress { address: target.address.clone(), reason: err.to_string() })?;
    let options = ConnectionOptions::new(url)
        .identity(identity.to_owned())
        .connect_timeout(std::time::Duration::from_secs(5))
        .build();
    let unreachable = |reason: String| ConnectError::Unreachable { address: target.address.clone(), reason };
    let connection = Connection::connect(options).await.map_err(|err| unreachable(err.to_string()))?;
    // The plugin carries the caller's trace into workflows and on into their activities (the
    // `_tracer-data` header), and records the client, workflow and activity spans; a worker
    // built from this client gets it too.
    let options = ClientOptions::new(target.namespace.clone()).plugin(OpenTelemetryPlugin::builder().build()).build();
    Client::new(connection, options).map_err(|err| unreachable(err.to_string()))
}
