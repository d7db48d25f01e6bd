//! Events: the notifier (delivering to a signed webhook on loopback) and the metrics-sink
//! (appending JSONL lines), both fed by the publisher the services use, against raw NATS
//! publish→receive on the same server. Each event names its own workflow, so every arrival
//! is matched to the instant it was published.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use ct_e2e::{Service, bin};
use ct_events::data::{StageOutcome, TokenUsage};
use ct_events::testing::NatsServer;
use ct_events::{CloudEvent, EventData, Publisher, PublisherConfig};
use futures::StreamExt;

use crate::AbortOnDrop;

/// Core NATS subject of the baseline: outside the events stream, so nothing stores it.
const RAW_SUBJECT: &str = "bench.raw";
/// Gap between two events of the paced round, whose latencies are those of a system at rest.
const PACE: Duration = Duration::from_millis(10);
/// How long a round may take before the bench gives up on it.
const ROUND_LIMIT: Duration = Duration::from_secs(120);
/// How often the metrics file is read for new lines.
const FILE_POLL: Duration = Duration::from_millis(2);

/// When each workflow's event arrived, as a receiver saw it.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// One receiver's figures: latencies of the paced round, rate of the burst.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) latency_ms: Vec<f64>,
    pub(crate) per_second: f64,
}

pub(crate) struct Figures {
    pub(crate) raw: Delivery,
    pub(crate) notifier: Delivery,
    pub(crate) metrics_sink: Delivery,
}

/// Runs the paced round (`paced` events, one every 10 ms) and the burst (`burst` events at once)
/// through the raw baseline, then through the notifier and the metrics-sink together.
pub(crate) async fn measure(dir: &Path, paced: usize, burst: usize) -> anyhow::Result<Figures> {
    let nats = NatsServer::start();
    let raw = raw_nats(&nats.url(), paced, burst).await.context("raw NATS baseline")?;

    let webhook = Arc::new(Mutex::new(HashMap::new()));
    let receiver = webhook_receiver(webhook.clone()).await?;
    let metrics_file = dir.join("bench-metrics.jsonl");
    let _notifier = service(
        dir,
        "ct-notifier",
        &nats.url(),
        &[
            ("NOTIFICATION_TYPE", "webhook".to_owned()),
            ("NOTIFICATION_WEBHOOK_URL", format!("http://{receiver}/hook")),
            ("NOTIFICATION_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
            ("NOTIFY_WEBHOOK_EVENTS", "stage.completed".to_owned()),
        ],
    );
    let _sink = service(
        dir,
        "ct-metrics-sink",
        &nats.url(),
        &[("METRICS_FILE", metrics_file.display().to_string()), ("CT_METRICS_SINK_LISTEN", "127.0.0.1:0".to_owned())],
    );
    let sink = Arc::new(Mutex::new(HashMap::new()));
    let _tail = tail_metrics_file(metrics_file, sink.clone());

    let publisher = Publisher::connect(PublisherConfig::new(nats.url(), "ct-bench")).await?;
    // Both services are up once the first event has gone through each.
    let warm_up = publisher_round(&publisher, "warm-up", 1, Duration::ZERO).await;
    wait_for(&[&webhook, &sink], &warm_up, Duration::from_secs(60))
        .await
        .context("the notifier or the metrics-sink never delivered")?;

    let sent = publisher_round(&publisher, "paced", paced, PACE).await;
    wait_for(&[&webhook, &sink], &sent, ROUND_LIMIT).await?;
    let (notifier_latency, sink_latency) = (latencies(&sent, &webhook), latencies(&sent, &sink));
    let sent = publisher_round(&publisher, "burst", burst, Duration::ZERO).await;
    wait_for(&[&webhook, &sink], &sent, ROUND_LIMIT).await?;
    Ok(Figures {
        raw,
        notifier: Delivery { latency_ms: notifier_latency, per_second: rate(&sent, &webhook) },
        metrics_sink: Delivery { latency_ms: sink_latency, per_second: rate(&sent, &sink) },
    })
}

/// Publish→receive of plain core NATS messages on the same server, paced then in a burst.
async fn raw_nats(url: &str, paced: usize, burst: usize) -> anyhow::Result<Delivery> {
    let client = async_nats::connect(url).await?;
    let mut subscriber = client.subscribe(RAW_SUBJECT).await?;
    client.flush().await?;
    let arrivals: Arrivals = Arc::default();
    let record = arrivals.clone();
    let _receive = AbortOnDrop(tokio::spawn(async move {
        while let Some(message) = subscriber.next().await {
            let id = String::from_utf8_lossy(&message.payload).into_owned();
            record.lock().expect("arrivals").insert(id, Instant::now());
        }
    }));
    let round = |name: &'static str, count: usize, gap: Duration| {
        let client = client.clone();
        async move {
            let mut sent = HashMap::new();
            for i in 0..count {
                let id = format!("{name}-{i}");
                sent.insert(id.clone(), Instant::now());
                client.publish(RAW_SUBJECT, id.into()).await?;
                if gap.is_zero() {
                    continue;
                }
                client.flush().await?;
                tokio::time::sleep(gap).await;
            }
            client.flush().await?;
            anyhow::Ok(sent)
        }
    };
    let sent = round("paced", paced, PACE).await?;
    wait_for(&[&arrivals], &sent, ROUND_LIMIT).await?;
    let latency_ms = latencies(&sent, &arrivals);
    let sent = round("burst", burst, Duration::ZERO).await?;
    wait_for(&[&arrivals], &sent, ROUND_LIMIT).await?;
    Ok(Delivery { latency_ms, per_second: rate(&sent, &arrivals) })
}

/// Publishes `count` `stage.completed` events the way the worker does, one per workflow
/// `bench-<name>-<i>`; returns when each was handed to the publisher.
async fn publisher_round(publisher: &Publisher, name: &str, count: usize, gap: Duration) -> HashMap<String, Instant> {
    let mut sent = HashMap::new();
    for i in 0..count {
        let workflow_id = format!("bench-{name}-{i}");
        sent.insert(workflow_id.clone(), Instant::now());
        publisher.publish(CloudEvent::new("/claude-temporal/bench", stage_completed(workflow_id)));
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }
    sent
}

fn stage_completed(workflow_id: String) -> EventData {
    EventData::StageCompleted(StageOutcome {
        workflow_id,
        workflow_kind: "develop".to_owned(),
        stage: "build".to_owned(),
        model: Some("claude-sonnet-4-5".to_owned()),
        tokens: TokenUsage { input_tokens: 10, output_tokens: 2, ..TokenUsage::default() },
        cost_usd: 0.0001,
        duration_ms: 500,
        files_modified: vec!["README.md".to_owned()],
        files_truncated: false,
        lines_added: 1,
        lines_removed: 0,
        tests: None,
        error: None,
    })
}

/// A service binary of the release build, its log and settings in `dir`.
fn service(dir: &Path, name: &str, nats_url: &str, env: &[(&str, String)]) -> Service {
    let mut command = Command::new(bin(name));
    // Run where no config file or .env of the checkout is picked up.
    command.current_dir(dir).env("NATS_URL", nats_url).envs(env.iter().map(|(k, v)| (k, v)));
    Service::spawn(name, command, &dir.join(format!("{name}.log")))
}

/// An HTTP endpoint on loopback that notes when each event's webhook call arrived.
async fn webhook_receiver(arrivals: Arrivals) -> anyhow::Result<std::net::SocketAddr> {
    async fn arrived(State(arrivals): State<Arrivals>, body: Bytes) {
        let at = Instant::now();
        if let Some(id) = workflow_of(&body) {
            arrivals.lock().expect("arrivals").insert(id, at);
        }
    }
    let app = axum::Router::new().route("/hook", axum::routing::post(arrived)).with_state(arrivals);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// The workflow a CloudEvent (or a metrics line) is about.
fn workflow_of(json: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let id = value.pointer("/data/workflow_id").or_else(|| value.get("workflow_id"))?;
    id.as_str().map(str::to_owned)
}

/// Reads the lines the metrics-sink appends, noting when each workflow's line showed up.
fn tail_metrics_file(path: PathBuf, arrivals: Arrivals) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut read = 0_usize;
        let mut partial = Vec::new();
        loop {
            if let Ok(bytes) = tokio::fs::read(&path).await
                && bytes.len() > read
            {
                let at = Instant::now();
                partial.extend_from_slice(&bytes[read..]);
                read = bytes.len();
                while let Some(end) = partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=end).collect();
                    if let Some(id) = workflow_of(&line) {
                        arrivals.lock().expect("arrivals").insert(id, at);
                    }
                }
            }
            tokio::time::sleep(FILE_POLL).await;
        }
    }))
}

/// Waits until every receiver has seen every event sent.
async fn wait_for(receivers: &[&Arrivals], sent: &HashMap<String, Instant>, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let missing: Vec<usize> = receivers
            .iter()
            .map(|r| {
                let seen = r.lock().expect("arrivals");
                sent.keys().filter(|id| !seen.contains_key(*id)).count()
            })
            .collect();
        if missing.iter().all(|m| *m == 0) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("after {within:?}, events still undelivered per receiver: {missing:?} of {}", sent.len());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn latencies(sent: &HashMap<String, Instant>, arrivals: &Arrivals) -> Vec<f64> {
    let seen = arrivals.lock().expect("arrivals");
    sent.iter().filter_map(|(id, at)| Some(seen.get(id)?.duration_since(*at).as_secs_f64() * 1000.0)).collect()
}

/// Events per second from the first publish to the last arrival.
fn rate(sent: &HashMap<String, Instant>, arrivals: &Arrivals) -> f64 {
    let seen = arrivals.lock().expect("arrivals");
    let first = sent.values().min().copied();
    let last = sent.keys().filter_map(|id| seen.get(id)).max().copied();
    match (first, last) {
        (Some(first), Some(last)) if last > first => sent.len() as f64 / last.duration_since(first).as_secs_f64(),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_and_a_metrics_line_name_their_workflow() {
        let event = CloudEvent::new("/x", stage_completed("wf-1".to_owned())).to_json();
        assert_eq!(workflow_of(&event).as_deref(), Some("wf-1"));
        assert_eq!(workflow_of(br#"{"workflow_id":"wf-2","stage":"build"}"#).as_deref(), Some("wf-2"));
        assert_eq!(workflow_of(b"not json"), None);
    }

    #[test]
    fn the_rate_runs_from_the_first_publish_to_the_last_arrival() {
        let start = Instant::now();
        let sent: HashMap<String, Instant> = (0..4).map(|i| (format!("e{i}"), start)).collect();
        let arrivals: Arrivals =
            Arc::new(Mutex::new(sent.keys().map(|id| (id.clone(), start + Duration::from_millis(500))).collect()));
        assert!((rate(&sent, &arrivals) - 8.0).abs() < 1e-6);
        assert_eq!(latencies(&sent, &arrivals), vec![500.0; 4]);
    }
}
