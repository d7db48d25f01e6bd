use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use ct_approvals::link::LinkKey;
use ct_approvals::slack::SigningSecret;
use ct_service::TemporalTarget;
use tokio_util::sync::CancellationToken;

/// Takes decisions on approval gates from outside a shell: signed approval links (a
/// confirmation page, then the decision) and the Approve/Reject buttons of Slack messages.
/// Every decision is the workflow's own approve/reject Update, sent once per gate, naming who
/// decided.
#[derive(Parser)]
#[command(name = "ct-gateway", version)]
struct Args {
    /// Temporal frontend.
    #[arg(long, env = "TEMPORAL_ADDRESS", default_value = "127.0.0.1:7233")]
    temporal_address: String,

    #[arg(long, env = "TEMPORAL_NAMESPACE", default_value = "default")]
    namespace: String,

    /// Where to listen; loopback unless a proxy in front of it is meant to reach it.
    #[arg(long, env = "CT_GATEWAY_LISTEN", default_value = "127.0.0.1:8788")]
    listen: SocketAddr,

    /// File holding the key approval links are signed with (at least 32 bytes); without it,
    /// links are refused.
    #[arg(long, env = "CT_LINK_KEY_FILE")]
    link_key_file: Option<PathBuf>,

    /// File holding the Slack app's signing secret; without it, Slack requests are refused.
    #[arg(long, env = "SLACK_SIGNING_SECRET_FILE")]
    slack_signing_secret_file: Option<PathBuf>,

    /// Slack user ids (U…) allowed to decide, comma-separated; nobody when empty.
    #[arg(long, env = "CT_SLACK_APPROVERS", value_delimiter = ',')]
    slack_approvers: Vec<String>,

    /// The only place a Slack click's `response_url` may point: the outcome is posted there.
    #[arg(long, env = "CT_SLACK_RESPONSE_URL_PREFIX", default_value = "https://hooks.slack.com/")]
    slack_response_url_prefix: String,

    /// Write the bound port here once listening (tests, port 0).
    #[arg(long)]
    port_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = ct_service::parse_args();
    let _telemetry = ct_telemetry::init_at("ct-gateway", "info");
    // reqwest is built without a TLS provider of its own: ring's, as everywhere here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let link_key = match &args.link_key_file {
        Some(file) => Some(LinkKey::new(&read_secret(file)?).with_context(|| format!("link key {}", file.display()))?),
        None => None,
    };
    let slack = match &args.slack_signing_secret_file {
        Some(file) => Some(SigningSecret::new(&read_secret(file)?)),
        None => None,
    };
    let target = TemporalTarget { address: args.temporal_address.clone(), namespace: args.namespace.clone() };
    let client = ct_service::connect_client(&target, "ct-gateway").await?;
    let approvers = args.slack_approvers.iter().map(|id| id.trim().to_owned()).filter(|id| !id.is_empty()).collect();
    let gateway = ct_gateway::Gateway::new(client, link_key, slack, approvers, args.slack_response_url_prefix.clone());

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let addr = listener.local_addr().context("could not read the bound address")?;
    tracing::info!("listening on {addr}");
    ct_service::announce_port(args.port_file.as_deref(), addr.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(ct_service::cancel_on_signal(shutdown.clone()));
    axum::serve(listener, gateway.router().into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// A secret file's bytes, without a trailing newline an editor may have left.
fn read_secret(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = std::fs::read(file).with_context(|| format!("could not read {}", file.display()))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}
