//! The merge queue end to end: `parallel --integrate` merges the features' branches into one
//! integration branch in a worktree of its own; an agent resolves a textual conflict, another
//! fixes a test the combination broke, a conflict the agent cannot resolve holds its feature
//! back; `--land` fast-forwards only a clean, unmoved checkout; the user's checkout is otherwise
//! never touched. Real git, real pytest, the real CLI against the scripted model.

use std::path::Path;

use ct_domain::integration::{FeatureOutcome, Landing};
use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, all_paths, checkout_state, example, git, git_project};
use ct_scripted_model::Scenario;
use serde_json::{Value, json};

const BASE_GREETING: &str = "def greet(name):\n    return \"Hello, \" + name\n";
const POLITE_GREETING: &str =
    "from textstats.style import END\n\n\ndef greet(name):\n    return \"Good day, \" + name + END\n";
const POLITE_TEST: &str =
    "from textstats.greeting import greet\n\n\ndef test_polite():\n    assert greet(\"Ann\") == \"Good day, Ann.\"\n";
const LOUD_GREETING: &str = "def greet(name):\n    return \"Hello, \" + name.title()\n";
const LOUD_TEST: &str =
    "from textstats.greeting import greet\n\n\ndef test_loud():\n    assert \"Ann\" in greet(\"ann\")\n";
const BANNER: &str = "from textstats.style import END\n\n\ndef banner(text):\n    return text.upper() + END\n";
const BANNER_TEST: &str =
    "from textstats.banner import banner\n\n\ndef test_banner():\n    assert banner(\"hi\") == \"HI!\"\n";
const FIXED_GREETING: &str = "def greet(name):\n    return \"Good day, \" + name + \".\"\n";
const RESOLVED_GREETING: &str = "def greet(name):\n    return \"Good day, \" + name.title() + \".\"\n";

fn write(path: &str, content: &str) -> Value {
    json!({ "name": "Write", "input": { "file_path": format!("{{cwd}}/{path}"), "content": content } })
}

/// A run whose prompt contains `matching`: one response with `writes`, then "Done.".
fn script(name: &str, matching: &str, writes: Vec<Value>) -> Value {
    let mut turns = Vec::new();
    if !writes.is_empty() {
        turns.push(json!({ "text": format!("{name}."), "tool_uses": writes,
                           "usage": { "input_tokens": 100, "output_tokens": 20 } }));
    }
    turns.push(json!({ "text": "Done.", "usage": { "input_tokens": 10, "output_tokens": 5 } }));
    json!({ "name": name, "match": matching, "turns": turns })
}

/// The three features: `polite` and `loud` change `greet` differently; `exclaim` changes the
/// punctuation `polite`'s test relies on, which only shows once both are merged.
fn features() -> Vec<Value> {
    vec![
        script(
            "polite",
            "Feature: polite\n",
            vec![write("textstats/greeting.py", POLITE_GREETING), write("tests/test_polite.py", POLITE_TEST)],
        ),
        script(
            "loud",
            "Feature: loud\n",
            vec![write("textstats/greeting.py", LOUD_GREETING), write("tests/test_loud.py", LOUD_TEST)],
        ),
        script(
            "exclaim",
            "Feature: exclaim\n",
            vec![
                write("textstats/style.py", "END = \"!\"\n"),
                write("textstats/banner.py", BANNER),
                write("tests/test_banner.py", BANNER_TEST),
            ],
        ),
    ]
}

fn scenario(mut scripts: Vec<Value>) -> Scenario {
    scripts.extend(features());
    Scenario::from_json(&json!({ "scripts": scripts }).to_string()).expect("scenario")
}

/// The example project with `greet` and the punctuation it uses, committed.
fn project() -> tempfile::TempDir {
    let project = git_project(&example("textstats"));
    let root = project.path();
    std::fs::write(root.join("textstats/greeting.py"), BASE_GREETING).unwrap();
    std::fs::write(root.join("textstats/style.py"), "END = \".\"\n").unwrap();
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "greeting"]);
    project
}

fn parallel(stack: &Stack, root: &Path, extra: &[&str]) -> (String, i32, WorkflowStatus) {
    let mut args = vec!["parallel", root.to_str().unwrap(), "polite", "loud", "exclaim", "--integrate", "--json"];
    args.extend_from_slice(extra);
    let started = stack.cli(&args);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.json()["workflow_id"].as_str().unwrap().to_owned();
    let result = stack.cli(&["result", &id, "--json"]);
    let status = serde_json::from_value(result.json()).unwrap();
    (id, result.code, status)
}

/// The integration branch's tests, in a clone of it: what a user merging it gets.
fn tests_of_branch(root: &Path, branch: &str) -> (bool, String) {
    let clone = tempfile::tempdir().unwrap();
    let cloned = std::process::Command::new("git")
        .args(["clone", "-q", "-b", branch])
        .arg(root)
        .arg(clone.path())
        .output()
        .unwrap();
    assert!(cloned.status.success(), "{}", String::from_utf8_lossy(&cloned.stderr));
    let run = std::process::Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(clone.path())
        .output()
        .unwrap();
    (run.status.success(), String::from_utf8_lossy(&run.stdout).into_owned())
}

fn outcomes(status: &WorkflowStatus) -> Vec<(String, String)> {
    let integration = status.integration.as_ref().expect("an integration");
    integration.features.iter().map(|f| (f.branch.clone(), f.describe())).collect()
}

fn event_kinds(stack: &Stack, id: &str) -> Vec<String> {
    let watch = stack.cli(&["watch", id, "--json"]);
    assert_eq!(watch.code, 0, "{}", watch.stderr);
    watch.stdout.lines().map(|line| ct_e2e::event_kind(&serde_json::from_str(line).unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn features_are_integrated_after_one_resolving_run_and_one_fixing_run() {
    let stack = Stack::start(StackOptions::new(scenario(vec![
        script("resolve", "Resolve: feature-2-loud\n", vec![write("textstats/greeting.py", RESOLVED_GREETING)]),
        script("fix", "Fix: feature-1-polite\n", vec![write("textstats/greeting.py", FIXED_GREETING)]),
    ])))
    .await;
    let project = project();
    let root = project.path();
    std::fs::write(root.join("README.md"), "the user's staged edit\n").unwrap();
    git(root, &["add", "README.md"]);
    std::fs::write(root.join("NOTES.txt"), "the user's untracked notes\n").unwrap();
    let before = (checkout_state(root), all_paths(root), std::fs::read(root.join("README.md")).unwrap());

    let (id, code, status) = parallel(&stack, root, &[]);
    assert_eq!((code, status.state), (0, RunState::Completed), "{status:?}\n{}", stack.logs());
    assert!(status.stages.iter().all(|s| s.state == StageState::Completed), "{status:?}");
    let integration = status.integration.clone().unwrap();
    let branch = format!("integration/{id}");
    assert_eq!(integration.branch, branch);
    assert_eq!(
        outcomes(&status),
        [
            ("feature-3-exclaim".to_owned(), "merged".to_owned()),
            ("feature-1-polite".to_owned(), "merged after fixing tests".to_owned()),
            ("feature-2-loud".to_owned(), "merged after resolving 1 file".to_owned()),
        ],
        "fewest predicted conflicts first"
    );
    assert_eq!(integration.features[2].resolved_files, ["textstats/greeting.py"]);
    assert!(integration.worktree.is_none(), "the integration worktree is removed");

    // One resolving run and one fixing run, each an ordinary agent run in the totals.
    let runs: Vec<(&str, StageState)> = integration.runs.iter().map(|r| (r.name.as_str(), r.state)).collect();
    assert_eq!(
        runs,
        [("fix feature-1-polite (1)", StageState::Completed), ("resolve feature-2-loud", StageState::Completed)]
    );
    let scripts: Vec<String> =
        stack.model.requests().iter().filter(|r| r.turn == 0).filter_map(|r| r.script.clone()).collect();
    assert_eq!(scripts.iter().filter(|s| *s == "resolve").count(), 1, "{scripts:?}");
    assert_eq!(scripts.iter().filter(|s| *s == "fix").count(), 1, "{scripts:?}");
    let resolve_prompt = stack.model.requests().into_iter().find(|r| r.script.as_deref() == Some("resolve")).unwrap();
    assert!(resolve_prompt.first_user_text.contains("- textstats/greeting.py"), "{}", resolve_prompt.first_user_text);
    let stages_cost: f64 = status.stages.iter().chain(&integration.runs).map(|s| s.cost_usd).sum();
    assert!(integration.runs.iter().all(|r| r.cost_usd > 0.0));
    assert!((status.total_cost_usd - stages_cost).abs() < 1e-9, "{} vs {stages_cost}", status.total_cost_usd);

    // The branch holds all three features, its tests pass, and its tip is the status's.
    for feature in ["feature-1-polite", "feature-2-loud", "feature-3-exclaim"] {
        git(root, &["merge-base", "--is-ancestor", feature, &branch]);
    }
    assert_eq!(git(root, &["rev-parse", &branch]).trim(), integration.commit.as_deref().unwrap());
    assert_eq!(git(root, &["show", &format!("{branch}:textstats/greeting.py")]), RESOLVED_GREETING);
    let (green, output) = tests_of_branch(root, &branch);
    assert!(green, "{output}");
    assert_eq!(output.lines().next().unwrap_or_default().matches('.').count(), 5, "five tests pass: {output}");

    // The predicted conflict named the pair and the file, before anything was merged.
    let predicted: Vec<_> =
        status.predicted_conflicts.iter().map(|c| (c.first.as_str(), c.second.as_str(), c.files.clone())).collect();
    assert_eq!(predicted, [("feature-1-polite", "feature-2-loud", vec!["textstats/greeting.py".to_owned()])]);
    let kinds = event_kinds(&stack, &id);
    let first = |kind: &str| kinds.iter().position(|k| k == kind).unwrap_or_else(|| panic!("no {kind}: {kinds:?}"));
    assert!(first("conflict.predicted") < first("integration.started"), "{kinds:?}");
    assert!(first("integration.started") < first("feature.merged"), "{kinds:?}");
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert_eq!(
        [
            count("feature.merged"),
            count("conflict.resolved"),
            count("feature.held_back"),
            count("integration.completed")
        ],
        [3, 1, 0, 1],
        "{kinds:?}"
    );

    let shown = stack.cli(&["status", &id]).stdout;
    assert!(shown.contains(&format!("integration  {branch} at ")), "{shown}");
    assert!(shown.contains("feature-2-loud") && shown.contains("merged after resolving 1 file"), "{shown}");

    let after = (checkout_state(root), all_paths(root), std::fs::read(root.join("README.md")).unwrap());
    assert_eq!(after, before, "the user's checkout, index, HEAD and files are untouched");
    ct_e2e::save_fixture("parallel-integrated", &stack.replay(&id).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_the_agent_cannot_resolve_holds_its_feature_back_and_land_fast_forwards() {
    // The resolving agent gives up (writes nothing): the markers stay.
    let stack = Stack::start(StackOptions::new(scenario(vec![
        script("resolve", "Resolve: feature-2-loud\n", vec![]),
        script("fix", "Fix: feature-1-polite\n", vec![write("textstats/greeting.py", FIXED_GREETING)]),
    ])))
    .await;
    let project = project();
    let root = project.path();
    let base = git(root, &["rev-parse", "HEAD"]).trim().to_owned();

    let (id, code, status) = parallel(&stack, root, &["--land"]);
    assert_eq!((code, status.state), (0, RunState::Completed), "{status:?}\n{}", stack.logs());
    let integration = status.integration.clone().unwrap();
    let outcome: Vec<_> = integration.features.iter().map(|f| (f.branch.as_str(), f.outcome)).collect();
    assert_eq!(
        outcome,
        [
            ("feature-3-exclaim", FeatureOutcome::Merged),
            ("feature-1-polite", FeatureOutcome::Merged),
            ("feature-2-loud", FeatureOutcome::HeldBack)
        ]
    );
    let reason = integration.features[2].reason.clone().unwrap();
    assert!(reason.contains("textstats/greeting.py") && reason.contains("not resolved"), "{reason}");
    let branch = format!("integration/{id}");
    let (green, output) = tests_of_branch(root, &branch);
    assert!(green, "{output}");
    let not_in = std::process::Command::new("git")
        .args(["-C", root.to_str().unwrap(), "merge-base", "--is-ancestor", "feature-2-loud", &branch])
        .status()
        .unwrap();
    assert!(!not_in.success(), "the held-back feature is not in the integration branch");
    let kinds = event_kinds(&stack, &id);
    assert_eq!(kinds.iter().filter(|k| *k == "feature.held_back").count(), 1, "{kinds:?}");

    // The checkout was clean and unmoved: main is fast-forwarded to the integration branch.
    let tip = integration.commit.clone().unwrap();
    assert_eq!(integration.landing, Some(Landing::Landed { branch: "main".to_owned(), commit: tip.clone() }));
    assert_eq!(git(root, &["rev-parse", "HEAD"]).trim(), tip);
    git(root, &["merge-base", "--is-ancestor", &base, "HEAD"]);
    assert_eq!(std::fs::read_to_string(root.join("textstats/greeting.py")).unwrap(), FIXED_GREETING);
    assert!(root.join("textstats/banner.py").exists());
    assert_eq!(git(root, &["status", "--porcelain"]).trim(), "", "files, index and branch agree");
    let shown = stack.cli(&["status", &id]).stdout;
    assert!(shown.contains("landed: main fast-forwarded to"), "{shown}");
    assert!(shown.contains("held back: the conflict in textstats/greeting.py was not resolved"), "{shown}");
}

/// `integrate` on branches that exist: merged without any agent run; `--land` refuses a
/// checkout that moved since, says why and how to merge by hand, and touches nothing.
#[tokio::test(flavor = "multi_thread")]
async fn integrate_merges_existing_branches_and_land_refuses_a_moved_checkout() {
    let stack = Stack::start(StackOptions::new(scenario(Vec::new()))).await;
    let project = project();
    let root = project.path();
    for (branch, file) in [("words", "textstats/words.py"), ("lines", "textstats/lines.py")] {
        git(root, &["checkout", "-q", "-b", branch, "main"]);
        std::fs::write(root.join(file), "def count(text):\n    return 0\n").unwrap();
        git(root, &["add", file]);
        git(root, &["commit", "-qm", branch]);
    }
    git(root, &["checkout", "-q", "main"]);
    std::fs::write(root.join("CHANGELOG.md"), "later\n").unwrap();
    git(root, &["add", "CHANGELOG.md"]);
    git(root, &["commit", "-qm", "the user moved on"]);
    let before = (checkout_state(root), all_paths(root));

    let out = stack.cli(&[
        "integrate",
        root.to_str().unwrap(),
        "words",
        "lines",
        "--into",
        "together",
        "--land",
        "--wait",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(out.json()).unwrap();
    assert_eq!(status.state, RunState::Completed);
    let integration = status.integration.clone().unwrap();
    assert_eq!(integration.branch, "together");
    assert!(integration.features.iter().all(|f| f.outcome == FeatureOutcome::Merged), "{integration:?}");
    assert!(integration.runs.is_empty(), "no agent was needed");
    assert!(stack.model.requests().is_empty());
    let Some(Landing::Refused { reason, command }) = &integration.landing else { panic!("{:?}", integration.landing) };
    assert!(reason.contains("main moved since the features started"), "{reason}");
    assert!(command.contains("merge together"), "{command}");
    git(root, &["merge-base", "--is-ancestor", "words", "together"]);
    git(root, &["merge-base", "--is-ancestor", "lines", "together"]);
    let refs = |state: &(Vec<u8>, Vec<u8>, String)| {
        state.2.lines().filter(|l| !l.starts_with("refs/heads/together")).collect::<Vec<_>>().join("\n")
    };
    let after = (checkout_state(root), all_paths(root));
    assert_eq!(
        (&after.0.0, &after.0.1, refs(&after.0), &after.1),
        (&before.0.0, &before.0.1, refs(&before.0), &before.1)
    );

    ct_e2e::save_fixture("integrate-existing-branches", &stack.replay(&status.workflow_id).await);

    // A branch that does not exist is named, and nothing is made.
    let missing = stack.cli(&["integrate", root.to_str().unwrap(), "words", "nope", "--wait"]);
    assert_eq!(missing.code, 2, "{}", missing.stdout);
    assert!(missing.stderr.contains("branch nope does not exist"), "{}", missing.stderr);
    let given_twice = stack.cli(&["integrate", root.to_str().unwrap(), "words", "words"]);
    assert_eq!(given_twice.code, 2);
    assert!(given_twice.stderr.contains("given twice"), "{}", given_twice.stderr);
    let without = stack.cli(&["parallel", root.to_str().unwrap(), "polite", "--land"]);
    assert_eq!(without.code, 2);
    assert!(without.stderr.contains("add --integrate"), "{}", without.stderr);
}

/// Waits until the model has been asked for a run of `script`.
fn wait_for_run(stack: &Stack, script: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !stack.model.requests().iter().any(|r| r.script.as_deref() == Some(script)) {
        assert!(std::time::Instant::now() < deadline, "no {script} run\n{}", stack.logs());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The worker killed while the integration fixes tests, and the executor killed while the
/// resolving agent waits for its model: the integration ends as it does without crashes, each
/// feature merged once.
#[tokio::test(flavor = "multi_thread")]
async fn crashes_during_the_integration_end_with_the_same_branch() {
    let resolving = json!({ "name": "resolve", "match": "Resolve: feature-2-loud\n", "turns": [
        { "text": "Resolving.", "delay_ms": 4000, "tool_uses": [write("textstats/greeting.py", RESOLVED_GREETING)],
          "usage": { "input_tokens": 100, "output_tokens": 20 } },
        { "text": "Done.", "usage": { "input_tokens": 10, "output_tokens": 5 } }
    ]});
    let mut options = StackOptions::new(scenario(vec![
        resolving,
        script("fix", "Fix: feature-1-polite\n", vec![write("textstats/greeting.py", FIXED_GREETING)]),
    ]));
    options.sticky_timeout_secs = 1;
    let mut stack = Stack::start(options).await;
    let project = project();
    let root = project.path();
    let base = git(root, &["rev-parse", "HEAD"]).trim().to_owned();
    let started =
        stack.cli(&["parallel", root.to_str().unwrap(), "polite", "loud", "exclaim", "--integrate", "--json"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.json()["workflow_id"].as_str().unwrap().to_owned();

    wait_for_run(&stack, "fix");
    stack.kill_worker();
    stack.start_worker();
    wait_for_run(&stack, "resolve");
    stack.kill_executor(0);
    stack.start_executor();

    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert_eq!(
        outcomes(&status),
        [
            ("feature-3-exclaim".to_owned(), "merged".to_owned()),
            ("feature-1-polite".to_owned(), "merged after fixing tests".to_owned()),
            ("feature-2-loud".to_owned(), "merged after resolving 1 file".to_owned()),
        ]
    );
    let integration = status.integration.clone().unwrap();
    assert!(
        integration.runs[1].lost_runs >= 1,
        "the resolving run was lost with its executor: {:?}",
        integration.runs[1]
    );
    let branch = format!("integration/{id}");
    assert_eq!(git(root, &["show", &format!("{branch}:textstats/greeting.py")]), RESOLVED_GREETING);
    let commits = git(root, &["rev-list", "--first-parent", "--count", &format!("{base}..{branch}")]);
    assert_eq!(commits.trim(), "4", "three merges and one fix, none twice");
    let (green, output) = tests_of_branch(root, &branch);
    assert!(green, "{output}");
}
