//! Histories recorded by the end-to-end tests replay cleanly against the
//! current workflow code, so a change that breaks running workflows fails here.

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
    for fixture in fixtures {
        let json = std::fs::read(&fixture).expect("read fixture");
        let history = WorkflowHistory::from_json(&json).expect("history JSON");
        replayer
            .replay_workflow(history)
            .await
            .unwrap_or_else(|e| panic!("{} no longer replays: {e}", fixture.display()));
    }
}
