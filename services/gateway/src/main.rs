use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use ct_approvals::link::LinkKey;
use ct_approvals::read_key_file;
use ct_approvals::slack::SigningSecret;
use ct_config::{Flag, Service, key};
use ct_service::TemporalTarget;

/// How long a stop waits for decisions still going on behind answered clicks.
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(25);

/// Takes decisions on approval gates from outside a shell: signed approval links (a
/// confirmation page, then the decision) and the Approve/Reject buttons of Slack messages.
/// Every decision is the workflow's own approve/reject Update, sent once per gate, naming who
/// decided.
///
/// Settings come from the same layers as the CLI's (defaults, CLAUDE_TEMPORAL_ENV preset,
/// config file, .env, environment, these flags); `--print-config` shows them. Keys and
/// secrets are read from files, so they never show in `ps`.
#[derive(Parser)]
#[command(name = "ct-gateway", version)]
struct Args {
    #[command(flatten)]
    config: ct_config::ConfigArgs,

    /// Temporal frontend address, host:port [env: TEMPORAL_ADDRESS].
    #[arg(long)]
    temporal_address: Option<String>,

    /// Temporal namespace [env: TEMPORAL_NAMESPACE].
    #[arg(long)]
    namespace: Option<String>,

    /// Where to listen, ip:port; loopback unless a proxy in front of it must reach it
    /// [env: CT_GATEWAY_LISTEN].
    #[arg(long)]
    listen: Option<String>,

    /// Where people reach the gateway; `https://…` makes session cookies `Secure`
    /// [env: CT_GATEWAY_URL].
    #[arg(long)]
    url: Option<String>,

    /// File holding the key approval links, sign-in links and sessions are signed with (32
    /// bytes or more); without it, links are refused and nobody can sign in
    /// [env: CT_LINK_KEY_FILE].
    #[arg(long)]
    link_key_file: Option<String>,

    /// File holding the Slack app's signing secret; without it, Slack requests are refused
    /// [env: SLACK_SIGNING_SECRET_FILE].
    #[arg(long)]
    slack_signing_secret_file: Option<String>,

    /// Slack user ids (U…) allowed to decide, comma-separated; nobody when empty
    /// [env: CT_SLACK_APPROVERS].
    #[arg(long)]
    slack_approvers: Option<String>,

    /// The only place a Slack click's `response_url` may point (same scheme, host and port, a
    /// path below this one): the outcome is posted there [env: CT_SLACK_RESPONSE_URL_PREFIX].
    #[arg(long)]
    slack_response_url_prefix: Option<String>,

    /// NATS server(s) whose events the dashboard shows [env: NATS_URL].
    #[arg(long)]
    nats_url: Option<String>,

    /// Write the bound port here once listening (tests, port 0).
    #[arg(long)]
    port_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = ct_service::parse_args();
    let flags = [
        Flag::given(key::TEMPORAL_ADDRESS, "--temporal-address", args.temporal_address.as_ref()),
        Flag::given(key::TEMPORAL_NAMESPACE, "--namespace", args.namespace.as_ref()),
        Flag::given(key::NATS_URL, "--nats-url", args.nats_url.as_ref()),
        Flag::given(key::GATEWAY_LISTEN, "--listen", args.listen.as_ref()),
        Flag::given(key::GATEWAY_URL, "--url", args.url.as_ref()),
        Flag::given(key::LINK_KEY_FILE, "--link-key-file", args.link_key_file.as_ref()),
        Flag::given(
            key::SLACK_SIGNING_SECRET_FILE,
            "--slack-signing-secret-file",
            args.slack_signing_secret_file.as_ref(),
        ),
        Flag::given(key::SLACK_APPROVERS, "--slack-approvers", args.slack_approvers.as_ref()),
        Flag::given(
            key::SLACK_RESPONSE_URL_PREFIX,
            "--slack-response-url-prefix",
            args.slack_response_url_prefix.as_ref(),
        ),
    ];
    let configured = args.config.load(Service::Gateway, flags).settings;
    let _telemetry = ct_telemetry::init_at("ct-gateway", &configured.log_level);
    // reqwest is built without a TLS provider of its own: ring's, as everywhere here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = &configured.gateway;
    let link_key = match &settings.link_key_file {
        Some(file) => {
            Some(LinkKey::new(&read_key_file(file)?).with_context(|| format!("link key {}", file.display()))?)
        }
        None => None,
    };
    let slack = match &settings.slack_signing_secret_file {
        Some(file) => {
            let secret = read_key_file(file)?;
            // An empty file (as `scripts/make-secrets.sh` leaves it) is no secret: an empty key
            // would take requests anyone can sign.
            if secret.is_empty() {
                tracing::info!(file = %file.display(), "the Slack signing secret file is empty: Slack's requests are refused");
                None
            } else {
                Some(SigningSecret::new(&secret))
            }
        }
        None => None,
    };
    let response_prefix = reqwest::Url::parse(&settings.slack_response_url_prefix)
        .context("the Slack response_url prefix is not a URL")?;
    let target = TemporalTarget {
        address: configured.temporal.address.clone(),
        namespace: configured.temporal.namespace.clone(),
    };
    let client = ct_service::connect_client(&target, "ct-gateway").await?;
    // Connects in the background: decisions do not wait for NATS, only the events list does.
    let nats_login =
        ct_events::NatsLogin::load(configured.nats_user.as_deref(), configured.nats_password_file.as_deref())?;
    let nats = ct_events::connect(&configured.nats_url, nats_login.as_ref(), "ct-gateway").await?;
    let options = ct_gateway::Options {
        link_key,
        slack,
        approvers: settings.slack_approvers.iter().cloned().collect(),
        response_prefix,
        https: settings.url.starts_with("https://"),
        nats,
    };
    let gateway = ct_gateway::Gateway::new(client, options);
    let router = gateway.clone().router();

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("could not listen on {}", settings.listen))?;
    let addr = listener.local_addr().context("could not read the bound address")?;
    tracing::info!("listening on {addr}");
    ct_service::announce_port(args.port_file.as_deref(), addr.port());
    let shutdown = gateway.stopping();
    tokio::spawn(ct_service::cancel_on_signal(shutdown.clone()));
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving HTTP")?;
    gateway.drain(DRAIN_GRACE).await;
    tracing::info!("stopped");
    Ok(())
}
