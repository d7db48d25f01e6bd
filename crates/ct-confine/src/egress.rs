//! The egress proxy: the only way out of a run's network namespace. It listens on a Unix socket
//! (bridged into the run as a loopback port), takes HTTP `CONNECT host:port` requests, opens
//! the connection only when the operator's allow-list names the host and port, and keeps every
//! refused (host, port) for the run's result.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};

/// Largest request head the proxy reads before refusing the connection.
const MAX_HEAD: usize = 8 * 1024;
/// Refusals kept per run; more are counted in the log only.
const MAX_REFUSALS: usize = 100;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Hosts a run may reach: `host` (port 443), `host:port`, `host:*` (any port); a leading `*.`
/// matches every subdomain (`*.pypi.org`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Allowed>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

impl AllowList {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowList, String> {
        let mut list = Vec::new();
        for entry in entries.iter().map(|e| e.as_ref().trim()).filter(|e| !e.is_empty()) {
            let (host, port) = match split_host_port(entry) {
                Some((host, "*")) => (host, None),
                Some((host, port)) => {
                    let port = port
                        .parse()
                        .map_err(|_| format!("`{entry}`: `{port}` is not a port (host, host:PORT or host:*)"))?;
                    (host, Some(port))
                }
                None => (entry, Some(443)),
            };
            let bare = host.strip_prefix("*.").unwrap_or(host);
            if bare.is_empty() || bare.contains(['/', '@', '*', ' ']) {
                return Err(format!("`{entry}` is not a host name (host, host:PORT, host:* or *.domain)"));
            }
            list.push(Allowed { host: normal_host(host), port });
        }
        Ok(AllowList(list))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = normal_host(host);
        self.0.iter().any(|allowed| {
            let host_matches = match allowed.host.strip_prefix("*.") {
                Some(domain) => host.strip_suffix(domain).is_some_and(|sub| sub.ends_with('.')),
                None => allowed.host == host,
            };
            host_matches && allowed.port.is_none_or(|p| p == port)
        })
    }
}

/// `host:port`, `[v6]:port`, or a bare host (`None` port); the port may be `*`.
fn split_host_port(entry: &str) -> Option<(&str, &str)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    // A bare IPv6 address has colons and no port.
    if entry.matches(':').count() > 1 {
        return None;
    }
    entry.rsplit_once(':')
}

/// Lower case, without brackets or a trailing dot: how names are compared.
fn normal_host(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

/// Addresses a name in the allow-list may not lead to unless listed as an address itself: this
/// machine, the private networks (the compose network with Temporal and NATS), link-local (cloud
/// metadata).
fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(v4.into()))
        }
    }
}

/// A connection the proxy refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub host: String,
    pub port: u16,
}

/// A Unix socket a service serves for one run, and the task serving it: both end when dropped.
#[derive(Debug)]
pub struct ServedSocket {
    socket: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl ServedSocket {
    /// Binds `socket` (in a directory no run can write) and serves it with `serve`.
    pub fn bind<F, Fut>(socket: PathBuf, serve: F) -> std::io::Result<ServedSocket>
    where
        F: FnOnce(UnixListener) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = UnixListener::bind(&socket)?;
        Ok(ServedSocket { socket, task: tokio::spawn(serve(listener)) })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for ServedSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The loopback port inside a run where its egress proxy answers.
const PROXY_PORT: u16 = 3128;

/// One run's proxy; stops when dropped.
#[derive(Debug)]
pub struct Egress {
    served: ServedSocket,
    refused: Arc<Mutex<Vec<Refusal>>>,
}

impl Egress {
    /// Listens on `socket` (a path no run can write) until dropped.
    pub fn start(socket: PathBuf, allow: Arc<AllowList>) -> std::io::Result<Egress> {
        let refused = Arc::new(Mutex::new(Vec::new()));
        let served = ServedSocket::bind(socket, {
            let refused = refused.clone();
            move |listener| serve(listener, allow, refused)
        })?;
        Ok(Egress { served, refused })
    }

    pub fn socket(&self) -> &Path {
        self.served.socket()
    }

    /// The bridge that leads the run to this proxy.
    pub fn bridge(&self) -> crate::Bridge {
        crate::Bridge { port: PROXY_PORT, socket: self.socket().to_path_buf() }
    }

    /// Points the run's proxy variables (`env`) at the bridge; the loopback stays direct (the
    /// model relay listens there).
    pub fn point_env(env: &mut std::collections::BTreeMap<String, String>) {
        let proxy = format!("http://127.0.0.1:{PROXY_PORT}");
        for name in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
            env.insert(name.to_owned(), proxy.clone());
        }
        for name in ["NO_PROXY", "no_proxy"] {
            env.insert(name.to_owned(), "127.0.0.1,localhost".to_owned());
        }
    }

    /// What the run was refused so far, each (host, port) once.
    pub fn refused(&self) -> Vec<Refusal> {
        self.refused.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// A fixed way out: every connection to its socket is carried to one `host:port` the service
/// chose (the trace collector the agent exports to). Stops when dropped.
pub fn forward(socket: PathBuf, target: String) -> std::io::Result<ServedSocket> {
    ServedSocket::bind(socket, |listener| async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let connect = TcpStream::connect(target.as_str());
                if let Ok(Ok(mut outbound)) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

async fn serve(listener: UnixListener, allow: Arc<AllowList>, refused: Arc<Mutex<Vec<Refusal>>>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(handle(stream, allow.clone(), refused.clone()));
                }
                Err(err) => {
                    tracing::warn!(%err, "the sandbox's egress proxy stopped accepting");
                    return;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(mut stream: UnixStream, allow: Arc<AllowList>, refused: Arc<Mutex<Vec<Refusal>>>) {
    let (head, rest) = match read_head(&mut stream).await {
        Ok(read) => read,
        Err(reason) => {
            let _ = respond(&mut stream, "400 Bad Request", &reason).await;
            return;
        }
    };
    let Some((host, port)) = connect_target(&head) else {
        let _ = respond(
            &mut stream,
            "405 Method Not Allowed",
            "the sandbox's proxy only opens CONNECT tunnels (https); plain http is not carried",
        )
        .await;
        return;
    };
    if !allow.allows(&host, port) {
        tracing::info!(host, port, "the sandbox refused a connection");
        if let Ok(mut list) = refused.lock() {
            let refusal = Refusal { host: host.clone(), port };
            if list.len() < MAX_REFUSALS && !list.contains(&refusal) {
                list.push(refusal);
            }
        }
        let body = format!("{host}:{port} is not in the sandbox's allow-list (CT_SANDBOX_ALLOW_HOSTS)");
        let _ = respond(&mut stream, "403 Forbidden", &body).await;
        return;
    }
    let literal = host.parse::<std::net::IpAddr>().is_ok();
    let resolved = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addresses) => addresses.collect::<Vec<_>>(),
        Err(err) => {
            let _ = respond(&mut stream, "502 Bad Gateway", &format!("cannot resolve {host}: {err}")).await;
            return;
        }
    };
    // A listed name must not lead inside (DNS can say anything); a listed address may.
    let Some(address) = resolved.into_iter().find(|a| literal || !is_internal(a.ip())) else {
        let body = format!("{host} resolves only to local or private addresses; list the address itself to allow it");
        let _ = respond(&mut stream, "403 Forbidden", &body).await;
        return;
    };
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(err)) => {
            let _ = respond(&mut stream, "502 Bad Gateway", &format!("cannot reach {host}:{port}: {err}")).await;
            return;
        }
        Err(_) => {
            let _ = respond(&mut stream, "504 Gateway Timeout", &format!("{host}:{port} did not answer")).await;
            return;
        }
    };
    let mut upstream = upstream;
    if stream.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await.is_err()
        || upstream.write_all(&rest).await.is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
}

/// The request head (up to the blank line) and whatever arrived after it.
async fn read_head(stream: &mut UnixStream) -> Result<(String, Vec<u8>), String> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buffer.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&buffer).into_owned(), rest));
        }
        if buffer.len() > MAX_HEAD {
            return Err(format!("request head longer than {MAX_HEAD} bytes"));
        }
        let read = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("connection closed before the request head ended".to_owned());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// `CONNECT host:port HTTP/1.x` → (host, port); IPv6 hosts come bracketed.
fn connect_target(head: &str) -> Option<(String, u16)> {
    let mut words = head.lines().next()?.split_whitespace();
    if words.next()? != "CONNECT" {
        return None;
    }
    let authority = words.next()?;
    let (host, port) = authority.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_owned(), port.parse().ok()?))
}

async fn respond(stream: &mut UnixStream, status: &str, body: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    );
    stream.write_all(response.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_hosts_ports_and_subdomains() {
        let list =
            AllowList::parse(&["pypi.org", "*.pythonhosted.org", "registry.local:8080", "git.example:*", ""]).unwrap();
        assert!(list.allows("pypi.org", 443));
        assert!(list.allows("PyPI.org", 443));
        assert!(!list.allows("pypi.org", 80));
        assert!(!list.allows("evilpypi.org", 443));
        assert!(list.allows("files.pythonhosted.org", 443));
        assert!(!list.allows("pythonhosted.org", 443));
        assert!(!list.allows("xpythonhosted.org", 443));
        assert!(list.allows("registry.local", 8080));
        assert!(list.allows("git.example", 22));
        assert!(AllowList::parse(&["a:b"]).unwrap_err().contains("not a port"));
        assert!(AllowList::parse(&["http://x"]).is_err());
        assert!(AllowList::default().is_empty());
        assert!(list.allows("pypi.org.", 443), "a trailing dot names the same host");
        let v6 = AllowList::parse(&["[::1]:8080", "::1"]).unwrap();
        assert!(v6.allows("::1", 8080) && v6.allows("[::1]", 443));
        assert!(is_internal("127.0.0.1".parse().unwrap()) && is_internal("169.254.169.254".parse().unwrap()));
        assert!(is_internal("10.1.2.3".parse().unwrap()) && is_internal("::ffff:192.168.0.1".parse().unwrap()));
        assert!(!is_internal("151.101.0.223".parse().unwrap()));
    }

    #[test]
    fn connect_requests_name_their_target() {
        assert_eq!(connect_target("CONNECT pypi.org:443 HTTP/1.1\r\nHost: x"), Some(("pypi.org".into(), 443)));
        assert_eq!(connect_target("CONNECT [::1]:8080 HTTP/1.1"), Some(("::1".into(), 8080)));
        assert_eq!(connect_target("GET http://x/ HTTP/1.1"), None);
    }

    #[tokio::test]
    async fn refused_hosts_are_reported_and_allowed_ones_tunnel() {
        let scratch = tempfile::tempdir().unwrap();
        let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = target.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut conn, _) = target.accept().await.unwrap();
            conn.write_all(b"hello through the tunnel").await.unwrap();
        });
        let allow = Arc::new(AllowList::parse(&[format!("127.0.0.1:{port}")]).unwrap());
        let egress = Egress::start(scratch.path().join("proxy.sock"), allow).unwrap();

        let mut refused = UnixStream::connect(egress.socket()).await.unwrap();
        refused.write_all(b"CONNECT 127.0.0.1:7233 HTTP/1.1\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        refused.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(answer.contains("CT_SANDBOX_ALLOW_HOSTS"));

        let mut tunnel = UnixStream::connect(egress.socket()).await.unwrap();
        tunnel.write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes()).await.unwrap();
        let mut answer = String::new();
        tunnel.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello through the tunnel"), "{answer}");

        assert_eq!(egress.refused(), [Refusal { host: "127.0.0.1".into(), port: 7233 }]);
    }
}
