//! The command library and the prompt-submit hook, through the whole stack with the real
//! Claude Code CLI: a stage that names a slash command sends the expanded command to the
//! model, the hook's project context reaches the model, and the user's repository gains no
//! `.claude/` files.

use std::path::Path;

use ct_domain::{RunState, StageState, WorkflowStatus};
use ct_e2e::{Stack, StackOptions, example, git, git_project};
use ct_scripted_model::{RecordedRequest, Scenario};

/// A sentence of `.claude/commands/testing/generate-tests.md`: only the expanded command
/// contains it.
const GENERATE_TESTS_SENTENCE: &str = "Every new test must fail when the behaviour it names is broken.";
/// Written to the project's `.claude-temporal/context.md`; only the hook can bring it to the model.
const CONTEXT_MARKER: &str = "Domain rule 7: word counts treat hyphenated words as one word.";

const GENERATED_TEST: &str =
    "from textstats import __version__\n\n\ndef test_version_is_a_string():\n    assert isinstance(__version__, str)\n";

fn scenario() -> Scenario {
    Scenario::from_json(
        &serde_json::json!({
            "scripts": [
                {
                    "name": "generate-tests",
                    "match": GENERATE_TESTS_SENTENCE,
                    "turns": [
                        {
                            "text": "Adding a test for the version.",
                            "tool_uses": [{ "name": "Write", "input": {
                                "file_path": "{cwd}/tests/test_generated.py",
                                "content": GENERATED_TEST
                            }}],
                            "usage": { "input_tokens": 900, "output_tokens": 60 }
                        },
                        { "text": "Added tests/test_generated.py.", "usage": { "input_tokens": 950, "output_tokens": 10 } }
                    ]
                },
                {
                    "name": "review",
                    "match": "Stage: review",
                    "turns": [{ "text": "The new test is fine.", "usage": { "input_tokens": 800, "output_tokens": 8 } }]
                }
            ]
        })
        .to_string(),
    )
    .expect("scenario")
}

/// The textstats example with project notes for the hook, committed like a user would.
fn project_with_notes() -> tempfile::TempDir {
    let project = git_project(&example("textstats"));
    let notes = project.path().join(".claude-temporal");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("context.md"), format!("# Notes\n{CONTEXT_MARKER}\n")).unwrap();
    git(project.path(), &["add", "-A"]);
    git(project.path(), &["commit", "-q", "-m", "project notes"]);
    project
}

/// Where the CLI puts hook output depends on the model: a `role: "system"` entry for its
/// default model, a reminder in the first user message for others.
fn seen_by_model(request: &RecordedRequest) -> String {
    format!("{}\n{}", request.context, request.first_user_text)
}

fn write_stages(stack: &Stack, text: &str) -> String {
    let path = stack.dir.path().join("stages.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn run_to_end(stack: &Stack, project: &Path, stages_file: &str) -> (i32, WorkflowStatus) {
    let start = stack.cli(&[
        "start",
        project.to_str().unwrap(),
        "--stages",
        stages_file,
        "--features",
        "word counts",
        "--json",
    ]);
    assert_eq!(start.code, 0, "start: {}", start.stderr);
    let id = start.json()["workflow_id"].as_str().unwrap().to_owned();
    let result = stack.cli(&["result", &id, "--json"]);
    let status: WorkflowStatus = serde_json::from_value(result.json()).unwrap();
    (result.code, status)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_stage_sends_the_expanded_command_and_the_hook_adds_the_project_context() {
    let stack = Stack::start(StackOptions::new(scenario())).await;
    let project = project_with_notes();
    let stages = write_stages(
        &stack,
        r#"
name = "tests-first"

[[stages]]
name = "generate-tests"
command = "/testing:generate-tests textstats/__init__.py for {features}"
model = "claude-haiku-4-5"
max_turns = 4

[[stages]]
name = "review"
prompt = "Stage: review\nCheck the new tests of {features}. {rules}"
skip_tests = true
"#,
    );

    let (code, status) = run_to_end(&stack, project.path(), &stages);
    assert_eq!(code, 0, "{status:?}\n{}", stack.logs());
    assert_eq!(status.state, RunState::Completed);
    assert_eq!(status.template, "tests-first");
    assert!(status.stages.iter().all(|s| s.state == StageState::Completed), "{status:?}");
    assert_eq!(status.stages[0].tests_failed, Some(0), "the generated test ran and passed");
    assert!(status.stages[0].tests_passed.unwrap_or(0) >= 3, "{:?}", status.stages[0]);

    let requests = stack.model.requests();
    let generate = requests
        .iter()
        .find(|r| r.script.as_deref() == Some("generate-tests") && r.turn == 0)
        .expect("the command stage reached the model");
    assert!(
        generate.first_user_text.contains(GENERATE_TESTS_SENTENCE),
        "the CLI expanded the command file: {}",
        generate.first_user_text
    );
    assert!(
        generate.first_user_text.contains("Target: textstats/__init__.py for word counts"),
        "$ARGUMENTS became the rendered arguments: {}",
        generate.first_user_text
    );
    assert_eq!(generate.model, "claude-haiku-4-5", "the stage's own model was used");
    let seen = seen_by_model(generate);
    assert!(seen.contains(CONTEXT_MARKER), "hook context: {seen}");
    assert!(seen.contains("Running slash command /testing:generate-tests"), "{seen}");
    assert!(seen.contains("Python; tests: pytest"), "{seen}");

    let review =
        requests.iter().find(|r| r.script.as_deref() == Some("review")).expect("the review stage reached the model");
    let seen = seen_by_model(review);
    assert!(seen.contains(CONTEXT_MARKER), "{seen}");
    assert!(seen.contains("Workflow stage: review"), "{seen}");
    assert_ne!(review.model, "claude-haiku-4-5", "the other stage kept the workflow's model");

    // The library and the hook lived in the runs' private HOMEs: the repository only has
    // what the agent wrote.
    let changes = git(project.path(), &["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(changes.lines().collect::<Vec<_>>(), ["?? tests/test_generated.py"], "{changes}");
    assert!(!project.path().join(".claude").exists());
    stack.replay(&status.workflow_id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_naming_an_unknown_command_fails_before_the_agent_runs() {
    let stack = Stack::start(StackOptions::new(scenario())).await;
    let project = project_with_notes();
    let stages =
        write_stages(&stack, "[[stages]]\nname = \"tests\"\ncommand = \"/testing:generate-everything {features}\"\n");

    let (code, status) = run_to_end(&stack, project.path(), &stages);
    assert_eq!(code, 1, "{status:?}");
    assert_eq!(status.state, RunState::Failed);
    let error = status.error.unwrap_or_default();
    assert!(error.contains("`/testing:generate-everything`"), "{error}");
    assert!(error.contains("testing/generate-everything.md"), "{error}");
    assert!(error.contains("available: /custom:domain-activator"), "{error}");
    assert!(stack.model.requests().is_empty(), "the agent never ran");
}
