//! Histories recorded by the end-to-end tests replay cleanly against the
//! current workflow code, so a change that breaks running workflows fails here.

use ct_e2e::{fixtures_dir, replayer};
use temporalio_client::WorkflowHistory;

#[tokio::test]
async fn recorded_histories_replay_against_current_code() {
    let mut fixtures: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory (record with CT_RECORD_FIXTURES=1)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 3, "expected recorded histories, found {fixtures:?}");
    let replayer = replayer();
    for fixture in fixtures {
        let json = std::fs::read(&fixture).expect("read fixture");
        let history = WorkflowHistory::from_json(&json).expect("history JSON");
        replayer
            .replay_workflow(history)
            .await
            .unwrap_or_else(|e| panic!("{} no longer replays: {e}", fixture.display()));
    }
}
