use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    let args = Args::try_parse().unwrap_or_else(|err| {
        if err.use_stderr() {
            let _ = err.print();
            // EX_USAGE: a configuration error, distinct from a crash.
            std::process::exit(64);
        }
        err.exit()
    });
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
        write_port_file(path, addr.port())?;
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    ct_test_runner::serve(listener, config, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Written whole and renamed into place, so that a reader never sees a partial number.
fn write_port_file(path: &Path, port: u16) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, port.to_string()).with_context(|| {
        format!(
            "could not write the port file {}",
            Path::new(&tmp).display()
        )
    })?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("could not move the port file into {}", path.display()))
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                tracing::error!(%err, "could not listen for SIGTERM; stopping on SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
                shutdown.cancel();
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down; test runs still going are stopped");
    shutdown.cancel();
}
