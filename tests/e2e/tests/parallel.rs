//! The parallel workflow end to end: three features at once, each agent in its own
//! worktree on its own branch, tested there and committed there; the user's checkout,
//! index and HEAD are byte-identical before and after, and the worktrees are gone.

use std::time::Instant;

use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{
    Stack, StackOptions, all_paths, checkout_state, example, files, git, git_project, plant_git_programs, ran,
};
use ct_scripted_model::Scenario;
use serde_json::json;

const FEATURES: [(&str, &str, &str); 3] = [
    ("word counts", "words", "len(text.split())"),
    ("line counts", "lines", "len(text.splitlines())"),
    ("char counts", "chars", "len(text)"),
];

/// Each feature's agent waits two seconds before writing its module and test, so runs that
/// truly overlap finish in about the time of one.
fn scenario() -> Scenario {
    let scripts: Vec<_> = FEATURES
        .iter()
        .map(|(feature, module, body)| {
            json!({ "name": module, "match": format!("Feature: {feature}\n"), "turns": [
                { "text": format!("Adding {module}."), "delay_ms": 2000,
                  "tool_uses": [
                      { "name": "Write", "input": { "file_path": format!("{{cwd}}/textstats/{module}.py"),
                        "content": format!("def count(text):\n    return {body}\n") } },
                      { "name": "Write", "input": { "file_path": format!("{{cwd}}/tests/test_{module}.py"),
                        "content": format!("from textstats.{module} import count\n\n\ndef test_{module}():\n    assert count('') == 0\n") } }
                  ],
                  "usage": { "input_tokens": 200, "output_tokens": 50 } },
                { "text": "Done.", "usage": { "input_tokens": 20, "output_tokens": 5 } }
            ]})
        })
        .collect();
    Scenario::from_json(&json!({ "scripts": scripts }).to_string()).expect("scenario")
}

#[tokio::test(flavor = "multi_thread")]
async fn three_features_run_at_once_each_on_its_own_branch() {
    three_features_at_once(false).await;
}

/// The same on a repository where every program git runs on its own was planted first:
/// worktrees are made, committed and removed without running any of them.
#[tokio::test(flavor = "multi_thread")]
async fn parallel_features_run_nothing_planted_in_the_repository() {
    three_features_at_once(true).await;
}

async fn three_features_at_once(planted: bool) {
    let stack = Stack::start(StackOptions::new(scenario())).await;
    let project = git_project(&example("textstats"));
    let root = project.path();
    std::fs::write(root.join("README.md"), "the user's staged edit\n").unwrap();
    git(root, &["add", "README.md"]);
    std::fs::write(root.join("NOTES.txt"), "the user's untracked notes\n").unwrap();
    let witness = planted.then(|| plant_git_programs(root));
    let before = (checkout_state(root), files(root));
    let paths_before = all_paths(root);

    let mut args = vec!["parallel", root.to_str().unwrap()];
    args.extend(FEATURES.iter().map(|(feature, _, _)| *feature));
    args.push("--json");
    let started = stack.cli(&args);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.json()["workflow_id"].as_str().unwrap().to_owned();
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    if let Some(witness) = &witness {
        assert_eq!(ran(witness.path()), Vec::<String>::new(), "a planted program ran");
    }

    assert_eq!(status.state, RunState::Completed);
    let branches: Vec<&str> = status.stages.iter().map(|s| s.branch.as_deref().unwrap()).collect();
    assert_eq!(branches, ["feature-1-word-counts", "feature-2-line-counts", "feature-3-char-counts"]);
    for stage in &status.stages {
        assert_eq!(stage.state, StageState::Completed, "{stage:?}");
        assert_eq!(stage.tests_failed, Some(0), "{stage:?}");
        assert!(stage.tests_passed.unwrap() >= 3, "the feature's test ran with the smoke tests: {stage:?}");
        assert!(stage.cost_usd > 0.0 && stage.output_tokens > 0, "{stage:?}");
        assert_eq!(stage.worktree, None, "worktree removed");
    }

    // The agent runs overlapped: every run started before any of them ended.
    let spans = model_spans(&stack);
    let last_start = spans.iter().map(|s| s.0).max().unwrap();
    let first_end = spans.iter().map(|s| s.1).min().unwrap();
    assert!(last_start < first_end, "agent runs did not overlap: {spans:?}");

    // Each branch holds its own feature and nothing else, on top of HEAD.
    for (i, (_, module, _)) in FEATURES.iter().enumerate() {
        let diff = git(root, &["diff", "--name-only", "main", branches[i]]);
        assert_eq!(diff, format!("tests/test_{module}.py\ntextstats/{module}.py\n"), "{}", branches[i]);
        assert_eq!(git(root, &["rev-list", "--count", &format!("main..{}", branches[i])]).trim(), "1");
    }
    assert_eq!(git(root, &["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1, "only the user's");
    assert_eq!((checkout_state(root), files(root)), before, "the user's checkout is untouched");
    assert_eq!(all_paths(root), paths_before, "nothing was left in the user's checkout, caches included");
    assert!(status.predicted_conflicts.is_empty(), "features in files of their own: {:?}", status.predicted_conflicts);

    let table = stack.cli(&["status", &id]);
    assert!(table.stdout.contains("feature-2-line-counts"), "{}", table.stdout);
    // Every feature is a stage of the parallel run on the event bus.
    let counts = stack.event_counts(&id);
    let expected = [
        ("workflow.started", 1),
        ("stage.started", 3),
        ("cost.updated", 3),
        ("stage.completed", 3),
        ("workflow.completed", 1),
    ];
    for (kind, n) in expected {
        assert_eq!(counts.get(kind).copied().unwrap_or(0), n, "{kind} in {counts:?}");
    }

    let history = stack.replay(&id).await;
    ct_e2e::save_fixture("parallel-three-features", &history);
    let child = stack.replay(&format!("{id}-feature-1")).await;
    ct_e2e::save_fixture("parallel-feature-child", &child);
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_leaves_the_worktrees_and_bad_input_is_refused() {
    let stack = Stack::start(StackOptions::new(scenario())).await;
    let project = git_project(&example("textstats"));
    let root = project.path().to_str().unwrap();

    let kept = stack.cli(&["parallel", root, "word counts", "--keep", "--wait"]);
    assert_eq!(kept.code, 0, "{}\n{}", kept.stderr, stack.logs());
    assert!(kept.stdout.contains("feature-1-word-counts") && kept.stdout.contains("passed"), "{}", kept.stdout);
    assert!(kept.stdout.contains("worktree kept: "), "{}", kept.stdout);
    let listed = git(project.path(), &["worktree", "list", "--porcelain"]);
    assert!(listed.contains("branch refs/heads/feature-1-word-counts"), "{listed}");

    for (features, expected) in [
        (vec!["word counts", "Word-Counts"], "would share the branch suffix `word-counts`"),
        (vec!["ok", "!!!"], "has no letters or digits"),
    ] {
        let mut args = vec!["parallel", root];
        args.extend(features);
        let refused = stack.cli(&args);
        assert_eq!(refused.code, 2, "{}", refused.stderr);
        assert!(refused.stderr.contains(expected), "{}", refused.stderr);
    }

    let plain = tempfile::tempdir().unwrap();
    let not_git = stack.cli(&["parallel", plain.path().to_str().unwrap(), "x"]);
    assert_eq!(not_git.code, 2);
    assert!(
        not_git.stderr.contains("not a git repository") && not_git.stderr.contains("git init"),
        "{}",
        not_git.stderr
    );
    let missing = stack.cli(&["iterate", "/nonexistent/project", "fix it"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("/nonexistent/project does not exist"), "{}", missing.stderr);

    // A branch of the same name that moved on is not taken over, and the worktrees made
    // before the clash are removed again.
    let clash = git_project(&example("textstats"));
    let c = clash.path();
    git(c, &["checkout", "-q", "-b", "feature-2-b"]);
    git(c, &["commit", "-q", "--allow-empty", "-m", "someone else's work"]);
    git(c, &["checkout", "-q", "main"]);
    let clashed = stack.cli(&["parallel", c.to_str().unwrap(), "a", "b", "--wait"]);
    assert_eq!(clashed.code, 1, "{}", clashed.stderr);
    assert!(clashed.stderr.contains("git branch -D feature-2-b"), "{}", clashed.stderr);
    let listed = git(c, &["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("worktree ").count(), 1, "{listed}");

    // A repository in the middle of a merge.
    let merging = git_project(&example("textstats"));
    let m = merging.path();
    git(m, &["checkout", "-q", "-b", "other"]);
    std::fs::write(m.join("README.md"), "other\n").unwrap();
    git(m, &["commit", "-q", "-am", "other"]);
    git(m, &["checkout", "-q", "main"]);
    std::fs::write(m.join("README.md"), "main\n").unwrap();
    git(m, &["commit", "-q", "-am", "main"]);
    let _ = std::process::Command::new("git").arg("-C").arg(m).args(["merge", "-q", "other"]).output();
    let mid_merge = stack.cli(&["parallel", m.to_str().unwrap(), "x"]);
    assert_eq!(mid_merge.code, 2);
    assert!(
        mid_merge.stderr.contains("middle of a merge") && mid_merge.stderr.contains("git merge --abort"),
        "{}",
        mid_merge.stderr
    );
}

/// An agent whose Bash plants git configuration and hooks, as a prompt-injected one would: in
/// its own namespaces the repository's git directory is read-only, so the user's repository
/// keeps its config and hooks, and nothing planted ever runs.
#[tokio::test(flavor = "multi_thread")]
async fn what_an_agent_plants_in_git_reaches_nothing_of_the_user_s_repository() {
    if !ct_confine::Sandbox::auto().has_namespaces() {
        ct_confine::skip::skip_test(&format!(
            "no namespaces for runs here: {}",
            ct_confine::Sandbox::auto().describe()
        ));
        return;
    }
    let witness = tempfile::tempdir().unwrap();
    let ran = witness.path().join("ran");
    let ran = ran.display();
    let plant = [
        format!("git config core.fsmonitor 'touch {ran}'"),
        format!("git config filter.x.clean 'touch {ran}'"),
        format!("git config diff.external 'touch {ran}'"),
        "git config core.worktree /".to_owned(),
        format!("printf '#!/bin/sh\\ntouch {ran}\\n' > \"$(git rev-parse --git-common-dir)/hooks/post-checkout\""),
        format!("printf '#!/bin/sh\\ntouch {ran}\\n' > \"$(git rev-parse --git-common-dir)/hooks/pre-commit\""),
        "echo '* filter=x' > .gitattributes".to_owned(),
    ]
    .join("; ");
    let scenario = json!({ "scripts": [{ "name": "hostile", "turns": [
        { "text": "Planting.", "tool_uses": [{ "name": "Bash", "input": { "description": "plant", "command": plant } }] },
        { "text": "Adding words.", "tool_uses": [
            { "name": "Write", "input": { "file_path": "{cwd}/textstats/words.py", "content": "def count(text):\n    return len(text.split())\n" } }
        ] },
        { "text": "Done." }
    ]}]});
    let stack = Stack::start(StackOptions::new(Scenario::from_json(&scenario.to_string()).unwrap())).await;
    let project = git_project(&example("textstats"));
    let root = project.path();
    let config_before = std::fs::read(root.join(".git/config")).unwrap();
    let hooks_before: Vec<_> =
        std::fs::read_dir(root.join(".git/hooks")).unwrap().flatten().map(|e| e.file_name()).collect();

    let done = stack.cli(&["parallel", root.to_str().unwrap(), "word counts", "--wait"]);

    assert_eq!(done.code, 0, "{}\n{}", done.stderr, stack.logs());
    assert_eq!(std::fs::read(root.join(".git/config")).unwrap(), config_before, "the agent changed .git/config");
    let hooks_after: Vec<_> =
        std::fs::read_dir(root.join(".git/hooks")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(hooks_after, hooks_before, "the agent planted a hook");
    let branch = git(root, &["show", "feature-1-word-counts:textstats/words.py"]);
    assert!(branch.contains("len(text.split())"), "the feature's work was committed: {branch}");
    git(root, &["status"]);
    git(root, &["diff", "HEAD~0"]);
    assert!(!witness.path().join("ran").exists(), "a planted command ran");
}

/// A feature whose first attempt leaves a half-done file and then fails (a 529 the CLI does not
/// retry): the retry starts over from the branch's HEAD in the same worktree, and the branch
/// holds the second attempt's work only.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_feature_starts_over_from_its_branch() {
    let probe = "test -e {cwd}/half-done.txt && echo LEFTOVER-PRESENT || echo LEFTOVER-ABSENT";
    let scenario = json!({ "scripts": [{ "name": "words", "match": "Feature: word counts\n", "turns": [
        { "text": "Checking.", "tool_uses": [{ "name": "Bash", "input": { "command": probe, "description": "look for leftovers" } }],
          "usage": { "input_tokens": 10, "output_tokens": 5 } },
        { "text": "Writing.", "tool_uses": [
            { "name": "Write", "input": { "file_path": "{cwd}/half-done.txt", "content": "an attempt's leftovers\n" } },
            { "name": "Write", "input": { "file_path": "{cwd}/textstats/words.py", "content": "def count(text):\n    return len(text.split())\n" } }
          ],
          "usage": { "input_tokens": 10, "output_tokens": 5 } },
        { "text": "Done.", "fail_first": { "status": 529, "times": 1 }, "usage": { "input_tokens": 10, "output_tokens": 5 } }
    ]}]});
    let stack = Stack::start(StackOptions::new(Scenario::from_json(&scenario.to_string()).unwrap())).await;
    let project = git_project(&example("textstats"));
    let root = project.path();

    let started = stack.cli(&["parallel", root.to_str().unwrap(), "word counts", "--json"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.json()["workflow_id"].as_str().unwrap().to_owned();
    let done = stack.cli(&["result", &id, "--json"]);

    assert_eq!(done.code, 0, "{}\n{}", done.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(done.json()).unwrap();
    assert_eq!(status.stages[0].attempts, 2, "{status:?}");
    let probes: Vec<String> =
        stack.model.requests().into_iter().filter(|r| r.turn == 1).map(|r| r.last_user_text).collect();
    assert_eq!(probes.len(), 2, "{probes:?}");
    assert!(probes.iter().all(|p| p.contains("LEFTOVER-ABSENT") && !p.contains("LEFTOVER-PRESENT")), "{probes:?}");
    let branch = git(root, &["show", "feature-1-word-counts:textstats/words.py"]);
    assert!(branch.contains("len(text.split())"), "{branch}");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_concurrent_one_runs_the_features_in_turn() {
    let stack = Stack::start(StackOptions::new(scenario())).await;
    let project = git_project(&example("textstats"));
    let root = project.path();
    let mut args = vec!["parallel", root.to_str().unwrap()];
    args.extend(FEATURES.iter().map(|(feature, _, _)| *feature));
    args.extend(["--max-concurrent", "1", "--json"]);
    let started = stack.cli(&args);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.json()["workflow_id"].as_str().unwrap().to_owned();
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    assert!(status.stages.iter().all(|stage| stage.state == StageState::Completed), "{status:?}");

    // Each feature's agent talked to the model only after the one before it had finished,
    // in the order given.
    let spans = model_spans(&stack);
    for pair in spans.windows(2) {
        assert!(pair[0].1 < pair[1].0, "features overlapped or ran out of order: {spans:?}");
    }
    let refused = stack.cli(&["parallel", root.to_str().unwrap(), "one", "--max-concurrent", "0"]);
    assert_eq!(refused.code, 2, "--max-concurrent 0 is refused: {}", refused.stderr);
}

/// When each feature's agent first and last talked to the model, in the features' order.
/// Two features that write the same file differently: once they are done, the conflict their
/// merge would have is predicted (pair and file), in the status, `status` and the events, with
/// nothing merged and the user's checkout untouched.
#[tokio::test(flavor = "multi_thread")]
async fn the_conflict_two_features_would_have_is_predicted() {
    let feature = |name: &str, greeting: &str| {
        json!({ "name": name, "match": format!("Feature: {name}\n"), "turns": [
            { "text": "Greeting.", "tool_uses": [{ "name": "Write", "input": {
                "file_path": "{cwd}/textstats/greeting.py", "content": format!("GREETING = '{greeting}'\n") } }],
              "usage": { "input_tokens": 20, "output_tokens": 5 } },
            { "text": "Done.", "usage": { "input_tokens": 20, "output_tokens": 5 } }
        ]})
    };
    let separate = json!({ "name": "separate", "match": "Feature: separate\n", "turns": [
        { "text": "Module.", "tool_uses": [{ "name": "Write", "input": {
            "file_path": "{cwd}/textstats/separate.py", "content": "SEPARATE = 1\n" } }],
          "usage": { "input_tokens": 20, "output_tokens": 5 } },
        { "text": "Done.", "usage": { "input_tokens": 20, "output_tokens": 5 } }
    ]});
    let scripts = json!({ "scripts": [feature("polite", "good day"), feature("loud", "HELLO"), separate] });
    let stack = Stack::start(StackOptions::new(Scenario::from_json(&scripts.to_string()).unwrap())).await;
    let project = git_project(&example("textstats"));
    let root = project.path();
    let before = (checkout_state(root), all_paths(root));

    let started = stack.cli(&["parallel", root.to_str().unwrap(), "polite", "loud", "separate", "--json"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.json()["workflow_id"].as_str().unwrap().to_owned();
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();

    let predicted: Vec<(&str, &str, Vec<String>)> =
        status.predicted_conflicts.iter().map(|c| (c.first.as_str(), c.second.as_str(), c.files.clone())).collect();
    assert_eq!(predicted, [("feature-1-polite", "feature-2-loud", vec!["textstats/greeting.py".to_owned()])]);
    let shown = stack.cli(&["status", &id]);
    assert!(
        shown.stdout.contains("conflict  feature-1-polite × feature-2-loud would conflict in textstats/greeting.py"),
        "{}",
        shown.stdout
    );
    assert_eq!(stack.event_counts(&id).get("conflict.predicted").copied(), Some(1));
    assert_eq!((checkout_state(root), all_paths(root)), before, "nothing merged into the user's checkout");
}

fn model_spans(stack: &Stack) -> Vec<(Instant, Instant)> {
    let requests = stack.model.requests();
    let span = |module: &str| -> (Instant, Instant) {
        let times: Vec<Instant> =
            requests.iter().filter(|r| r.script.as_deref() == Some(module)).map(|r| r.received_at).collect();
        (*times.iter().min().unwrap(), *times.iter().max().unwrap())
    };
    FEATURES.iter().map(|(_, module, _)| span(module)).collect()
}
