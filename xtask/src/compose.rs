//! `cargo xtask compose-test`: Docker and Compose where they are missing, a running engine,
//! the base images where no registry can supply them, every image of deploy/Dockerfile, then
//! the compose test (tests/e2e/tests/compose.rs, in the e2e binary). It stops the engine only if it started it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::workspace::{self, Workspace};

/// Every target of deploy/Dockerfile, built as `claude-temporal/<target>:dev` (the names the
/// compose files use).
const TARGETS: [&str; 9] =
    ["temporal", "nats", "worker", "executor", "test-runner", "notifier", "metrics-sink", "gateway", "scripted-model"];
const ENGINE_START: Duration = Duration::from_secs(60);
const ENGINE_STOP: Duration = Duration::from_secs(30);

pub(crate) fn run(cargo_test_args: &[String]) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let ws = workspace::prepare()?;
    step(&ws, "bash", &["scripts/install-docker.sh"], &[])?;
    let docker = docker_client();
    let engine = Engine::ensure(&docker, &ws.target_dir().join("compose-test"))?;
    step(&ws, "bash", &["scripts/base-images.sh"], &[("DOCKER", docker.as_os_str())])?;
    build_images(&ws, &docker)?;
    eprintln!("xtask: images ready after {:.0?}", started.elapsed());

    let compose = compose_program(&docker);
    eprintln!("xtask: compose test with `{compose}`");
    let status = ws
        .cargo()
        // `--workspace` resolves features as `cargo xtask test` does, so its build is reused.
        .args(["test", "--workspace", "--test", "e2e", "--", "--ignored", "--nocapture", "compose::"])
        .args(cargo_test_args)
        .env("CT_BIN_DIR", ws.bin_dir())
        .env("DOCKER", &docker)
        .env("COMPOSE", &compose)
        .status()
        .context("cannot run cargo test")?;
    drop(engine);
    eprintln!("xtask: compose-test took {:.0?}", started.elapsed());
    Ok(workspace::exit_code(status))
}

fn step(ws: &Workspace, program: &str, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> anyhow::Result<()> {
    let status = ws.command(program).args(args).envs(env.iter().copied()).status();
    workspace::check(status, &format!("{program} {}", args.join(" ")))
}

/// Debian's client where installed: it has BuildKit built in, where a newer client on PATH
/// may need a buildx plugin this machine lacks.
fn docker_client() -> PathBuf {
    let debian = Path::new("/usr/bin/docker");
    if debian.exists() { debian.to_owned() } else { PathBuf::from("docker") }
}

/// `docker compose` (v2) when the client has it, else `docker-compose` (1.29).
fn compose_program(docker: &Path) -> String {
    if succeeds(docker, &["compose", "version"]) {
        format!("{} compose", docker.display())
    } else {
        "docker-compose".to_owned()
    }
}

fn build_images(ws: &Workspace, docker: &Path) -> anyhow::Result<()> {
    // Behind a proxy that re-signs TLS the builds need this machine's CA bundle; handed over
    // as a build secret, it is never kept in an image.
    let ca_bundle = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")).filter(|p| p.is_file()));
    for target in TARGETS {
        let started = Instant::now();
        let mut build = ws.command(docker);
        build
            .args(["build", "-q", "-f", "deploy/Dockerfile", "--target", target])
            .args(["-t", &format!("claude-temporal/{target}:dev")])
            .env("DOCKER_BUILDKIT", "1")
            .stdout(Stdio::null());
        if let Some(bundle) = &ca_bundle {
            build.arg("--secret").arg(format!("id=extra-ca,src={}", bundle.display()));
        }
        workspace::check(build.arg(".").status(), &format!("docker build --target {target}"))?;
        eprintln!("xtask: image claude-temporal/{target}:dev in {:.1?}", started.elapsed());
    }
    Ok(())
}

/// The Docker engine: already running, or started here and stopped on drop.
struct Engine {
    started: Option<Child>,
}

impl Engine {
    fn ensure(docker: &Path, state: &Path) -> anyhow::Result<Engine> {
        if succeeds(docker, &["info"]) {
            return Ok(Engine { started: None });
        }
        std::fs::create_dir_all(state).with_context(|| format!("cannot create {}", state.display()))?;
        let log_path = state.join("dockerd.log");
        let log = std::fs::File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
        eprintln!("xtask: starting dockerd (log: {})", log_path.display());
        let child = Command::new("dockerd")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start dockerd: install docker.io (scripts/install-docker.sh) and run as root")?;
        let engine = Engine { started: Some(child) };
        let deadline = Instant::now() + ENGINE_START;
        while !succeeds(docker, &["info"]) {
            if Instant::now() > deadline {
                bail!("dockerd did not answer within {ENGINE_START:?}; see {}", log_path.display());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(engine)
    }
}

/// Whether `docker ARGS` runs and exits 0 (output discarded).
fn succeeds(docker: &Path, args: &[&str]) -> bool {
    Command::new(docker).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

impl Drop for Engine {
    fn drop(&mut self) {
        let Some(child) = &mut self.started else { return };
        eprintln!("xtask: stopping the dockerd it started");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + ENGINE_STOP;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
