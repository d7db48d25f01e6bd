//! Recorded workflow histories: replaying them against the current workflow
//! code catches changes that would break workflows already running.

use std::path::PathBuf;

use ct_worker::workflows::{DevelopWorkflow, FeatureWorkflow, IntegrateWorkflow, IterateWorkflow, ParallelWorkflow};
use temporalio_sdk::opentelemetry::OpenTelemetryPlugin;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

pub fn fixtures_dir() -> PathBuf {
    crate::paths::workspace_root().join("tests/e2e/fixtures/histories")
}

/// Writes `history` as fixture `name` when `CT_RECORD_FIXTURES=1`; otherwise
/// leaves the committed fixtures alone.
pub fn save_fixture(name: &str, history: &[u8]) {
    if std::env::var("CT_RECORD_FIXTURES").as_deref() != Ok("1") {
        return;
    }
    let dir = fixtures_dir();
    std::fs::create_dir_all(&dir).expect("fixtures dir");
    std::fs::write(dir.join(format!("{name}.json")), history).expect("write fixture");
}

/// A replayer that knows every workflow the worker registers, with the tracing plugin the
/// worker has.
pub fn replayer() -> WorkflowReplayer {
    WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .worker_plugin(OpenTelemetryPlugin::builder().build())
            .register_workflow::<DevelopWorkflow>()
            .expect("register")
            .register_workflow::<IterateWorkflow>()
            .expect("register")
            .register_workflow::<ParallelWorkflow>()
            .expect("register")
            .register_workflow::<FeatureWorkflow>()
            .expect("register")
            .register_workflow::<IntegrateWorkflow>()
            .expect("register")
            .build(),
    )
    .expect("replayer")
}

/// The events a recorded history (as [`crate::Stack::replay`] returns it) had its workers
/// publish: `(id, type)` of every publish activity it scheduled, in order.
pub fn scheduled_events(history: &[u8]) -> Vec<(String, String)> {
    use base64::Engine as _;
    let history: serde_json::Value = serde_json::from_slice(history).expect("history JSON");
    let mut events = Vec::new();
    for event in history["events"].as_array().expect("a history has events") {
        let scheduled = &event["attributes"]["ActivityTaskScheduledEventAttributes"];
        if scheduled["activity_type"]["name"] != "EventActivities::publish" {
            continue;
        }
        let data = scheduled["input"]["payloads"][0]["data"].as_str().expect("a publish has its event");
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).expect("base64 payload");
        let emitted: serde_json::Value = serde_json::from_slice(&bytes).expect("the event as JSON");
        events.push((emitted["id"].as_str().unwrap().to_owned(), emitted["kind"].as_str().unwrap().to_owned()));
    }
    events
}
