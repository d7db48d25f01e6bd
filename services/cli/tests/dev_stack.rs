//! `claude-temporal dev up|status|down` with the real Temporal dev server and nats-server on
//! free ports. The binaries come from TEMPORAL_BIN / NATS_SERVER_BIN, PATH or the project's
//! `.tools` (scripts/install-tools.sh).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Ports that were free a moment ago; held together so no two are the same.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// A state directory whose stack is stopped even when an assertion fails.
struct DevState {
    dir: tempfile::TempDir,
}

impl DevState {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_claude-temporal"))
            .arg("dev")
            .arg("--state-dir")
            .arg(self.dir.path())
            .args(args)
            .current_dir(workspace_root())
            .output()
            .unwrap();
        eprintln!(
            "$ claude-temporal dev {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for DevState {
    fn drop(&mut self) {
        self.run(&["down"]);
    }
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn status_code(response: &str) -> &str {
    response.split_whitespace().nth(1).unwrap_or_default()
}

fn nats_greeting(address: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// Gone, or a zombie waiting for an init that reaps lazily.
fn process_gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn up_starts_temporal_and_nats_up_again_is_harmless_and_down_stops_them() {
    let state = DevState::new();
    let [temporal_port, ui_port, nats_port, monitor_port] = free_ports();
    let up_args = [
        "up",
        "--only",
        "temporal,nats",
        "--temporal-port",
        &temporal_port.to_string(),
        "--ui-port",
        &ui_port.to_string(),
        "--nats-port",
        &nats_port.to_string(),
        "--nats-monitor-port",
        &monitor_port.to_string(),
        "--json",
    ]
    .map(str::to_owned);
    let up_args: Vec<&str> = up_args.iter().map(String::as_str).collect();

    let up = state.run(&up_args);
    assert!(up.status.success());
    let stack = stdout_json(&up);
    let temporal_address = format!("127.0.0.1:{temporal_port}");
    assert_eq!(stack["temporal_address"], temporal_address.as_str());
    assert_eq!(
        stack["temporal_ui_url"],
        format!("http://127.0.0.1:{ui_port}").as_str()
    );
    assert_eq!(
        stack["nats_url"],
        format!("nats://127.0.0.1:{nats_port}").as_str()
    );
    let components = stack["components"].as_array().unwrap();
    let names: Vec<&str> = components
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["temporal", "nats"]);
    let pids: Vec<u64> = components
        .iter()
        .map(|c| c["pid"].as_u64().unwrap())
        .collect();

    let temporal_bin = components[0]["binary"].as_str().unwrap();
    let health = Command::new(temporal_bin)
        .args([
            "operator",
            "cluster",
            "health",
            "--address",
            &temporal_address,
        ])
        .output()
        .unwrap();
    assert!(health.status.success(), "{health:?}");
    let ui = http_get(&format!("127.0.0.1:{ui_port}"), "/");
    assert_eq!(status_code(&ui), "200", "{ui}");
    assert_eq!(nats_greeting(&format!("127.0.0.1:{nats_port}")), "INFO");
    let jetstream = http_get(&format!("127.0.0.1:{monitor_port}"), "/jsz");
    assert_eq!(status_code(&jetstream), "200", "{jetstream}");

    let again = state.run(&up_args);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already running"));
    let again_pids: Vec<u64> = stdout_json(&again)["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(again_pids, pids, "a second up keeps the running processes");

    let status = state.run(&["status", "--json"]);
    assert!(status.status.success());
    assert_eq!(stdout_json(&status)["up"], true);

    let down = state.run(&["down"]);
    assert!(down.status.success());
    for pid in &pids {
        assert!(process_gone(*pid), "pid {pid} still runs after down");
    }
    assert!(TcpStream::connect(&temporal_address).is_err());
    assert!(TcpStream::connect(format!("127.0.0.1:{nats_port}")).is_err());

    let status = state.run(&["status"]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "status exits 1 when nothing runs"
    );
    let down_again = state.run(&["down"]);
    assert!(down_again.status.success());
    assert!(String::from_utf8_lossy(&down_again.stdout).contains("no local stack is running"));
}

#[test]
fn up_with_a_missing_scenario_names_the_file() {
    let state = DevState::new();
    let up = state.run(&["up", "--scripted-model", "no/such/scenario.json"]);
    assert!(!up.status.success());
    assert!(String::from_utf8_lossy(&up.stderr).contains("no/such/scenario.json"));
}
