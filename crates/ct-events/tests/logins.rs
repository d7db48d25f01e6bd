//! The compose stack's NATS users (deploy/nats.conf) against a real nats-server: nobody gets in
//! without a password, publishers publish, readers read through their own durable consumers and
//! nothing more, and `watch` follows events without reaching the services' consumers.

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, object_store};
use ct_events::data::AgentProgress;
use ct_events::testing::NatsServer;
use ct_events::{
    CloudEvent, ConsumerSettings, EventConsumer, EventData, NatsLogin, Publisher, PublisherConfig, STREAM_NAME,
    StreamSettings, watch,
};
use futures::StreamExt;

const USERS: [&str; 5] = ["worker", "executor", "notifier", "metrics-sink", "cli"];

/// A server with deploy/nats.conf, and a password file per user.
fn server(dir: &Path) -> NatsServer {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats.conf");
    let passwords: Vec<(String, String)> = USERS
        .iter()
        .map(|user| {
            let password = format!("{}-password-0123456789", user.replace('-', "_"));
            std::fs::write(dir.join(user), format!("{password}\n")).unwrap();
            (format!("NATS_{}_PASSWORD", user.replace('-', "_").to_uppercase()), password)
        })
        .collect();
    let env: Vec<(&str, &str)> = passwords.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    NatsServer::start_configured(&config, &env)
}

fn login(dir: &Path, user: &str) -> NatsLogin {
    NatsLogin::load(Some(user), Some(&dir.join(user))).unwrap().expect("a login")
}

async fn context(server: &NatsServer, login: &NatsLogin) -> jetstream::Context {
    let client = ct_events::connect(&server.url(), Some(login), "logins-test").await.unwrap();
    let mut context = jetstream::new(client);
    context.set_timeout(Duration::from_secs(2));
    context
}

fn progress(message: &str) -> CloudEvent {
    CloudEvent::new(
        "/claude-temporal/test",
        EventData::AgentProgress(AgentProgress {
            workflow_id: "wf".to_owned(),
            stage: "build".to_owned(),
            tool: None,
            message: message.to_owned(),
        }),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn each_service_may_do_what_it_needs_and_nothing_else() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = server(dir.path());

    // Nobody without a password, nor with a wrong one.
    assert!(async_nats::connect(server.url()).await.is_err(), "an anonymous client got in");
    let wrong = async_nats::ConnectOptions::with_user_and_password("worker".into(), "not-its-password".into());
    assert!(wrong.connect(server.url()).await.is_err(), "a wrong password got in");

    // The worker publishes (and makes the stream).
    let mut config = PublisherConfig::new(server.url(), "logins-worker");
    config.login = Some(login(dir.path(), "worker"));
    let publisher = Publisher::connect(config).await?;
    let event = progress("hello");
    publisher.publish(event.clone());
    publisher.flush(Duration::from_secs(10)).await?;
    assert_eq!((publisher.published(), publisher.dropped()), (1, 0));

    // The notifier reads through its durable consumer, with rights that only read.
    let notifier = login(dir.path(), "notifier");
    let client = ct_events::connect(&server.url(), Some(&notifier), "logins-notifier").await?;
    let mut consumer = EventConsumer::new(client, ConsumerSettings::new(StreamSettings::default(), "ct-notifier"));
    let batch = tokio::time::timeout(Duration::from_secs(20), consumer.next_batch(10)).await?;
    assert_eq!(batch.len(), 1);
    assert_eq!(CloudEvent::from_json(&batch[0].payload)?, event);
    batch[0].ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;

    // ...and can neither forge an event, nor open the checkpoints, nor take the sink's consumer.
    let reader = context(&server, &notifier).await;
    let forged = async { reader.publish("ct.events.wf.workflow.completed", "{}".into()).await?.await };
    assert!(forged.await.is_err(), "the notifier published an event");
    assert!(reader.get_object_store("ct-checkpoints").await.is_err(), "the notifier opened the checkpoints");
    let sinks = pull::Config { durable_name: Some("ct-metrics-sink".to_owned()), ..Default::default() };
    assert!(
        reader.create_consumer_on_stream(sinks, STREAM_NAME).await.is_err(),
        "the notifier took the sink's consumer"
    );

    // The executor keeps checkpoints; the CLI follows events and nothing else.
    let executor = context(&server, &login(dir.path(), "executor")).await;
    let bucket = executor
        .create_object_store(object_store::Config { bucket: "ct-checkpoints".to_owned(), ..Default::default() })
        .await?;
    bucket.put("run-1", &mut b"conversation".as_slice()).await?;
    let mut stored = Vec::new();
    use tokio::io::AsyncReadExt as _;
    bucket.get("run-1").await?.read_to_end(&mut stored).await?;
    assert_eq!(stored, b"conversation");

    let cli = context(&server, &login(dir.path(), "cli")).await;
    let mut followed = Box::pin(watch(&cli, STREAM_NAME, Some("wf")).await?);
    let first = tokio::time::timeout(Duration::from_secs(10), followed.next()).await?.expect("an event")?;
    assert_eq!(first, event);
    assert!(cli.get_object_store("ct-checkpoints").await.is_err(), "the CLI opened the checkpoints");
    let takeover = pull::Config { durable_name: Some("ct-notifier".to_owned()), ..Default::default() };
    assert!(
        cli.create_consumer_on_stream(takeover, STREAM_NAME).await.is_err(),
        "the CLI rewrote the notifier's consumer"
    );
    let forged = async { cli.publish("ct.events.wf.workflow.completed", "{}".into()).await?.await };
    assert!(forged.await.is_err(), "the CLI published an event");
    Ok(())
}

#[test]
fn a_login_needs_both_a_user_and_a_readable_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    assert!(NatsLogin::load(None, None).unwrap().is_none());
    let err = NatsLogin::load(Some("worker"), None).unwrap_err().to_string();
    assert!(err.contains("NATS_PASSWORD_FILE"), "{err}");
    let err = NatsLogin::load(None, Some(&file)).unwrap_err().to_string();
    assert!(err.contains("NATS_USER"), "{err}");
    let err = NatsLogin::load(Some("worker"), Some(&file)).unwrap_err().to_string();
    assert!(err.contains("cannot read NATS_PASSWORD_FILE"), "{err}");
    std::fs::write(&file, "\n").unwrap();
    let err = NatsLogin::load(Some("worker"), Some(&file)).unwrap_err().to_string();
    assert!(err.contains("is empty"), "{err}");
    std::fs::write(&file, "s3cret-value\n").unwrap();
    let login = NatsLogin::load(Some("worker"), Some(&file)).unwrap().unwrap();
    assert_eq!(login.password(), "s3cret-value");
    assert!(!format!("{login:?}").contains("s3cret"), "{login:?}");
}
