//! The compose file cannot drift from the code: each of our services' image is built from its
//! own Dockerfile target whose entry point is its binary; every environment key it sets is one the
//! binary reads; every setting the binary reads can be given through the environment; the
//! command line is one the binary accepts (with the environment it will get); and every port
//! the file publishes or health-checks is one the command listens on and the image exposes.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use ct_config::{KEYS, Service};
use ct_e2e::{ComposeService, bin, compose_services, workspace_root};

/// What a user must give compose; any values will do for reading the file.
fn required_vars() -> BTreeMap<String, String> {
    BTreeMap::from([("CT_WORKSPACE".to_owned(), std::env::temp_dir().display().to_string())])
}

#[test]
fn the_control_token_and_nats_passwords_are_files_never_environment_values() {
    for service in compose_services(&required_vars()) {
        for key in service.environment.keys() {
            let credential = key == "CT_CONTROL_TOKEN" || (key.starts_with("NATS_") && key.ends_with("PASSWORD"));
            assert!(!credential, "{}: {key} would show in `docker inspect`; give it as a secret file", service.name);
        }
    }
}

/// Variables the executor hands to the agent CLI rather than reading itself.
fn is_agent_variable(name: &str) -> bool {
    name.starts_with("ANTHROPIC_") || ["HTTPS_PROXY", "NO_PROXY"].contains(&name)
}

/// The standard OpenTelemetry variables every binary's telemetry reads.
fn is_telemetry_variable(name: &str) -> bool {
    name.starts_with("OTEL_")
}

/// `[env: NAME=...]` names in a binary's `--help`: its process-only variables.
fn help_env_names(binary: &str) -> BTreeSet<String> {
    let out = Command::new(bin(binary)).arg("--help").output().expect("--help runs");
    let help = String::from_utf8_lossy(&out.stdout);
    help.split("[env: ").skip(1).map(|rest| rest.split(['=', ']']).next().unwrap_or_default().to_owned()).collect()
}

/// One Dockerfile stage's instructions, by `FROM ... AS <target>`.
fn dockerfile_stage(target: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace_root().join("deploy/Dockerfile")).unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("FROM ") {
            inside = line.ends_with(&format!(" AS {target}"));
        }
        if inside {
            lines.push(line.to_owned());
        }
    }
    assert!(!lines.is_empty(), "deploy/Dockerfile has no stage `AS {target}`");
    lines
}

fn instruction(stage: &[String], name: &str) -> Vec<String> {
    stage.iter().filter_map(|line| line.strip_prefix(&format!("{name} "))).map(str::to_owned).collect()
}

/// Ports the command binds: the port of every `HOST:PORT` argument, and the value of a flag
/// that names a port (nats-server's `-m`, temporal's `--port`).
fn command_ports(command: &[String]) -> BTreeSet<u16> {
    const PORT_FLAGS: [&str; 5] = ["-m", "-p", "--port", "--ui-port", "--http_port"];
    let after_flags =
        command.windows(2).filter(|w| PORT_FLAGS.contains(&w[0].as_str())).filter_map(|w| w[1].parse().ok());
    command
        .iter()
        .filter_map(|arg| arg.rsplit_once(':').and_then(|(_, port)| port.parse().ok()))
        .chain(after_flags)
        .collect()
}

/// The `tcp PORT` and `http PORT PATH` checks of a health check.
fn health_ports(test: &[String]) -> BTreeSet<u16> {
    test.windows(2).filter(|w| w[0] == "tcp" || w[0] == "http").filter_map(|w| w[1].parse().ok()).collect()
}

fn our_services() -> Vec<(Service, ComposeService)> {
    compose_services(&required_vars())
        .into_iter()
        .filter_map(|s| Service::ALL.into_iter().find(|svc| svc.name() == s.name).map(|svc| (svc, s)))
        .collect()
}

#[test]
fn every_service_image_is_its_own_dockerfile_target_running_its_binary() {
    let services = compose_services(&required_vars());
    for service in &services {
        assert_eq!(service.build_target.as_deref(), Some(service.name.as_str()), "{}", service.name);
        assert_eq!(service.build_dockerfile.as_deref(), Some("deploy/Dockerfile"), "{}", service.name);
        assert_eq!(service.image, format!("claude-temporal/{}:dev", service.name));
    }
    let ours = our_services();
    let names: Vec<&str> = ours.iter().map(|(svc, _)| svc.name()).collect();
    assert_eq!(names.len(), Service::ALL.len() - 1, "every service but the CLI is in the file: {names:?}");
    for (svc, _) in &ours {
        let entrypoint = instruction(&dockerfile_stage(svc.name()), "ENTRYPOINT");
        assert_eq!(entrypoint, [format!("[\"{}\"]", svc.binary())], "{}", svc.name());
    }
}

#[test]
fn every_environment_key_is_read_by_its_service_and_every_setting_can_be_given() {
    for (svc, service) in our_services() {
        let config_keys: BTreeSet<&str> = KEYS.iter().filter(|k| k.used_by.contains(&svc)).map(|k| k.env).collect();
        let process_keys = help_env_names(svc.binary());
        for key in service.environment.keys() {
            let read = config_keys.contains(key.as_str())
                || process_keys.contains(key)
                || key == "RUST_LOG"
                || is_telemetry_variable(key)
                || (svc == Service::Executor && is_agent_variable(key));
            assert!(read, "{}: sets {key}, which {} does not read", svc.name(), svc.binary());
        }
        for key in config_keys {
            assert!(
                service.environment.contains_key(key),
                "{}: {key} is a setting of {} but the compose file does not pass it",
                svc.name(),
                svc.binary()
            );
        }
    }
}

#[test]
fn every_command_line_is_accepted_by_its_binary() {
    for (svc, service) in our_services() {
        let out = Command::new(bin(svc.binary()))
            .args(&service.command)
            .arg("--print-config")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&service.environment)
            .current_dir(std::env::temp_dir())
            .output()
            .expect("binary runs");
        assert!(
            out.status.success(),
            "{} {:?} with the compose environment: {}",
            svc.binary(),
            service.command,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_published_or_checked_port_is_listened_on_and_exposed() {
    // The two engines listen on their defaults unless told otherwise.
    let defaults = BTreeMap::from([("temporal", vec![7233, 8233]), ("nats", vec![4222])]);
    for service in compose_services(&required_vars()) {
        let mut listened = command_ports(&service.command);
        listened.extend(defaults.get(service.name.as_str()).into_iter().flatten());
        let exposed: BTreeSet<u16> = instruction(&dockerfile_stage(&service.name), "EXPOSE")
            .iter()
            .flat_map(|line| line.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<_>>())
            .collect();
        let used: BTreeSet<u16> = service.published.iter().copied().chain(health_ports(&service.healthcheck)).collect();
        for port in used {
            assert!(listened.contains(&port), "{}: port {port} is not one its command listens on", service.name);
            assert!(exposed.contains(&port), "{}: port {port} is not EXPOSEd by its image", service.name);
        }
    }
}
