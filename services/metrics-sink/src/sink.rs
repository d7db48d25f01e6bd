//! Events in, metrics lines and counters out.

use std::collections::HashSet;

use async_nats::jetstream::{self, AckKind};
use ct_events::{CloudEvent, EventConsumer, EventData};
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::journal::Journal;
use crate::prom::Metrics;
use ct_metrics::MetricsLine;

/// Consumes until `shutdown`; fails only when the metrics file cannot be
/// written, since acking what is not on disk would lose lines.
pub(crate) async fn consume(
    consumer: &mut EventConsumer,
    mut journal: Journal,
    metrics: &Metrics,
    batch_size: usize,
    shutdown: &CancellationToken,
) -> Result<(), Error> {
    loop {
        let batch = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            batch = consumer.next_batch(batch_size) => batch,
        };
        handle_batch(batch, &mut journal, metrics).await?;
    }
}

/// Writes the batch's new lines with one sync, then settles every message:
/// ack for events (new or already written), term for what is not an event.
async fn handle_batch(batch: Vec<jetstream::Message>, journal: &mut Journal, metrics: &Metrics) -> Result<(), Error> {
    let mut lines = Vec::new();
    let mut test_runs = Vec::new();
    let mut fresh_ids = HashSet::new();
    let mut settled = Vec::with_capacity(batch.len());
    // One span per event, ended once its line is on disk.
    let mut spans = Vec::with_capacity(batch.len());
    for message in batch {
        let event = match CloudEvent::from_json(&message.payload) {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(subject = %message.subject, %err, "skipping a message that is not a claude-temporal event");
                metrics.record_malformed();
                settled.push((message, AckKind::Term));
                continue;
            }
        };
        let span = ct_events::trace::process_span("ct-metrics-sink", &message, &event);
        let entered = span.enter();
        let fresh = !journal.contains(&event.id) && fresh_ids.insert(event.id.clone());
        if !fresh {
            tracing::debug!(event.id = %event.id, "already recorded; acking the redelivery");
        }
        match &event.data {
            EventData::StageCompleted(outcome) | EventData::StageFailed(outcome) if fresh => {
                lines.push(MetricsLine::from_stage(&event, outcome));
                tracing::debug!("metrics line recorded");
            }
            EventData::TestsCompleted(tests) if fresh => test_runs.push(tests.clone()),
            _ => {}
        }
        drop(entered);
        spans.push(span);
        settled.push((message, AckKind::Ack));
    }

    journal.append(&lines).await?;
    drop(spans);
    for line in &lines {
        metrics.record_stage(line);
    }
    for tests in &test_runs {
        metrics.record_tests(tests);
    }
    for (message, kind) in settled {
        if let Err(err) = message.ack_with(kind).await {
            // The line is on disk already: a redelivery is recognised by its id.
            tracing::debug!(%err, "ack not sent; the message will come again");
        }
    }
    Ok(())
}
