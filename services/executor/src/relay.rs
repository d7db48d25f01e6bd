//! The model relay: how an agent in namespaces of its own reaches its model without holding the
//! credential. The CLI inside talks plain HTTP to a loopback port bridged to this relay's Unix
//! socket, with a placeholder key; the relay sends each request on to the configured endpoint
//! (and nowhere else), with the real key or token put in place of the placeholder, and streams
//! the answer back. An agent cannot leak a key it never had.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ct_confine::{Redactor, ServedSocket};

/// The loopback port inside a run's network namespace where the relay answers.
pub(crate) const INSIDE_PORT: u16 = 3129;
/// What the agent holds instead of a credential: shaped like one, so the CLI starts, worth
/// nothing anywhere.
pub(crate) const PLACEHOLDER: &str = "sk-ant-sandbox-placeholder-the-relay-holds-the-key";
/// The variables through which the CLI authenticates; inside they hold [`PLACEHOLDER`].
pub(crate) const CREDENTIAL_VARS: &[&str] = &["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"];
/// The public API, for executors configured without `ANTHROPIC_BASE_URL`.
const DEFAULT_ENDPOINT: &str = "https://api.anthropic.com";
/// Largest request body relayed: a long conversation is a few MiB.
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
/// Request headers that describe the hop to the relay, or carry the placeholder.
const DROPPED: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "keep-alive",
];

/// The only requests relayed: the Messages API and its token counter. The credential can do
/// more (files, batches, keys); the agent has no business there.
const RELAYED_PATHS: &[&str] = &["/v1/messages", "/v1/messages/count_tokens"];

/// Where one run's requests go and what they carry.
#[derive(Debug, Clone)]
pub struct Target {
    endpoint: String,
    credential: Option<Credential>,
    /// `ANTHROPIC_CUSTOM_HEADERS` (a gateway's own credentials, often): added on the way out.
    custom_headers: Vec<(HeaderName, HeaderValue)>,
    redactor: Arc<Redactor>,
}

#[derive(Clone)]
enum Credential {
    /// `x-api-key`
    ApiKey(HeaderValue),
    /// `Authorization: Bearer` (an auth token, a Claude login's OAuth token)
    Bearer(HeaderValue),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::ApiKey(_) => "ApiKey(***)",
            Credential::Bearer(_) => "Bearer(***)",
        })
    }
}

impl Target {
    /// Takes the endpoint and the credential out of the run's environment `env` and leaves the
    /// agent the relay's address and a placeholder in their place.
    pub fn seal(env: &mut std::collections::BTreeMap<String, String>, redactor: Arc<Redactor>) -> Target {
        let endpoint = env
            .remove("ANTHROPIC_BASE_URL")
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let mut credential = None;
        for name in CREDENTIAL_VARS {
            if let Some(value) = env.remove(*name) {
                let Ok(value) = HeaderValue::from_str(&value) else { continue };
                credential.get_or_insert(match *name {
                    "ANTHROPIC_API_KEY" => Credential::ApiKey(value),
                    _ => Credential::Bearer(value),
                });
                env.insert((*name).to_owned(), PLACEHOLDER.to_owned());
            }
        }
        let custom_headers = env
            .remove("ANTHROPIC_CUSTOM_HEADERS")
            .map(|text| {
                text.lines()
                    .filter_map(|line| line.split_once(':'))
                    .filter_map(|(name, value)| {
                        let mut value = HeaderValue::from_str(value.trim()).ok()?;
                        // Debug output shows "Sensitive", never the value.
                        value.set_sensitive(true);
                        Some((HeaderName::from_bytes(name.trim().as_bytes()).ok()?, value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        env.insert("ANTHROPIC_BASE_URL".to_owned(), format!("http://127.0.0.1:{INSIDE_PORT}"));
        Target { endpoint: endpoint.trim_end_matches('/').to_owned(), credential, custom_headers, redactor }
    }
}

/// One run's relay; stops when dropped.
#[derive(Debug)]
pub struct Relay {
    served: ServedSocket,
}

impl Relay {
    pub fn start(socket: PathBuf, target: Target) -> std::io::Result<Relay> {
        let app = axum::Router::new().fallback(forward).with_state(Arc::new(target));
        let served = ServedSocket::bind(socket, |listener| async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::warn!(%err, "the model relay stopped");
            }
        })?;
        Ok(Relay { served })
    }

    pub fn socket(&self) -> &Path {
        self.served.socket()
    }
}

/// One HTTP client for every relay of the executor: connections to the endpoint are reused.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        // The binaries install it first thing; a library user (a test) may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A redirect would carry the credential somewhere the operator did not configure.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

async fn forward(State(target): State<Arc<Target>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method != axum::http::Method::POST || !RELAYED_PATHS.contains(&parts.uri.path()) {
        let message = format!(
            "the model relay carries only POST {} from a sandboxed agent, not {} {}",
            RELAYED_PATHS.join(", "),
            parts.method,
            parts.uri.path()
        );
        return error(StatusCode::FORBIDDEN, &message);
    }
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(err) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the relay takes requests up to {MAX_REQUEST_BYTES} bytes: {err}"),
            );
        }
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", target.endpoint);
    let mut headers: HeaderMap = parts.headers;
    for name in DROPPED {
        headers.remove(*name);
    }
    match &target.credential {
        Some(Credential::ApiKey(key)) => {
            headers.insert(HeaderName::from_static("x-api-key"), key.clone());
        }
        Some(Credential::Bearer(token)) => {
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", token.to_str().unwrap_or_default())) {
                headers.insert(header::AUTHORIZATION, value);
            }
        }
        None => {}
    }
    for (name, value) in &target.custom_headers {
        headers.insert(name.clone(), value.clone());
    }
    let sent = client().request(parts.method, &url).headers(headers).body(body).send().await;
    let upstream = match sent {
        Ok(upstream) => upstream,
        Err(err) => {
            let message = target.redactor.redact_owned(format!("the model relay cannot reach the endpoint: {err}"));
            tracing::warn!(message, "model request failed");
            return error(StatusCode::BAD_GATEWAY, &message);
        }
    };
    let mut response = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if name != header::TRANSFER_ENCODING && name != header::CONNECTION {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from_stream(upstream.bytes_stream()))
        .unwrap_or_else(|err| error(StatusCode::BAD_GATEWAY, &err.to_string()))
}

/// An error in the shape of the Anthropic API's, so the CLI reports it as an API error.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"type": "error", "error": {"type": "api_error", "message": message}});
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_leaves_the_agent_a_placeholder_and_the_relay_address() {
        let mut env = std::collections::BTreeMap::from([
            ("ANTHROPIC_API_KEY".to_owned(), "sk-ant-real".to_owned()),
            ("ANTHROPIC_BASE_URL".to_owned(), "https://models.example/".to_owned()),
            ("PATH".to_owned(), "/usr/bin".to_owned()),
            ("ANTHROPIC_CUSTOM_HEADERS".to_owned(), "X-Gateway-Key: gw-secret\nX-Team: a".to_owned()),
        ]);
        let target = Target::seal(&mut env, Arc::new(Redactor::from_env([])));
        assert_eq!(env["ANTHROPIC_API_KEY"], PLACEHOLDER);
        assert_eq!(env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:3129");
        assert!(!env.values().any(|v| v.contains("sk-ant-real")));
        assert_eq!(target.endpoint, "https://models.example");
        assert!(matches!(target.credential, Some(Credential::ApiKey(_))));
        assert!(!format!("{target:?}").contains("sk-ant-real"));
        assert!(!env.contains_key("ANTHROPIC_CUSTOM_HEADERS"), "a gateway's headers stay with the relay");
        assert_eq!(target.custom_headers.len(), 2);
        assert!(!format!("{target:?}").contains("gw-secret"));
    }

    /// Sends one HTTP/1.1 request over the relay's socket; the status line and the body back.
    async fn ask(socket: &Path, method: &str, path: &str) -> (String, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: relay\r\nx-api-key: {PLACEHOLDER}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let status = answer.lines().next().unwrap_or_default().to_owned();
        let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// A model endpoint that answers every request `{}` and hands over each request's head.
    async fn endpoint() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (heads, received) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let _ = heads.send(String::from_utf8_lossy(&head).into_owned());
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}").await;
            }
        });
        (url, received)
    }

    #[tokio::test]
    async fn only_messages_requests_pass_and_they_carry_the_real_key() {
        let (url, mut heads) = endpoint().await;
        let mut env = std::collections::BTreeMap::from([
            ("ANTHROPIC_API_KEY".to_owned(), "sk-ant-real".to_owned()),
            ("ANTHROPIC_BASE_URL".to_owned(), url),
        ]);
        let target = Target::seal(&mut env, Arc::new(Redactor::from_env([])));
        let dir = tempfile::tempdir().unwrap();
        let relay = Relay::start(dir.path().join("relay.sock"), target).unwrap();

        for (method, path) in [
            ("GET", "/v1/models"),
            ("POST", "/v1/messages/batches"),
            ("POST", "/v1/files"),
            ("GET", "/v1/messages"),
            ("POST", "/v1/messages/../organizations"),
        ] {
            let (status, body) = ask(relay.socket(), method, path).await;
            assert!(status.contains("403"), "{method} {path}: {status}");
            assert!(body.contains("carries only POST /v1/messages"), "{body}");
        }
        assert!(heads.try_recv().is_err(), "a refused request reached the endpoint");

        let (status, _) = ask(relay.socket(), "POST", "/v1/messages?beta=true").await;
        assert!(status.contains("200"), "{status}");
        let head = heads.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post /v1/messages?beta=true "), "{head}");
        assert!(head.contains("x-api-key: sk-ant-real"), "{head}");
        assert!(!head.contains(PLACEHOLDER.to_ascii_lowercase().as_str()), "{head}");
    }
}
