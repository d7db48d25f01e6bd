//! The compose file as the tests read it: YAML with its `<<` merges applied and `${...}`
//! interpolated the way Compose does, from a given environment.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use crate::workspace_root;

/// One service of the compose file, interpolated.
#[derive(Debug, Clone)]
pub struct ComposeService {
    pub name: String,
    pub image: String,
    pub build_target: Option<String>,
    pub build_dockerfile: Option<String>,
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Container ports published to the host.
    pub published: Vec<u16>,
    pub healthcheck: Vec<String>,
}

/// The services of `docker-compose.yml` at the repository root, with `vars` as the environment.
pub fn compose_services(vars: &BTreeMap<String, String>) -> Vec<ComposeService> {
    let path = workspace_root().join("docker-compose.yml");
    let mut doc: Value = serde_yaml::from_str(&read(&path)).expect("docker-compose.yml is YAML");
    doc.apply_merge().expect("merge keys");
    let services = doc["services"].as_mapping().expect("services:");
    services
        .iter()
        .map(|(name, service)| {
            let mut service = service.clone();
            // Merges nested in services (`build: { <<: *build, ... }`) are applied too.
            service.apply_merge().expect("merge keys");
            let text = |v: &Value| interpolate(&scalar(v), vars);
            let list = |v: &Value| v.as_sequence().map(|s| s.iter().map(text).collect()).unwrap_or_default();
            ComposeService {
                name: scalar(name),
                image: text(&service["image"]),
                build_target: service["build"]["target"].as_str().map(str::to_owned),
                build_dockerfile: service["build"]["dockerfile"].as_str().map(str::to_owned),
                command: list(&service["command"]),
                environment: service["environment"]
                    .as_mapping()
                    .map(|env| env.iter().map(|(k, v)| (scalar(k), text(v))).collect())
                    .unwrap_or_default(),
                published: list(&service["ports"]).iter().map(|p: &String| container_port(p)).collect(),
                healthcheck: list(&service["healthcheck"]["test"]),
            }
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// `[IP:]HOST_PORT:CONTAINER_PORT` → the container port.
fn container_port(spec: &str) -> u16 {
    let port = spec.rsplit(':').next().unwrap_or(spec);
    port.split('/').next().unwrap_or(port).parse().unwrap_or_else(|_| panic!("port {spec}"))
}

/// Compose's interpolation: `${X}`, `${X:-default}`, `${X:?error}` and `$$`. An unset
/// `${X:?error}` panics with the error, as Compose refuses to start.
fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let body_end = rest.find('}').filter(|_| rest.starts_with('{')).expect("only ${...} forms are used");
        let body = &rest[1..body_end];
        rest = &rest[body_end + 1..];
        let (name, fallback) = match body.find(":-").or_else(|| body.find(":?")) {
            Some(i) => (&body[..i], Some((&body[i..i + 2], &body[i + 2..]))),
            None => (body, None),
        };
        let value = vars.get(name).filter(|v| !v.is_empty());
        match (value, fallback) {
            (Some(value), _) => out.push_str(value),
            (None, Some((":-", default))) => out.push_str(default),
            (None, Some((_, error))) => panic!("compose would refuse: {name}: {error}"),
            (None, None) => {}
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_follows_compose() {
        let vars = BTreeMap::from([("A".to_owned(), "1".to_owned()), ("E".to_owned(), String::new())]);
        assert_eq!(interpolate("x${A}y", &vars), "x1y");
        assert_eq!(interpolate("${E:-d}/${B:-}", &vars), "d/");
        assert_eq!(interpolate("$$HOME ${A:?need A}", &vars), "$HOME 1");
        assert_eq!(container_port("127.0.0.1:${P}:7233"), 7233);
    }
}
