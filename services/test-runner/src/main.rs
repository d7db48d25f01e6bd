use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// gRPC test-runner: detects a project's test framework, runs its tests, reports the outcome.
#[derive(Parser)]
#[command(name = "ct-test-runner", version)]
struct Args {
    /// Address to listen on; port 0 picks a free one (see --port-file).
    #[arg(long, env = "CT_TEST_RUNNER_LISTEN", default_value = "127.0.0.1:50062")]
    listen: SocketAddr,

    /// Timeout for a run whose request gives none.
    #[arg(long, env = "TEST_TIMEOUT", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    default_timeout_secs: u64,

    /// Python interpreter for pytest when a project has no .venv/bin/python [default: python3 on PATH].
    #[arg(long, env = "PYTHON")]
    python: Option<PathBuf>,

    /// Write the bound port to this file once listening (for --listen with port 0).
    #[arg(long)]
    port_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ct_telemetry::init("ct-test-runner");
    let args: Args = ct_telemetry::parse_args();
    let config = ct_test_runner::Config {
        default_timeout: Duration::from_secs(args.default_timeout_secs),
        python: args.python,
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("could not read the bound address")?;
    tracing::info!("listening on {addr}");
    if let Some(path) = &args.port_file {
        ct_telemetry::write_port_file(path, addr.port())
            .with_context(|| format!("could not write the port file {}", path.display()))?;
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(ct_telemetry::cancel_on_signal(shutdown.clone()));
    ct_test_runner::serve(listener, config, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
