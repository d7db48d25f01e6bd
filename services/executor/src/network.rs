//! The ports an agent needs when its tools may reach only the model endpoint. Landlock's
//! network rules name TCP ports, not hosts: "only the model endpoint" means only its port (and
//! the proxy's), on any host.

/// The ports of the model endpoint (`ANTHROPIC_BASE_URL`, else the public API's 443) and of any
/// proxy in `vars`.
pub fn model_ports<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u16> {
    let mut base = None;
    let mut ports = Vec::new();
    for (name, value) in vars {
        match name {
            "ANTHROPIC_BASE_URL" if !value.is_empty() => base = url_port(value),
            "HTTPS_PROXY" | "HTTP_PROXY" | "https_proxy" | "http_proxy" => ports.extend(url_port(value)),
            _ => {}
        }
    }
    ports.push(base.unwrap_or(443));
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The port a URL connects to: the one it names, else its scheme's.
pub fn url_port(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    // `[::1]:8080`: the port follows the bracket; a bare IPv6 address has no port.
    let after_host = host_port.rsplit_once(']').map_or(host_port, |(_, tail)| tail);
    match after_host.rsplit_once(':') {
        Some((_, port)) => port.parse().ok(),
        None => match scheme.to_ascii_lowercase().as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_and_proxy_ports_are_allowed() {
        assert_eq!(model_ports([]), [443]);
        assert_eq!(model_ports([("ANTHROPIC_BASE_URL", "http://127.0.0.1:18080/v1")]), [18080]);
        assert_eq!(
            model_ports([
                ("ANTHROPIC_BASE_URL", "https://gateway.example"),
                ("HTTPS_PROXY", "http://user:pw@[::1]:3128"),
                ("PATH", "/bin"),
            ]),
            [443, 3128]
        );
        assert_eq!(model_ports([("ANTHROPIC_BASE_URL", "http://models.internal")]), [80]);
    }
}
