//! The publisher against a real nats-server: order, dedup, trace headers,
//! outages and a full queue.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::jetstream::{self, consumer::pull};
use ct_events::data::AgentProgress;
use ct_events::testing::NatsServer;
use ct_events::{CloudEvent, EventData, Publisher, PublisherConfig, StreamSettings, ensure_stream};
use futures::StreamExt;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use tracing_subscriber::layer::SubscriberExt as _;

fn progress(workflow_id: &str, n: usize) -> CloudEvent {
    CloudEvent::new(
        "/claude-temporal/test",
        EventData::AgentProgress(AgentProgress {
            workflow_id: workflow_id.to_owned(),
            stage: "implement".to_owned(),
            tool: Some("Write".to_owned()),
            message: format!("step {n}"),
        }),
    )
}

async fn publisher(server: &NatsServer, buffer: usize) -> anyhow::Result<Publisher> {
    let mut config = PublisherConfig::new(server.url(), "ct-events-test");
    config.buffer = buffer;
    config.ack_timeout = Duration::from_secs(1);
    Ok(Publisher::connect(config).await?)
}

/// Every message now in the stream, in stream order.
async fn stored(server: &NatsServer) -> anyhow::Result<Vec<jetstream::Message>> {
    let client = async_nats::connect(server.url()).await?;
    let context = jetstream::new(client);
    let mut stream = context.get_stream(ct_events::STREAM_NAME).await?;
    let total = stream.info().await?.state.messages as usize;
    let consumer = stream.create_consumer(pull::OrderedConfig::default()).await?;
    let mut messages = consumer.messages().await?;
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .context("reading the stream back timed out")?
            .context("the ordered consumer ended")??;
        out.push(message);
    }
    Ok(out)
}

fn ids(messages: &[jetstream::Message]) -> anyhow::Result<Vec<String>> {
    messages.iter().map(|message| Ok(CloudEvent::from_json(&message.payload)?.id)).collect()
}

#[tokio::test]
async fn events_are_stored_in_order_on_their_subject_with_id_and_trace_headers() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let publisher = publisher(&server, 10_000).await?;
    // A recording tracer on this (the test runtime's only) thread, and a workflow's span as
    // the current context: every event's publish span must be its child.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _subscriber = tracing::subscriber::set_default(subscriber);
    let workflow_span = SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId::from(0x00f0_67aa_0ba9_02b7),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("ct", "1")])?,
    );
    let _workflow = opentelemetry::Context::new().with_remote_span_context(workflow_span).attach();
    let events: Vec<CloudEvent> = (0..2000).map(|n| progress("dev.wf 1", n)).collect();

    let started = Instant::now();
    for event in &events {
        publisher.publish(event.clone());
    }
    publisher.flush(Duration::from_secs(20)).await?;
    let elapsed = started.elapsed();
    eprintln!(
        "published {} events in {elapsed:?} ({:.0} events/s)",
        events.len(),
        events.len() as f64 / elapsed.as_secs_f64()
    );

    let messages = stored(&server).await?;
    assert_eq!(publisher.published(), 2000);
    assert_eq!(publisher.dropped(), 0);
    let expected: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
    assert_eq!(ids(&messages)?, expected);
    let first = &messages[0];
    assert_eq!(first.subject.as_str(), "ct.events.dev%2Ewf%201.agent.progress");
    let headers = first.headers.as_ref().context("headers")?;
    assert_eq!(headers.get("Nats-Msg-Id").map(|v| v.as_str()), Some(events[0].id.as_str()));
    let parent = ct_events::trace::extract(headers);
    let parent = parent.span().span_context().clone();
    assert_eq!(parent.trace_id(), TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736), "the workflow's trace");
    assert_ne!(parent.span_id(), SpanId::from(0x00f0_67aa_0ba9_02b7), "the publish span, not the workflow's");
    assert_eq!(parent.trace_state().header(), "ct=1");
    let second = ct_events::trace::extract(messages[1].headers.as_ref().context("headers")?);
    assert_ne!(second.span().span_context().span_id(), parent.span_id(), "one publish span per event");
    Ok(())
}

#[tokio::test]
async fn republishing_an_event_id_stores_it_once() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let publisher = publisher(&server, 100).await?;
    let event = progress("wf", 1).with_id("wf/implement/attempt-1/progress-1");
    publisher.publish(event.clone());
    publisher.publish(event.clone());
    publisher.flush(Duration::from_secs(10)).await?;
    assert_eq!(ids(&stored(&server).await?)?, vec![event.id]);
    Ok(())
}

#[tokio::test]
async fn a_process_started_while_nats_is_down_publishes_once_it_is_up() -> anyhow::Result<()> {
    let mut server = NatsServer::start();
    server.kill();
    let publisher = publisher(&server, 100).await?;
    let events: Vec<CloudEvent> = (0..20).map(|n| progress("wf", n)).collect();
    for event in &events {
        publisher.publish(event.clone());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(publisher.published(), 0, "nothing can be stored while NATS is down");
    server.restart();
    publisher.flush(Duration::from_secs(15)).await?;
    let expected: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
    assert_eq!(ids(&stored(&server).await?)?, expected);
    Ok(())
}

#[tokio::test]
async fn a_nats_restart_while_publishing_loses_nothing_and_keeps_order() -> anyhow::Result<()> {
    let mut server = NatsServer::start();
    let publisher = publisher(&server, 10_000).await?;
    let events: Vec<CloudEvent> = (0..3000).map(|n| progress("wf", n)).collect();

    let feeder = {
        let publisher = publisher.clone();
        let events = events.clone();
        tokio::spawn(async move {
            for chunk in events.chunks(100) {
                for event in chunk {
                    publisher.publish(event.clone());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    while publisher.published() < 500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed_at = publisher.published();
    let outage = Instant::now();
    server.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();
    feeder.await?;
    publisher.flush(Duration::from_secs(20)).await?;
    eprintln!("NATS killed after {killed_at} events, back after {:?}; all {} flushed", outage.elapsed(), events.len());

    let expected: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
    let got = ids(&stored(&server).await?)?;
    if got != expected {
        bail!(
            "stream has {} events, expected {}; first difference at {:?}",
            got.len(),
            expected.len(),
            got.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
    assert_eq!(publisher.dropped(), 0);
    Ok(())
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_blocking() -> anyhow::Result<()> {
    let mut server = NatsServer::start();
    server.kill();
    let publisher = publisher(&server, 10).await?;
    let started = Instant::now();
    for n in 0..25 {
        publisher.publish(progress("wf", n));
    }
    assert!(started.elapsed() < Duration::from_millis(100), "publish must not wait");
    // One event may already be taken out of the queue by the publishing task.
    assert!((14..=15).contains(&publisher.dropped()), "dropped {}", publisher.dropped());
    let err = publisher.flush(Duration::from_millis(300)).await.unwrap_err();
    assert!(err.to_string().contains("still unpublished"), "{err}");

    server.restart();
    publisher.flush(Duration::from_secs(15)).await?;
    assert_eq!(stored(&server).await?.len() as u64, 25 - publisher.dropped());
    Ok(())
}

#[tokio::test]
async fn an_event_too_large_for_nats_is_dropped_and_the_rest_go_out() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let publisher = publisher(&server, 100).await?;
    let mut huge = progress("wf", 0);
    if let EventData::AgentProgress(data) = &mut huge.data {
        // nats-server takes at most 1 MiB per message by default.
        data.message = "x".repeat(2 << 20);
    }
    let after = progress("wf", 1);
    publisher.publish(huge);
    publisher.publish(after.clone());
    publisher.flush(Duration::from_secs(10)).await?;
    assert_eq!(publisher.dropped(), 1);
    assert_eq!(ids(&stored(&server).await?)?, vec![after.id]);
    Ok(())
}

#[tokio::test]
async fn stream_limits_are_applied_and_updated_idempotently() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let context = jetstream::new(async_nats::connect(server.url()).await?);
    let mut settings = StreamSettings::default();
    ensure_stream(&context, &settings).await?;
    ensure_stream(&context, &settings).await?;
    settings.max_age = Duration::from_secs(3600);
    settings.max_bytes = 64 << 20;
    settings.duplicate_window = Duration::from_secs(30);
    ensure_stream(&context, &settings).await?;

    let info = context.get_stream(&settings.name).await?.info().await?.config.clone();
    assert_eq!(info.subjects, vec!["ct.events.>".to_owned()]);
    assert_eq!(info.storage, jetstream::stream::StorageType::File);
    assert_eq!(info.max_age, Duration::from_secs(3600));
    assert_eq!(info.max_bytes, 64 << 20);
    assert_eq!(info.duplicate_window, Duration::from_secs(30));
    Ok(())
}

fn with_outbox(server: &NatsServer, path: &std::path::Path) -> PublisherConfig {
    let mut config = PublisherConfig::new(server.url(), "ct-events-test");
    config.ack_timeout = Duration::from_secs(1);
    config.outbox = Some(path.to_owned());
    config
}

#[test]
fn events_of_a_publisher_that_dies_during_an_outage_are_published_by_the_next_one() -> anyhow::Result<()> {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir()?;
    let outbox = dir.path().join("worker").join("events.outbox");
    let events: Vec<CloudEvent> = (0..20).map(|n| progress("wf-crash", n)).collect();

    // NATS is down; the process publishes and dies: its runtime goes without a flush.
    server.kill();
    let doomed = tokio::runtime::Runtime::new()?;
    doomed.block_on(async {
        let publisher = Publisher::connect(with_outbox(&server, &outbox)).await?;
        for event in &events {
            publisher.publish(event.clone());
        }
        assert_eq!(publisher.published(), 0);
        anyhow::Ok(())
    })?;
    doomed.shutdown_background();
    assert_eq!(std::fs::read_to_string(&outbox)?.lines().count(), 20, "every event is on disk");

    server.restart();
    tokio::runtime::Runtime::new()?.block_on(async {
        let publisher = Publisher::connect(with_outbox(&server, &outbox)).await?;
        publisher.flush(Duration::from_secs(20)).await?;
        assert_eq!(publisher.published(), 20);
        let expected: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
        assert_eq!(ids(&stored(&server).await?)?, expected, "all of them, once, in order");
        assert_eq!(std::fs::read_to_string(&outbox)?, "", "emptied once stored");

        // A second process on the same outbox would publish the same events again: refused.
        let Err(err) = Publisher::connect(with_outbox(&server, &outbox)).await else {
            anyhow::bail!("a second publisher opened a locked outbox");
        };
        assert!(err.to_string().contains("in use by another process"), "{err}");
        Ok(())
    })
}
