//! The `ct-scripted-model` process as scripts start it: port file, error answers, SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn binary_reports_its_port_answers_and_stops_on_sigterm() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let scenario = dir.path().join("scenario.json");
    std::fs::write(&scenario, r#"{"scripts": [{"name": "any", "turns": []}]}"#)?;
    let port_file = dir.path().join("port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ct-scripted-model"))
        .arg("--scenario")
        .arg(&scenario)
        .arg("--port-file")
        .arg(&port_file)
        .stderr(Stdio::null())
        .spawn()?;

    let started = Instant::now();
    let port: u16 = loop {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            break text.trim().parse()?;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "no port file after 10 s");
        std::thread::sleep(Duration::from_millis(20));
    };

    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(response.contains(r#""type":"not_found_error""#), "{response}");

    let term = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
    assert!(term.success());
    assert!(child.wait()?.success(), "SIGTERM is a clean shutdown");
    Ok(())
}
