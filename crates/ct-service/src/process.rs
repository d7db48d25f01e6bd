//! What every binary does around its work: flags, signals, readiness files, exiting with a
//! reason.

/// Cancels `token` on SIGINT or SIGTERM, so every binary drains the same way.
pub async fn cancel_on_signal(token: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        tracing::warn!("cannot install signal handlers; stop the process with SIGKILL");
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("signal received, shutting down");
    token.cancel();
}

/// Parses the process flags; a usage error exits 64 (EX_USAGE), so a bad
/// configuration is told apart from a crash. `--help` and `--version` exit 0.
pub fn parse_args<A: clap::Parser>() -> A {
    A::try_parse().unwrap_or_else(|err| {
        if err.use_stderr() {
            let _ = err.print();
            std::process::exit(64);
        }
        err.exit()
    })
}

/// Writes the bound port for whoever started the process on port 0. Written
/// under a temporary name and renamed, so a reader polling the file never sees
/// it empty or half-written.
pub fn write_port_file(path: &std::path::Path, port: u16) -> std::io::Result<()> {
    write_ready_file(path, &port.to_string())
}

fn write_ready_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

/// Removes a readiness file left by an earlier run of the process (a restarted container keeps
/// its files), so that nobody takes this run for ready before it says so.
pub fn withdraw_ready_file(path: Option<&std::path::Path>) {
    if let Some(path) = path
        && let Err(err) = std::fs::remove_file(path)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::error!("cannot remove the stale readiness file {}: {err}", path.display());
        std::process::exit(1);
    }
}

/// Writes the port file once the process is ready to be used, or exits 1: whoever started it
/// waits for that file and could never reach it without.
pub fn announce_port(path: Option<&std::path::Path>, port: u16) {
    announce_ready(path, &port.to_string());
}

/// Writes `contents` to the readiness file once the process is ready, or exits 1 (see
/// [`announce_port`]).
pub fn announce_ready(path: Option<&std::path::Path>, contents: &str) {
    if let Some(path) = path
        && let Err(err) = write_ready_file(path, contents)
    {
        tracing::error!("cannot write the readiness file {}: {err}", path.display());
        std::process::exit(1);
    }
}

/// Says why the process cannot go on, in one line on stderr, and exits with `code`: 64
/// (EX_USAGE) for a bad setting, 1 for a failure while running.
pub fn exit_with(service: &str, code: i32, err: &dyn std::fmt::Display) -> ! {
    tracing::error!("{err}");
    eprintln!("{service}: {err}");
    std::process::exit(code)
}
