//! The sink against a real nats-server: lines, /metrics, malformed messages,
//! and a SIGKILL of the real binary in the middle of a burst.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ct_events::data::{AgentProgress, StageOutcome, TestCounts, TestsCompleted, TokenUsage};
use ct_events::testing::NatsServer;
use ct_events::{CloudEvent, EventData, Publisher, PublisherConfig};
use ct_metrics_sink::MetricsLine;
use tokio_util::sync::CancellationToken;

fn outcome(workflow_id: &str, stage: &str, error: Option<&str>) -> StageOutcome {
    StageOutcome {
        workflow_id: workflow_id.to_owned(),
        workflow_kind: "develop".to_owned(),
        stage: stage.to_owned(),
        model: Some("claude-sonnet-4-5".to_owned()),
        tokens: TokenUsage { input_tokens: 1000, output_tokens: 200, cache_read_tokens: 50, cache_write_tokens: 0 },
        cost_usd: 0.25,
        duration_ms: 12_000,
        files_modified: vec!["a.py".to_owned(), "b.py".to_owned()],
        files_truncated: false,
        lines_added: 30,
        lines_removed: 4,
        tests: Some(TestCounts { passed: 5, failed: u32::from(error.is_some()), skipped: 0 }),
        error: error.map(str::to_owned),
    }
}

fn stage_completed(workflow_id: &str, stage: &str) -> CloudEvent {
    CloudEvent::new("/claude-temporal/test", EventData::StageCompleted(outcome(workflow_id, stage, None)))
}

async fn publisher(server: &NatsServer) -> anyhow::Result<Publisher> {
    let mut config = PublisherConfig::new(server.url(), "sink-test");
    config.buffer = 20_000;
    Ok(Publisher::connect(config).await?)
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|text| text.lines().map(str::to_owned).collect()).unwrap_or_default()
}

async fn wait_for_lines(path: &Path, at_least: usize, within: Duration) -> anyhow::Result<usize> {
    let deadline = Instant::now() + within;
    loop {
        let count = read_lines(path).len();
        if count >= at_least {
            return Ok(count);
        }
        if Instant::now() > deadline {
            bail!("{} has {count} lines after {within:?}, expected {at_least}", path.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn finished_stages_become_lines_and_metrics_and_junk_is_skipped() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = NatsServer::start();
    let dir = tempfile::tempdir()?;
    let metrics_file = dir.path().join("metrics.jsonl");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let sink = tokio::spawn(ct_metrics_sink::run(
        listener,
        ct_metrics_sink::Config::new(server.url(), &metrics_file),
        shutdown.clone(),
    ));

    // Junk first: the sink must get past it to the real events.
    let raw = async_nats::connect(server.url()).await?;
    let jetstream = async_nats::jetstream::new(raw);
    let publisher = publisher(&server).await?;
    publisher.publish(stage_completed("wf-1", "scaffold"));
    publisher.flush(Duration::from_secs(10)).await?;
    jetstream.publish("ct.events.wf-1.stage.completed", "not json".into()).await?.await?;
    let mut wrong_schema: serde_json::Value = serde_json::from_slice(&stage_completed("wf-1", "x").to_json())?;
    wrong_schema["data"]["tokens"] = "lots".into();
    jetstream.publish("ct.events.wf-1.stage.completed", wrong_schema.to_string().into()).await?.await?;

    let completed = stage_completed("wf-1", "implement");
    let failed = CloudEvent::new(
        "/claude-temporal/test",
        EventData::StageFailed(outcome("wf-1", "test", Some("2 tests failed"))),
    );
    publisher.publish(completed.clone());
    publisher.publish(CloudEvent::new(
        "/claude-temporal/test",
        EventData::AgentProgress(AgentProgress {
            workflow_id: "wf-1".into(),
            stage: "test".into(),
            tool: None,
            message: "thinking".into(),
        }),
    ));
    publisher.publish(CloudEvent::new(
        "/claude-temporal/test",
        EventData::TestsCompleted(TestsCompleted {
            workflow_id: "wf-1".into(),
            stage: "test".into(),
            framework: "pytest".into(),
            counts: TestCounts { passed: 5, failed: 2, skipped: 1 },
            duration_ms: 900,
            failures: vec!["test_a".into(), "test_b".into()],
        }),
    ));
    publisher.publish(failed.clone());
    // Republished (same id): still one line.
    publisher.publish(completed.clone());
    publisher.flush(Duration::from_secs(10)).await?;

    wait_for_lines(&metrics_file, 3, Duration::from_secs(10)).await?;
    let lines: Vec<MetricsLine> =
        read_lines(&metrics_file).iter().map(|line| serde_json::from_str(line)).collect::<Result<_, _>>()?;
    let implement = &lines[1];
    assert_eq!(implement.event_id.as_deref(), Some(completed.id.as_str()));
    assert_eq!(implement.stage, "implement");
    assert_eq!(implement.workflow_id, "wf-1");
    assert_eq!(implement.tokens_used, 1250);
    assert_eq!(implement.files_modified, 2);
    assert_eq!(implement.tests_pass, Some(true));
    assert_eq!(implement.model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(implement.timestamp, completed.time);
    let failed_line = &lines[2];
    assert_eq!(failed_line.error.as_deref(), Some("2 tests failed"));
    assert_eq!(failed_line.tests_pass, Some(false));

    let http = reqwest::Client::new();
    let text = http.get(format!("http://{addr}/metrics")).send().await?.text().await?;
    for expected in [
        r#"ct_tokens_total{model="claude-sonnet-4-5",stage="implement",workflow_kind="develop"} 1250"#,
        r#"ct_cost_usd_total{model="claude-sonnet-4-5",stage="implement",workflow_kind="develop"} 0.25"#,
        r#"ct_stages_total{outcome="failed",stage="test",workflow_kind="develop"} 1"#,
        r#"ct_stage_duration_seconds_count{stage="scaffold",workflow_kind="develop"} 1"#,
        r#"ct_tests_total{outcome="failed",stage="test"} 2"#,
        r#"ct_test_runs_total{result="fail",stage="test"} 1"#,
        "ct_metrics_sink_malformed_messages_total 2",
    ] {
        assert!(text.contains(expected), "/metrics lacks {expected}:\n{text}");
    }
    assert!(!sink.is_finished(), "malformed messages must not stop the sink");

    shutdown.cancel();
    sink.await??;
    assert_eq!(read_lines(&metrics_file).len(), 3);
    Ok(())
}

struct SinkProcess {
    child: Child,
}

impl SinkProcess {
    fn start(nats_url: &str, metrics_file: &Path, log: &Path) -> anyhow::Result<Self> {
        Self::start_with(nats_url, metrics_file, log, &[])
    }

    fn start_with(nats_url: &str, metrics_file: &Path, log: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let child = Command::new(sink_binary())
            .env("NATS_URL", nats_url)
            .env("METRICS_FILE", metrics_file)
            .env("CT_METRICS_SINK_LISTEN", "127.0.0.1:0")
            // What the killed sink had pulled but not acked comes back after
            // the ack wait: keep it short so the test does not wait 30 s.
            .env("CT_METRICS_SINK_ACK_WAIT_SECS", "3")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", sink_binary().display()))?;
        Ok(Self { child })
    }

    /// SIGTERMs the sink and waits until it has exited.
    fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("the sink did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

fn sink_binary() -> PathBuf {
    match std::env::var_os("CT_BIN_DIR") {
        Some(dir) => PathBuf::from(dir).join("ct-metrics-sink"),
        None => PathBuf::from(env!("CARGO_BIN_EXE_ct-metrics-sink")),
    }
}

#[tokio::test]
async fn a_sink_killed_mid_burst_ends_with_exactly_one_line_per_stage() -> anyhow::Result<()> {
    const EVENTS: usize = 10_000;
    let server = NatsServer::start();
    let dir = tempfile::tempdir()?;
    let metrics_file = dir.path().join("metrics.jsonl");
    let log = dir.path().join("sink.log");
    let mut sink = SinkProcess::start(&server.url(), &metrics_file, &log)?;

    let publisher = publisher(&server).await?;
    let events: Vec<CloudEvent> =
        (0..EVENTS).map(|n| stage_completed(&format!("wf-{}", n % 50), &format!("stage-{n}"))).collect();
    // Half the burst before the kill, half after: the kill lands mid-burst by construction,
    // whatever the speed of the sink or of the publisher.
    let (first, second) = events.split_at(EVENTS / 2);
    let started = Instant::now();
    for event in first {
        publisher.publish(event.clone());
    }

    let before_kill = wait_for_lines(&metrics_file, 2_000, Duration::from_secs(20)).await?;
    sink.kill_hard();
    let after_kill = read_lines(&metrics_file).len();
    eprintln!("SIGKILL at {after_kill} lines ({before_kill} seen before the kill) of {EVENTS} stages");
    for event in second {
        publisher.publish(event.clone());
    }

    let _sink = SinkProcess::start(&server.url(), &metrics_file, &log)?;
    publisher.flush(Duration::from_secs(20)).await?;
    wait_for_lines(&metrics_file, EVENTS, Duration::from_secs(20)).await?;
    eprintln!("{EVENTS} lines after {:?} from the first publish", started.elapsed());
    // Redeliveries of what the killed sink had pulled come after the ack wait: count once the
    // stream has nothing left for the sink, neither undelivered nor unacknowledged.
    server
        .wait_until_consumed(ct_metrics_sink::DEFAULT_CONSUMER, Duration::from_secs(30))
        .await
        .map_err(anyhow::Error::msg)?;

    let lines = read_lines(&metrics_file);
    let ids: HashSet<String> = lines
        .iter()
        .map(|line| {
            let line: MetricsLine = serde_json::from_str(line)?;
            line.event_id.context("a line without event_id")
        })
        .collect::<anyhow::Result<_>>()?;
    let expected: HashSet<String> = events.iter().map(|event| event.id.clone()).collect();
    assert_eq!(lines.len(), EVENTS, "see {}", log.display());
    assert_eq!(ids, expected);
    Ok(())
}

#[tokio::test]
async fn a_nats_restart_while_consuming_loses_and_doubles_nothing() -> anyhow::Result<()> {
    const EVENTS: usize = 3_000;
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir()?;
    let metrics_file = dir.path().join("metrics.jsonl");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let shutdown = CancellationToken::new();
    let sink = tokio::spawn(ct_metrics_sink::run(
        listener,
        ct_metrics_sink::Config::new(server.url(), &metrics_file),
        shutdown.clone(),
    ));
    let publisher = publisher(&server).await?;
    let events: Vec<CloudEvent> = (0..EVENTS).map(|n| stage_completed("wf", &format!("stage-{n}"))).collect();
    for event in &events {
        publisher.publish(event.clone());
    }

    wait_for_lines(&metrics_file, 1_000, Duration::from_secs(20)).await?;
    server.kill();
    let at_kill = read_lines(&metrics_file).len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();
    publisher.flush(Duration::from_secs(20)).await?;
    let started = Instant::now();
    wait_for_lines(&metrics_file, EVENTS, Duration::from_secs(20)).await?;
    eprintln!("NATS killed at {at_kill} lines; all {EVENTS} written {:?} after the restart", started.elapsed());
    server
        .wait_until_consumed(ct_metrics_sink::DEFAULT_CONSUMER, Duration::from_secs(30))
        .await
        .map_err(anyhow::Error::msg)?;

    let lines = read_lines(&metrics_file);
    assert_eq!(lines.len(), EVENTS);
    let written: Vec<String> = lines
        .iter()
        .map(|line| Ok(serde_json::from_str::<MetricsLine>(line)?.event_id.unwrap_or_default()))
        .collect::<anyhow::Result<_>>()?;
    let published: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
    assert_eq!(written, published, "lines must follow the order of events");
    shutdown.cancel();
    sink.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_still_batched_at_sigterm_reach_the_collector() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let collector = ct_telemetry::testing::OtlpReceiver::start().await?;
    let dir = tempfile::tempdir()?;
    let metrics_file = dir.path().join("metrics.jsonl");
    // A batch delay far beyond the test: only the flush at shutdown can send the span.
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()), ("OTEL_BSP_SCHEDULE_DELAY", "600000")];
    let mut sink = SinkProcess::start_with(&server.url(), &metrics_file, &dir.path().join("sink.log"), &env)?;
    let publisher = publisher(&server).await?;
    let event = stage_completed("wf-flush", "scaffold");
    publisher.publish(event.clone());
    publisher.flush(Duration::from_secs(10)).await?;
    wait_for_lines(&metrics_file, 1, Duration::from_secs(30)).await?;
    assert!(collector.spans().is_empty(), "the batch is still held: {:?}", collector.spans());

    let status = sink.stop()?;
    assert!(status.success(), "the sink exits cleanly on SIGTERM: {status}");
    let spans = collector.wait_for(Duration::from_secs(10), |spans| !spans.is_empty()).await;
    let processed = spans.iter().find(|span| span.name == "process ct.events");
    let processed = processed.with_context(|| format!("no span of the event after SIGTERM: {spans:#?}"))?;
    assert_eq!(processed.service, "ct-metrics-sink");
    assert_eq!(processed.attribute("messaging.message.id"), Some(event.id.as_str()));
    Ok(())
}
