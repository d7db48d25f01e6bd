//! How a replica names itself to Temporal. The identity is what `status --json` shows as a
//! stage's `executor_id` and what Temporal lists as a task queue's poller; it ends in
//! `@<control address>`, so `claude-temporal fleet` can reach each poller's control API
//! from the poller list alone.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

/// `<service>:<host>:<pid>@<control address>`.
pub fn instance_identity(service: &str, control: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("{service}:{host}:{}@{control}", std::process::id())
}

/// The address other processes reach a control API on: `given` when set; else the bound
/// address; else, for a listener on a wildcard address (0.0.0.0 in a container), the address
/// of the interface that routes toward Temporal, which every member of the fleet shares a
/// network with. Connecting a UDP socket only picks a route; nothing is sent.
pub fn advertised_address(bound: SocketAddr, given: Option<SocketAddr>, temporal: &str) -> std::io::Result<SocketAddr> {
    if let Some(given) = given {
        return Ok(given);
    }
    if !bound.ip().is_unspecified() {
        return Ok(bound);
    }
    let toward = temporal.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("{temporal} resolves to no address"))
    })?;
    let wildcard: SocketAddr = if toward.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let probe = UdpSocket::bind(wildcard)?;
    probe.connect(toward)?;
    Ok(SocketAddr::new(probe.local_addr()?.ip(), bound.port()))
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

    #[test]
    fn a_wildcard_listener_advertises_the_address_that_reaches_temporal() {
        let wildcard: SocketAddr = "0.0.0.0:4100".parse().unwrap();
        let advertised = advertised_address(wildcard, None, "127.0.0.1:7233").unwrap();
        assert_eq!(advertised, "127.0.0.1:4100".parse().unwrap());

        let bound: SocketAddr = "127.0.0.1:4101".parse().unwrap();
        assert_eq!(advertised_address(bound, None, "127.0.0.1:7233").unwrap(), bound);

        let given: SocketAddr = "10.1.2.3:50061".parse().unwrap();
        assert_eq!(advertised_address(wildcard, Some(given), "127.0.0.1:7233").unwrap(), given);
    }
}
