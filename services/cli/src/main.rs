use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _telemetry = ct_telemetry::init("claude-temporal");
    let cli = claude_temporal::cli::Cli::parse();
    match claude_temporal::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            claude_temporal::exit_code(&err)
        }
    }
}
