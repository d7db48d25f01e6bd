//! The notifier against a real nats-server and real HTTP receivers on
//! loopback standing in for Slack and a webhook endpoint.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::jetstream::{self, consumer::pull, stream};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ct_approvals::link::LinkKey;
use ct_events::data::{ApprovalRequested, StageOutcome, TokenUsage};
use ct_events::testing::NatsServer;
use ct_events::{CloudEvent, EventData, Publisher, PublisherConfig};
use ct_notifier::{ApprovalLinks, BackendConfig, EventFilter, RetryPolicy, SecretUrl, WebhookSecret};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request a receiver got, and what it answered.
#[derive(Clone)]
struct Request {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
    status: StatusCode,
}

#[derive(Clone)]
struct Script {
    /// Answers to the first requests, in order; 200 after them.
    answers: Vec<(StatusCode, Option<&'static str>)>,
    requests: Arc<Mutex<Vec<Request>>>,
}

/// A real HTTP endpoint on loopback that records what it receives.
struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    async fn start(answers: Vec<(StatusCode, Option<&'static str>)>) -> anyhow::Result<Self> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Script { answers, requests: requests.clone() };
        let app = axum::Router::new().route("/{*path}", axum::routing::post(answer)).with_state(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { addr, requests })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize, within: Duration) -> anyhow::Result<Vec<Request>> {
        let deadline = Instant::now() + within;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return Ok(requests);
            }
            if Instant::now() > deadline {
                bail!("{} request(s) after {within:?}, expected {count}", requests.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn answer(State(script): State<Script>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let mut requests = script.requests.lock().unwrap();
    let (status, retry_after) = script.answers.get(requests.len()).copied().unwrap_or((StatusCode::OK, None));
    requests.push(Request { at: Instant::now(), headers, body, status });
    let mut response_headers = HeaderMap::new();
    if let Some(value) = retry_after {
        response_headers.insert("retry-after", value.parse().unwrap());
    }
    (status, response_headers, "")
}

fn webhook(url: &str, filter: &str) -> anyhow::Result<BackendConfig> {
    Ok(BackendConfig::Webhook {
        url: SecretUrl::parse(url, "NOTIFICATION_WEBHOOK_URL")?,
        secret: WebhookSecret::parse(SECRET, "NOTIFICATION_WEBHOOK_SECRET")?,
        filter: EventFilter::parse(filter)?,
    })
}

fn slack(url: &str, filter: &str) -> anyhow::Result<BackendConfig> {
    Ok(BackendConfig::Slack {
        url: SecretUrl::parse(url, "SLACK_WEBHOOK_URL")?,
        channel: Some("#builds".to_owned()),
        filter: EventFilter::parse(filter)?,
    })
}

struct Notifier {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ct_notifier::Error>>,
    metrics: std::net::SocketAddr,
}

impl Notifier {
    fn start(server: &NatsServer, backends: Vec<BackendConfig>, max_attempts: u32) -> Self {
        Self::start_with_links(server, backends, max_attempts, None)
    }

    fn start_with_links(
        server: &NatsServer,
        backends: Vec<BackendConfig>,
        max_attempts: u32,
        links: Option<ct_notifier::ApprovalLinks>,
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = ct_notifier::Config::new(server.url(), backends);
        config.approval_links = links;
        config.retry = RetryPolicy {
            max_attempts,
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(10),
        };
        config.http_timeout = Duration::from_secs(2);
        config.consumer.ack_wait = Duration::from_secs(5);
        // Bound here and handed over: no other process can take the port in between.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let metrics = listener.local_addr().expect("its address");
        config.metrics_listener = Some(listener);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(ct_notifier::run(config, shutdown.clone()));
        Self { shutdown, task, metrics }
    }

    /// The notifier's Prometheus text.
    async fn metrics(&self) -> anyhow::Result<String> {
        Ok(reqwest::get(format!("http://{}/metrics", self.metrics)).await?.text().await?)
    }

    async fn stop(self) -> anyhow::Result<()> {
        assert!(!self.task.is_finished(), "the notifier stopped on its own");
        self.shutdown.cancel();
        Ok(self.task.await??)
    }
}

async fn publish(server: &NatsServer, events: &[CloudEvent]) -> anyhow::Result<()> {
    let publisher = Publisher::connect(PublisherConfig::new(server.url(), "notifier-test")).await?;
    for event in events {
        publisher.publish(event.clone());
    }
    Ok(publisher.flush(Duration::from_secs(10)).await?)
}

fn stage_failed(workflow_id: &str) -> CloudEvent {
    CloudEvent::new(
        "/claude-temporal/test",
        EventData::StageFailed(StageOutcome {
            workflow_id: workflow_id.to_owned(),
            workflow_kind: "develop".to_owned(),
            stage: "implement".to_owned(),
            model: None,
            tokens: TokenUsage::default(),
            cost_usd: 0.1,
            duration_ms: 1000,
            files_modified: Vec::new(),
            files_truncated: false,
            lines_added: 0,
            lines_removed: 0,
            tests: None,
            error: Some("agent exited 1".to_owned()),
        }),
    )
}

fn approval_requested(workflow_id: &str) -> CloudEvent {
    CloudEvent::new(
        "/claude-temporal/test",
        EventData::ApprovalRequested(ApprovalRequested {
            workflow_id: workflow_id.to_owned(),
            run_id: "run-1".to_owned(),
            stage: "implement".to_owned(),
            summary: None,
            cost_so_far_usd: 0.42,
            timeout_secs: None,
            estimate_rest_usd: None,
        }),
    )
}

fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("")
}

/// What a receiver does per the spec: recompute and compare in constant time.
fn verify_signature(request: &Request) -> anyhow::Result<()> {
    let key_bytes = BASE64.decode(SECRET.trim_start_matches("whsec_"))?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key_bytes);
    let mut signed =
        format!("{}.{}.", header(request, "webhook-id"), header(request, "webhook-timestamp")).into_bytes();
    signed.extend_from_slice(&request.body);
    let signature = header(request, "webhook-signature");
    let encoded = signature.strip_prefix("v1,").context("signature without v1,")?;
    ring::hmac::verify(&key, &signed, &BASE64.decode(encoded)?)
        .map_err(|_| anyhow::anyhow!("signature {signature} does not verify"))
}

/// Every message of the dead-letter stream, once it holds `count`.
async fn dead_letters(server: &NatsServer, count: u64) -> anyhow::Result<Vec<jetstream::Message>> {
    let context = jetstream::new(async_nats::connect(server.url()).await?);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        if let Ok(mut stream) = context.get_stream(ct_notifier::DEADLETTER_STREAM).await
            && stream.info().await?.state.messages >= count
        {
            break stream;
        }
        if Instant::now() > deadline {
            bail!("no {count} dead letter(s) within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let total = stream.info().await?.state.messages;
    let mut messages = stream.create_consumer(pull::OrderedConfig::default()).await?.messages().await?;
    let mut out = Vec::new();
    while (out.len() as u64) < total {
        out.push(messages.next().await.context("dead-letter stream ended")??);
    }
    Ok(out)
}

#[tokio::test]
async fn webhook_deliveries_are_signed_per_the_standard_webhooks_spec() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let receiver = Receiver::start(Vec::new()).await?;
    let notifier = Notifier::start(&server, vec![webhook(&receiver.url("/hooks/ct"), "*")?], 3);
    let event = stage_failed("develop-demo");
    publish(&server, std::slice::from_ref(&event)).await?;

    let request = receiver.wait_for(1, Duration::from_secs(15)).await?.remove(0);
    verify_signature(&request)?;
    assert_eq!(header(&request, "webhook-id"), event.id);
    let timestamp: i64 = header(&request, "webhook-timestamp").parse()?;
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60, "stale timestamp {timestamp}");
    assert_eq!(header(&request, "content-type"), "application/json");
    assert_eq!(CloudEvent::from_json(&request.body)?, event);
    notifier.stop().await
}

#[tokio::test]
async fn an_approval_request_to_the_webhook_carries_signed_approve_and_reject_links() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let receiver = Receiver::start(Vec::new()).await?;
    let key = || LinkKey::new(b"the stack's link key, 32 bytes or more").unwrap();
    let links = ApprovalLinks::new(key(), "https://gateway.example/");
    let notifier = Notifier::start_with_links(&server, vec![webhook(&receiver.url("/hooks/ct"), "*")?], 3, Some(links));
    let event = approval_requested("develop-demo");
    publish(&server, std::slice::from_ref(&event)).await?;

    let request = receiver.wait_for(1, Duration::from_secs(15)).await?.remove(0);
    verify_signature(&request)?;
    assert_eq!(CloudEvent::from_json(&request.body)?, event, "still the event, with two attributes more");
    let body: serde_json::Value = serde_json::from_slice(&request.body)?;
    let claim = |attribute: &str| {
        let url = body[attribute].as_str().unwrap_or_default();
        let token = url.strip_prefix("https://gateway.example/decide/").expect("a link to the gateway");
        ct_approvals::link::verify(&key(), token, chrono::Utc::now().timestamp()).expect("signed with the key")
    };
    let (approve, reject) = (claim("approveurl"), claim("rejecturl"));
    assert_eq!(approve.decision.update_id(), "approve/implement");
    assert_eq!(reject.decision.update_id(), "reject/implement");
    assert_eq!(approve.decision.run_id, "run-1");
    notifier.stop().await
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_exactly_one_accepted_delivery() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let receiver = Receiver::start(vec![
        (StatusCode::INTERNAL_SERVER_ERROR, None),
        (StatusCode::BAD_GATEWAY, None),
        (StatusCode::SERVICE_UNAVAILABLE, None),
    ])
    .await?;
    let notifier = Notifier::start(&server, vec![webhook(&receiver.url("/hook"), "*")?], 5);
    let event = stage_failed("wf-flaky");
    publish(&server, std::slice::from_ref(&event)).await?;

    receiver.wait_for(4, Duration::from_secs(15)).await?;
    // Once the event is acknowledged, every delivery of it has been made.
    server
        .wait_until_consumed(ct_notifier::DEFAULT_CONSUMER, Duration::from_secs(15))
        .await
        .map_err(anyhow::Error::msg)?;
    let requests = receiver.requests();
    let accepted = requests.iter().filter(|request| request.status == StatusCode::OK).count();
    assert_eq!((requests.len(), accepted), (4, 1));
    assert!(requests.iter().all(|request| header(request, "webhook-id") == event.id));
    for request in &requests {
        verify_signature(request)?;
    }
    let metrics = notifier.metrics().await?;
    assert!(metrics.contains("ct_notifier_deliveries_total{backend=\"webhook\"} 1"), "{metrics}");
    assert!(!metrics.contains("ct_notifier_failures_total{"), "{metrics}");
    notifier.stop().await
}

#[tokio::test]
async fn a_dead_receiver_yields_a_dead_letter() -> anyhow::Result<()> {
    let server = NatsServer::start();
    // A port that is bound but never listened on: connections are refused, and no other
    // process can take the port and answer instead while the socket is held.
    let held = tokio::net::TcpSocket::new_v4()?;
    held.bind("127.0.0.1:0".parse()?)?;
    let closed = held.local_addr()?;
    let url = format!("http://{closed}/hooks/secret-path-4711");
    let notifier = Notifier::start(&server, vec![webhook(&url, "*")?], 3);
    let event = stage_failed("wf.dead");
    publish(&server, std::slice::from_ref(&event)).await?;

    let letters = dead_letters(&server, 1).await?;
    let letter = &letters[0];
    assert_eq!(letter.subject.as_str(), "ct.deadletter.webhook.wf%2Edead.stage.failed");
    let headers = letter.headers.as_ref().context("dead letter without headers")?;
    let get = |name: &str| headers.get(name).map(|value| value.as_str().to_owned());
    assert_eq!(get("Ct-Backend").as_deref(), Some("webhook"));
    assert_eq!(get("Ct-Attempts").as_deref(), Some("3"));
    let reason = get("Ct-Error").unwrap_or_default();
    assert!(reason.contains("could not connect"), "{reason}");
    assert!(!reason.contains("secret-path-4711"), "the URL leaked: {reason}");
    assert_eq!(CloudEvent::from_json(&letter.payload)?, event);
    let metrics = notifier.metrics().await?;
    assert!(metrics.contains("ct_notifier_failures_total{backend=\"webhook\"} 1"), "{metrics}");
    notifier.stop().await
}

#[tokio::test]
async fn slack_429_retry_after_is_respected() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let receiver = Receiver::start(vec![(StatusCode::TOO_MANY_REQUESTS, Some("2"))]).await?;
    let notifier = Notifier::start(&server, vec![slack(&receiver.url("/services/T/B/X"), "approval.*")?], 3);
    publish(&server, &[approval_requested("develop-demo")]).await?;

    let requests = receiver.wait_for(2, Duration::from_secs(15)).await?;
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    let message: serde_json::Value = serde_json::from_slice(&requests[1].body)?;
    assert_eq!(message["channel"], "#builds");
    assert_eq!(message["blocks"][0]["type"], "header");
    let text = message.to_string();
    assert!(text.contains("claude-temporal approve develop-demo"), "{text}");
    assert!(text.contains("$0.4200"), "{text}");
    notifier.stop().await
}

#[tokio::test]
async fn every_backend_at_once_each_with_its_filter_and_junk_skipped() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let hook = Receiver::start(Vec::new()).await?;
    let chat = Receiver::start(Vec::new()).await?;
    let notifier = Notifier::start(
        &server,
        vec![
            BackendConfig::Console { filter: EventFilter::parse("*")?, show_links: false },
            slack(&chat.url("/slack"), "approval.requested")?,
            webhook(&hook.url("/hook"), "*")?,
        ],
        3,
    );
    let raw = jetstream::new(async_nats::connect(server.url()).await?);
    ct_events::ensure_stream(&raw, &ct_events::StreamSettings::default()).await?;
    raw.publish("ct.events.wf.stage.failed", "{ not json".into()).await?.await?;
    raw.publish("ct.events.wf.stage.failed", r#"{"specversion":"1.0"}"#.into()).await?.await?;
    let failed = stage_failed("wf");
    let approval = approval_requested("wf");
    publish(&server, &[failed.clone(), approval.clone()]).await?;

    let hooked = hook.wait_for(2, Duration::from_secs(15)).await?;
    let ids: Vec<&str> = hooked.iter().map(|request| header(request, "webhook-id")).collect();
    assert_eq!(ids, [failed.id.as_str(), approval.id.as_str()]);
    chat.wait_for(1, Duration::from_secs(5)).await?;
    server
        .wait_until_consumed(ct_notifier::DEFAULT_CONSUMER, Duration::from_secs(15))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(chat.requests().len(), 1, "slack only wants approval.requested");
    assert_eq!(hook.requests().len(), 2);
    notifier.stop().await
}

#[tokio::test]
async fn a_redelivered_event_is_not_sent_again_to_a_backend_that_took_it() -> anyhow::Result<()> {
    let server = NatsServer::start();
    // A full dead-letter stream makes dead-lettering fail, so the event is
    // nak'ed and comes back while Slack has already taken it.
    let context = jetstream::new(async_nats::connect(server.url()).await?);
    context
        .create_stream(stream::Config {
            name: ct_notifier::DEADLETTER_STREAM.to_owned(),
            subjects: vec!["ct.deadletter.>".to_owned()],
            max_messages: 1,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await?;
    context.publish("ct.deadletter.filler", "x".into()).await?.await?;
    let chat = Receiver::start(Vec::new()).await?;
    let hook = Receiver::start(vec![(StatusCode::GONE, None); 10]).await?;
    let notifier =
        Notifier::start(&server, vec![slack(&chat.url("/slack"), "*")?, webhook(&hook.url("/hook"), "*")?], 3);
    publish(&server, &[stage_failed("wf-redelivered")]).await?;

    // 410 is permanent: one request per delivery of the message.
    hook.wait_for(2, Duration::from_secs(20)).await?;
    assert_eq!(chat.requests().len(), 1, "Slack got the redelivered event again");
    notifier.stop().await
}
