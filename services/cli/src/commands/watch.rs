//! `claude-temporal watch ID`: a workflow live from its events on NATS.

use std::process::ExitCode;

use ct_events::{CloudEvent, EventData, STREAM_NAME};
use futures::StreamExt;

use crate::cli::WatchArgs;
use crate::error::CliError;

pub(super) async fn run(config: &ct_config::Config, args: WatchArgs) -> anyhow::Result<ExitCode> {
    let nats_url = &config.settings.nats_url;
    let login =
        ct_events::NatsLogin::load(config.settings.nats_user.as_deref(), config.settings.nats_password_file.as_deref())
            .map_err(|err| CliError::BadInput(err.to_string()))?;
    let client = ct_events::connect(nats_url, login.as_ref(), "claude-temporal-watch").await.map_err(|err| {
        CliError::Unreachable(format!("cannot connect to NATS at {}: {err}", ct_events::redact_credentials(nats_url)))
    })?;
    let jetstream = async_nats::jetstream::new(client);
    let mut events = ct_events::watch(&jetstream, STREAM_NAME, Some(&args.id)).await.map_err(|err| {
        CliError::Unreachable(format!(
            "cannot read events of `{}`: {err}. Is NATS with JetStream up (`claude-temporal dev status`)?",
            args.id
        ))
    })?;
    if !args.json {
        eprintln!("watching {} (events from the start; Ctrl-C to stop)", args.id);
    }
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                eprintln!("skipped: {err}");
                continue;
            }
        };
        if args.json {
            println!("{}", String::from_utf8_lossy(&event.to_json()));
        } else {
            println!("{}", render(&event));
        }
        match &event.data {
            EventData::WorkflowCompleted(_) => return Ok(ExitCode::SUCCESS),
            EventData::WorkflowFailed(_) | EventData::WorkflowCancelled(_) => {
                return Ok(ExitCode::from(1));
            }
            _ => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One readable line per event, with its time.
fn render(event: &CloudEvent) -> String {
    format!("{} {}", event.time.format("%H:%M:%S"), ct_events::describe(event))
}
