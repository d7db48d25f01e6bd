//! How a replica names itself to Temporal. The identity is what `status --json` shows as a
//! stage's `executor_id` and what Temporal lists as a task queue's poller; it ends in
//! `@<control address>`, so `claude-temporal fleet` can reach each poller's control API
//! from the poller list alone.

use std::net::SocketAddr;

/// `<service>:<host>:<pid>@<control address>`.
pub fn instance_identity(service: &str, control: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("{service}:{host}:{}@{control}", std::process::id())
}

/// The control address at the end of an identity made by [`instance_identity`].
pub fn control_address(identity: &str) -> Option<&str> {
    identity.rsplit_once('@').map(|(_, address)| address).filter(|a| a.parse::<SocketAddr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_address_is_read_back_from_the_identity() {
        let identity = instance_identity("executor", "127.0.0.1:4100".parse().unwrap());
        assert!(identity.starts_with("executor:"));
        assert_eq!(control_address(&identity), Some("127.0.0.1:4100"));
        assert_eq!(control_address("12345@some-host"), None);
    }
}
