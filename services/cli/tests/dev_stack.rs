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
    let listeners: Vec<TcpListener> = (0..N).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// A state directory whose stack is stopped even when an assertion fails.
struct DevState {
    dir: tempfile::TempDir,
}

impl DevState {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(&[], args)
    }

    fn run_with(&self, env: &[(&str, &Path)], args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_claude-temporal"))
            .envs(env.iter().copied())
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
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
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
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// Gone, or a zombie waiting for an init that reaps lazily.
fn process_gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
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
    assert_eq!(stack["temporal_ui_url"], format!("http://127.0.0.1:{ui_port}").as_str());
    assert_eq!(stack["nats_url"], format!("nats://127.0.0.1:{nats_port}").as_str());
    let components = stack["components"].as_array().unwrap();
    let names: Vec<&str> = components.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["temporal", "nats"]);
    let pids: Vec<u64> = components.iter().map(|c| c["pid"].as_u64().unwrap()).collect();

    let temporal_bin = components[0]["binary"].as_str().unwrap();
    let health = Command::new(temporal_bin)
        .args(["operator", "cluster", "health", "--address", &temporal_address])
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
    let again_pids: Vec<u64> =
        stdout_json(&again)["components"].as_array().unwrap().iter().map(|c| c["pid"].as_u64().unwrap()).collect();
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
    assert_eq!(status.status.code(), Some(1), "status exits 1 when nothing runs");
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

/// One HTTP request a webhook receiver got.
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map_or("", |(_, v)| v.as_str())
    }
}

/// A webhook receiver on a free loopback port that answers 200 to every request.
fn webhook_receiver() -> (u16, std::sync::mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            use std::io::BufRead;
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx.send(Received { headers, body }).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

fn stage_completed(workflow_id: &str) -> ct_events::CloudEvent {
    ct_events::CloudEvent::new(
        "/claude-temporal/test",
        ct_events::EventData::StageCompleted(ct_events::data::StageOutcome {
            workflow_id: workflow_id.to_owned(),
            workflow_kind: "develop".to_owned(),
            stage: "scaffold".to_owned(),
            model: Some("claude-sonnet-4-5".to_owned()),
            tokens: ct_events::data::TokenUsage {
                input_tokens: 1000,
                output_tokens: 200,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
            },
            cost_usd: 0.25,
            duration_ms: 1200,
            files_modified: vec!["a.py".to_owned()],
            files_truncated: false,
            lines_added: 3,
            lines_removed: 1,
            tests: None,
            error: None,
        }),
    )
}

fn wait_until<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_only_in_a_config_file_reach_the_notifier_and_the_metrics_sink_and_no_secret_leaks() {
    use base64::Engine as _;
    let state = DevState::new();
    let dir = tempfile::tempdir().unwrap();
    let (receiver_port, received) = webhook_receiver();
    let signing_key = b"e2e-webhook-signing-key-0123456789";
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(signing_key));
    let hook_token = "T0KEN-in-the-hook-path";
    let metrics_file = dir.path().join("stage-metrics.jsonl");
    let config_file = dir.path().join("claude-temporal.toml");
    std::fs::write(
        &config_file,
        format!(
            "metrics_file = \"{}\"\n\n[notification]\ntype = \"console,webhook\"\nwebhook_url = \"http://127.0.0.1:{receiver_port}/hooks/{hook_token}\"\nwebhook_secret = \"{secret}\"\n",
            metrics_file.display()
        ),
    )
    .unwrap();
    let config = [("CLAUDE_TEMPORAL_CONFIG", config_file.as_path())];
    let [nats_port, monitor_port, metrics_port, notifier_port] = free_ports();
    let up = state.run_with(
        &config,
        &[
            "up",
            "--only",
            "nats,notifier,metrics-sink",
            "--nats-port",
            &nats_port.to_string(),
            "--nats-monitor-port",
            &monitor_port.to_string(),
            "--metrics-port",
            &metrics_port.to_string(),
            "--notifier-metrics-port",
            &notifier_port.to_string(),
            "--json",
        ],
    );
    assert!(up.status.success());
    let stack = stdout_json(&up);

    let publisher = ct_events::Publisher::connect(ct_events::PublisherConfig::new(
        stack["nats_url"].as_str().unwrap(),
        "dev-stack-test",
    ))
    .await
    .unwrap();
    let event = stage_completed("wf-config-file");
    let event_id = event.id.clone();
    publisher.publish(event);
    publisher.flush(Duration::from_secs(10)).await.unwrap();

    // The webhook set only in the file got the event, signed with the file's secret.
    let request = wait_until("the webhook receives the event", Duration::from_secs(30), || {
        received.recv_timeout(Duration::from_millis(100)).ok().filter(|r| r.header("webhook-id") == event_id)
    });
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, signing_key);
    let signed = format!("{}.{}.", request.header("webhook-id"), request.header("webhook-timestamp"));
    let mut message = signed.into_bytes();
    message.extend_from_slice(&request.body);
    let signature = request.header("webhook-signature").strip_prefix("v1,").expect("a v1 signature");
    let signature = base64::engine::general_purpose::STANDARD.decode(signature).unwrap();
    ring::hmac::verify(&key, &message, &signature).expect("the signature is made with the file's secret");

    // The metrics file named only in the config file holds the stage's line, and `metrics`
    // reads that same file.
    wait_until("the sink writes the configured file", Duration::from_secs(30), || {
        std::fs::read_to_string(&metrics_file).ok().filter(|text| text.contains(&event_id))
    });
    let summary =
        Command::new(env!("CARGO_BIN_EXE_claude-temporal")).envs(config).args(["metrics", "--json"]).output().unwrap();
    assert!(summary.status.success(), "{}", String::from_utf8_lossy(&summary.stderr));
    assert_eq!(stdout_json(&summary)["total"]["stages"], 1);

    // The secret and the hook's path are on no command line, in no log, not in stack.json and
    // not in `config show`.
    let mut seen = Vec::new();
    for component in stack["components"].as_array().unwrap() {
        let pid = component["pid"].as_u64().unwrap();
        seen.push(String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap()).replace('\0', " "));
    }
    for entry in std::fs::read_dir(stack["log_dir"].as_str().unwrap()).unwrap() {
        seen.push(std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    seen.push(std::fs::read_to_string(state.dir.path().join("stack.json")).unwrap());
    for service in ["notifier", "metrics-sink"] {
        let show = Command::new(env!("CARGO_BIN_EXE_claude-temporal"))
            .envs(config)
            .args(["config", "show", "--service", service])
            .output()
            .unwrap();
        assert!(show.status.success());
        seen.push(String::from_utf8_lossy(&show.stdout).into_owned());
    }
    assert!(seen.last().unwrap().contains("stage-metrics.jsonl"), "{}", seen.last().unwrap());
    for text in &seen {
        assert!(!text.contains(&secret) && !text.contains(hook_token), "a secret leaked into:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_starts_the_gateway_with_a_key_the_notifier_signs_links_with_and_ui_signs_in_to() {
    let state = DevState::new();
    let dir = tempfile::tempdir().unwrap();
    let (receiver_port, received) = webhook_receiver();
    let config_file = dir.path().join("claude-temporal.toml");
    std::fs::write(
        &config_file,
        format!(
            "[notification]\ntype = \"webhook\"\nwebhook_url = \"http://127.0.0.1:{receiver_port}/hooks\"\n\
             webhook_secret = \"whsec_c2VjcmV0LWZvci10aGUtZGV2LXN0YWNrLXRlc3Q=\"\n"
        ),
    )
    .unwrap();
    let config = [("CLAUDE_TEMPORAL_CONFIG", config_file.as_path())];
    let [temporal_port, ui_port, nats_port, monitor_port, notifier_port, gateway_port] = free_ports();
    let up = state.run_with(
        &config,
        &[
            "up",
            "--only",
            "temporal,nats,notifier,gateway",
            "--temporal-port",
            &temporal_port.to_string(),
            "--ui-port",
            &ui_port.to_string(),
            "--nats-port",
            &nats_port.to_string(),
            "--nats-monitor-port",
            &monitor_port.to_string(),
            "--notifier-metrics-port",
            &notifier_port.to_string(),
            "--gateway-port",
            &gateway_port.to_string(),
            "--json",
        ],
    );
    assert!(up.status.success());
    let stack = stdout_json(&up);
    let gateway = format!("127.0.0.1:{gateway_port}");
    assert_eq!(stack["gateway_url"], format!("http://{gateway}").as_str());
    let key_file = state.dir.path().join("link.key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600, "the key is private");
    let logs = std::fs::metadata(stack["log_dir"].as_str().unwrap()).unwrap();
    assert_eq!(logs.permissions().mode() & 0o777, 0o700, "so are the logs");

    // An approval request: the webhook's copy carries links to this gateway, signed with the
    // stack's key (the gateway takes them: the signature holds, and the gate it names is unknown).
    let publisher = ct_events::Publisher::connect(ct_events::PublisherConfig::new(
        stack["nats_url"].as_str().unwrap(),
        "dev-stack-test",
    ))
    .await
    .unwrap();
    publisher.publish(ct_events::CloudEvent::new(
        "/claude-temporal/test",
        ct_events::EventData::ApprovalRequested(ct_events::data::ApprovalRequested {
            workflow_id: "wf-gateway".to_owned(),
            run_id: "00000000-0000-4000-8000-000000000001".to_owned(),
            stage: "implement".to_owned(),
            summary: None,
            cost_so_far_usd: 0.1,
            timeout_secs: Some(600),
            estimate_rest_usd: None,
        }),
    ));
    publisher.flush(Duration::from_secs(10)).await.unwrap();
    let request = wait_until("the webhook receives the request", Duration::from_secs(30), || {
        received.recv_timeout(Duration::from_millis(100)).ok()
    });
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let link = body["approveurl"].as_str().expect("an approve link");
    let path = link.strip_prefix(&format!("http://{gateway}")).expect("to this stack's gateway");
    let page = http_get(&gateway, path);
    assert_eq!(status_code(&page), "409", "signed with the gateway's key, for a gate that is not open: {page}");

    // `ui` finds the stack's gateway and key by itself.
    let ui = Command::new(env!("CARGO_BIN_EXE_claude-temporal"))
        .env("CT_STATE_DIR", state.dir.path())
        .env_remove("CT_LINK_KEY_FILE")
        .args(["ui", "--json"])
        .output()
        .unwrap();
    assert!(ui.status.success(), "{}", String::from_utf8_lossy(&ui.stderr));
    let login = stdout_json(&ui)["url"].as_str().unwrap().to_owned();
    let page = http_get(&gateway, login.strip_prefix(&format!("http://{gateway}")).unwrap());
    assert_eq!(status_code(&page), "200", "{page}");
    assert!(page.contains("Sign in"), "{page}");

    // With the stack's key, at the address people reach it by (a proxy in front of it).
    let proxied = Command::new(env!("CARGO_BIN_EXE_claude-temporal"))
        .env("CT_STATE_DIR", state.dir.path())
        .env_remove("CT_LINK_KEY_FILE")
        .args(["ui", "--gateway-url", "https://approvals.example.com", "--json"])
        .output()
        .unwrap();
    assert!(proxied.status.success(), "{}", String::from_utf8_lossy(&proxied.stderr));
    let login = stdout_json(&proxied)["url"].as_str().unwrap().to_owned();
    let token = login.strip_prefix("https://approvals.example.com/login/").expect("the given address");
    let page = http_get(&gateway, &format!("/login/{token}"));
    assert_eq!(status_code(&page), "200", "signed with the stack's key: {page}");
}
