//! Histories recorded by the end-to-end tests replay cleanly against the
//! current workflow code, so a change that breaks running workflows fails here: whole, and cut
//! after each completed workflow task (a workflow a new build takes over mid-run).

use ct_e2e::{fixtures_dir, replayer};
use temporalio_client::WorkflowHistory;

#[tokio::test]
async fn recorded_histories_replay_against_current_code() {
    // The current recordings, and in dated directories those of earlier code, which workflows
    // still running from then replay as.
    let dirs = std::fs::read_dir(fixtures_dir()).expect("fixtures directory (record with CT_RECORD_FIXTURES=1)");
    let dirs = dirs.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir());
    let mut fixtures: Vec<_> = std::iter::once(fixtures_dir())
        .chain(dirs)
        .flat_map(|dir| std::fs::read_dir(dir).expect("fixtures directory").filter_map(|e| e.ok().map(|e| e.path())))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 20, "expected current and earlier recordings, found {fixtures:?}");
    let replayer = replayer();
    let mut replayed = 0;
    for fixture in fixtures {
        let json = std::fs::read(&fixture).expect("read fixture");
        for (cut, history) in cuts(&json) {
            replayer
                .replay_workflow(history)
                .await
                .unwrap_or_else(|e| panic!("{} cut after event {cut} no longer replays: {e}", fixture.display()));
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} histories and cuts");
}

/// `EVENT_TYPE_WORKFLOW_TASK_COMPLETED` in Temporal's history.
const WORKFLOW_TASK_COMPLETED: u64 = 7;

/// The whole history, and its prefixes that end with a completed workflow task, each with the
/// id of its last event.
fn cuts(json: &[u8]) -> Vec<(u64, WorkflowHistory)> {
    let history: serde_json::Value = serde_json::from_slice(json).expect("history JSON");
    let events = history["events"].as_array().expect("a history has events");
    let mut cuts: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, event)| event["event_type"].as_u64() == Some(WORKFLOW_TASK_COMPLETED))
        .map(|(index, _)| index + 1)
        .collect();
    cuts.push(events.len());
    cuts.dedup();
    cuts.into_iter()
        .map(|len| {
            let cut = serde_json::json!({ "events": &events[..len] });
            let last = events[len - 1]["event_id"].as_u64().unwrap_or_default();
            (last, WorkflowHistory::from_json(&serde_json::to_vec(&cut).expect("JSON")).expect("history JSON"))
        })
        .collect()
}
