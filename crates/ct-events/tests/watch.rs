//! Following one workflow's events: history first, then live, in order.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use ct_events::data::AgentProgress;
use ct_events::testing::NatsServer;
use ct_events::{CloudEvent, EventData, Publisher, PublisherConfig, STREAM_NAME, WatchError, watch};
use futures::StreamExt;

fn progress(workflow_id: &str, message: &str) -> CloudEvent {
    CloudEvent::new(
        "/claude-temporal/test",
        EventData::AgentProgress(AgentProgress {
            workflow_id: workflow_id.to_owned(),
            stage: "implement".to_owned(),
            tool: None,
            message: message.to_owned(),
        }),
    )
}

#[tokio::test]
async fn a_watch_shows_one_workflow_from_its_first_event_then_live() -> anyhow::Result<()> {
    let server = NatsServer::start();
    let publisher = Publisher::connect(PublisherConfig::new(server.url(), "watch-test")).await?;
    let mine: Vec<CloudEvent> = (0..3).map(|n| progress("wf.a", &format!("a{n}"))).collect();
    publisher.publish(mine[0].clone());
    publisher.publish(progress("wf", "other workflow"));
    publisher.publish(mine[1].clone());
    publisher.publish(mine[2].clone());
    publisher.flush(Duration::from_secs(10)).await?;
    let context = jetstream::new(async_nats::connect(server.url()).await?);
    context.publish("ct.events.wf%2Ea.agent.progress", "junk".into()).await?.await?;

    let mut events = Box::pin(watch(&context, STREAM_NAME, Some("wf.a")).await?);
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .context("no event within 10 s")?
            .context("the watch ended")
    };
    for expected in &mine {
        assert_eq!(&next().await??, expected);
    }
    assert!(matches!(next().await?, Err(WatchError::Malformed { .. })));

    let live = progress("wf.a", "live");
    publisher.publish(live.clone());
    assert_eq!(next().await??, live);
    Ok(())
}
