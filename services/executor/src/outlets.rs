//! The ways out of an agent run in namespaces of its own, each a Unix socket the executor serves
//! and the run reaches through a loopback port: the model relay (always), the egress proxy (when
//! the operator allows hosts), the trace collector (when the executor exports spans). The run's
//! environment is rewritten to use them; nothing else leaves the run.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ct_confine::{AllowList, Bridge, Egress, Redactor, ServedSocket};
use ct_contracts::RefusedAccess;

use crate::network::url_port;
use crate::relay::{self, Relay, Target};

/// Loopback ports inside the run.
const COLLECTOR_PORT: u16 = 4317;

/// One run's outlets; they close when dropped.
#[derive(Debug)]
pub(crate) struct Outlets {
    relay: Relay,
    egress: Option<Egress>,
    collector: Option<ServedSocket>,
    // Dropped last: the sockets live in it.
    _dir: tempfile::TempDir,
}

impl Outlets {
    /// Opens the outlets in a new directory under `state_dir` (which no run can write) and points
    /// `env`, the run's environment, at them.
    pub(crate) fn open(
        state_dir: &Path,
        env: &mut BTreeMap<String, String>,
        allow: &Arc<AllowList>,
        redactor: Arc<Redactor>,
    ) -> std::io::Result<Outlets> {
        let dir = tempfile::Builder::new().prefix("outlets-").tempdir_in(state_dir)?;
        let relay = Relay::start(dir.path().join("relay.sock"), Target::seal(env, redactor))?;
        // The operator's own proxy is not reachable from inside; the egress proxy replaces it.
        for name in ct_confine::NETWORK_ENV.iter().filter(|n| n.ends_with("_PROXY") || n.ends_with("_proxy")) {
            env.remove(*name);
        }
        let egress = if allow.is_empty() {
            None
        } else {
            Egress::point_env(env);
            Some(Egress::start(dir.path().join("egress.sock"), allow.clone())?)
        };
        let collector = match env.get("OTEL_EXPORTER_OTLP_ENDPOINT").and_then(|url| host_port(url)) {
            Some(target) => {
                env.insert("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), format!("http://127.0.0.1:{COLLECTOR_PORT}"));
                Some(ct_confine::forward(dir.path().join("collector.sock"), target)?)
            }
            None => None,
        };
        Ok(Outlets { relay, egress, collector, _dir: dir })
    }

    pub(crate) fn bridges(&self) -> Vec<Bridge> {
        let mut bridges = vec![Bridge { port: relay::INSIDE_PORT, socket: self.relay.socket().to_path_buf() }];
        if let Some(egress) = &self.egress {
            bridges.push(egress.bridge());
        }
        if let Some(collector) = &self.collector {
            bridges.push(Bridge { port: COLLECTOR_PORT, socket: collector.socket().to_path_buf() });
        }
        bridges
    }

    /// The connections the egress proxy refused, as refused accesses of the run.
    pub(crate) fn refused(&self) -> Vec<RefusedAccess> {
        self.egress
            .iter()
            .flat_map(Egress::refused)
            .map(|refusal| RefusedAccess {
                tool: "network".to_owned(),
                target: format!("{}:{}", refusal.host, refusal.port),
                error: "not in the sandbox's allow-list (CT_SANDBOX_ALLOW_HOSTS)".to_owned(),
            })
            .collect()
    }
}

/// `http://collector:4317/` → `collector:4317`.
fn host_port(url: &str) -> Option<String> {
    let port = url_port(url)?;
    let authority = url.split_once("://")?.1.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host = match host_port.rsplit_once(':') {
        Some((host, _)) if !host_port.ends_with(']') => host,
        _ => host_port,
    };
    Some(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_addresses_keep_host_and_port() {
        assert_eq!(host_port("http://127.0.0.1:4317").as_deref(), Some("127.0.0.1:4317"));
        assert_eq!(host_port("http://jaeger:4317/").as_deref(), Some("jaeger:4317"));
        assert_eq!(host_port("https://otel.example").as_deref(), Some("otel.example:443"));
    }
}
