//! How `up` tells that a component it started is ready to be used.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub(crate) enum Readiness {
    /// `temporal operator cluster health` succeeds and the Web UI port accepts connections.
    TemporalHealth { temporal: PathBuf, address: String, ui_address: String },
    /// `GET path` answers 200.
    HttpOk { address: String, path: &'static str },
    /// The process wrote the port it bound to this file, and that port accepts connections.
    PortFile(PathBuf),
    /// The process logged this text.
    LogLine { log: PathBuf, needle: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    NotYet,
    /// With the port read from the port file, if the readiness check had one.
    Ready(Option<u16>),
}

impl Readiness {
    pub(crate) async fn probe(&self) -> Probe {
        let ready = |yes: bool| {
            if yes { Probe::Ready(None) } else { Probe::NotYet }
        };
        match self {
            Self::TemporalHealth { temporal, address, ui_address } => {
                ready(temporal_healthy(temporal, address).await && tcp_answers(ui_address).await)
            }
            Self::HttpOk { address, path } => ready(http_ok(address, path).await),
            Self::PortFile(path) => match read_port(path) {
                Some(port) if tcp_answers(&format!("127.0.0.1:{port}")).await => Probe::Ready(Some(port)),
                _ => Probe::NotYet,
            },
            Self::LogLine { log, needle } => {
                ready(std::fs::read(log).is_ok_and(|text| String::from_utf8_lossy(&text).contains(needle)))
            }
        }
    }
}

async fn temporal_healthy(temporal: &Path, address: &str) -> bool {
    let mut command = tokio::process::Command::new(temporal);
    command
        .args(["operator", "cluster", "health", "--address", address])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    // The user's TEMPORAL_* settings (TLS, API key, profile) are for their own cluster, not
    // for the plain loopback dev server this probes.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TEMPORAL_") {
            command.env_remove(key);
        }
    }
    matches!(timeout(PROBE_TIMEOUT, command.status()).await, Ok(Ok(status)) if status.success())
}

pub(crate) async fn tcp_answers(address: &str) -> bool {
    matches!(timeout(PROBE_TIMEOUT, TcpStream::connect(address)).await, Ok(Ok(_)))
}

/// A bare HTTP/1.0 request: enough for a health endpoint, without an HTTP client stack.
async fn http_ok(address: &str, path: &str) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        std::io::Result::Ok(response)
    };
    let Ok(Ok(response)) = timeout(PROBE_TIMEOUT, exchange).await else {
        return false;
    };
    let status_line = response.split(|&b| b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line);
    status_line.starts_with("HTTP/1.") && status_line.split_whitespace().nth(1) == Some("200")
}

/// Accepts `PORT` or `HOST:PORT`; a half-written file reads as not yet there.
fn read_port(path: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    text.rsplit(':').next()?.parse().ok()
}

/// The last `lines` lines of a log, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::from("(no log written)");
    };
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    if all.is_empty() {
        return String::from("(log is empty)");
    }
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_files_hold_a_port_or_an_address() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.port");
        std::fs::write(&file, "41234\n").unwrap();
        assert_eq!(read_port(&file), Some(41234));
        std::fs::write(&file, "127.0.0.1:41235").unwrap();
        assert_eq!(read_port(&file), Some(41235));
        std::fs::write(&file, "").unwrap();
        assert_eq!(read_port(&file), None);
        assert_eq!(read_port(&dir.path().join("missing")), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        std::fs::write(&log, "one\ntwo\nthree\n").unwrap();
        assert_eq!(tail(&log, 2), "two\nthree");
        assert_eq!(tail(&dir.path().join("missing"), 2), "(no log written)");
    }

    #[tokio::test]
    async fn a_health_endpoint_answering_200_is_ready() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            for reply in ["HTTP/1.0 503 Service Unavailable\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\n{}"] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 256];
                let _ = socket.read(&mut request).await.unwrap();
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        assert!(!http_ok(&address, "/healthz").await);
        assert!(http_ok(&address, "/healthz").await);
        server.await.unwrap();
    }
}
