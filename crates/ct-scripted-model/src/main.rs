use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use ct_scripted_model::{Scenario, serve};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves the Anthropic Messages API from a scenario file, for running the real Claude Code
/// CLI against scripted answers (ANTHROPIC_BASE_URL=http://<listen address>).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Scenario JSON file.
    #[arg(long, env = "CT_SCRIPTED_MODEL_SCENARIO")]
    scenario: PathBuf,
    #[arg(long, env = "CT_SCRIPTED_MODEL_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write the bound port here once listening, for callers that asked for port 0.
    #[arg(long, env = "CT_SCRIPTED_MODEL_PORT_FILE")]
    port_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = ct_service::parse_args();
    let _telemetry = ct_telemetry::init("ct-scripted-model");
    let scenario = Scenario::from_file(&args.scenario)?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    if let Some(path) = &args.port_file {
        ct_service::write_port_file(path, addr.port())
            .with_context(|| format!("cannot write port file {}", path.display()))?;
    }
    tracing::info!("listening on http://{addr}");

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_service::cancel_on_signal(shutdown.clone()));
    serve(listener, scenario, shutdown).await?;
    Ok(())
}
