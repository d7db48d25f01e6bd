//! `claude-temporal hook prompt-submit`: the UserPromptSubmit hook the executor registers for
//! every agent run. The Claude Code CLI passes the hook a JSON object on stdin (prompt, cwd,
//! session id, ...) and adds whatever it prints to the model's context.
//!
//! It tells the agent what claude-temporal knows about the run — the project's language and
//! test framework, the stage, the slash command — and adds the project's own notes from
//! `.claude-temporal/context.md`. It reads local files only and never fails the prompt: on
//! any problem it prints nothing and exits 0.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ct_domain::SlashCommand;
use serde::Deserialize;

use crate::cli::{HookArgs, HookCommand};

/// The project's notes file, relative to the project.
pub(crate) const CONTEXT_FILE: &str = ".claude-temporal/context.md";
/// Notes beyond this are cut: they are added to every prompt of every stage.
const CONTEXT_LIMIT: usize = 16 * 1024;
/// Larger input is not a hook payload.
const INPUT_LIMIT: u64 = 4 * 1024 * 1024;

#[derive(Debug, Deserialize)]
struct PromptSubmit {
    #[serde(default)]
    prompt: String,
    cwd: PathBuf,
}

pub(crate) fn run(args: HookArgs) -> ExitCode {
    match args.command {
        HookCommand::PromptSubmit => {
            let mut input = String::new();
            let read = std::io::stdin().take(INPUT_LIMIT).read_to_string(&mut input);
            if read.is_ok()
                && let Some(context) = prompt_context(&input)
            {
                print!("{context}");
            }
        }
    }
    ExitCode::SUCCESS
}

/// The context for one prompt, or `None` when the input is not a prompt-submit payload.
fn prompt_context(input: &str) -> Option<String> {
    let payload: PromptSubmit = serde_json::from_str(input).ok()?;
    let project = payload.cwd.as_path();
    if !project.is_dir() {
        return None;
    }
    let mut out = String::from("[claude-temporal] Context for this run (local, read-only):\n");
    let _ = write!(out, "- Project: {}", project.display());
    if let Some(branch) = git_branch(project) {
        let _ = write!(out, " (git branch `{branch}`)");
    }
    out.push('\n');
    for stack in detect_stacks(project) {
        let _ = writeln!(out, "- {stack}");
    }
    if let Some(command) = SlashCommand::parse(&payload.prompt) {
        let _ = writeln!(out, "- Running slash command {command} of the claude-temporal command library");
    } else if let Some(stage) = payload.prompt.lines().next().and_then(|line| line.strip_prefix("Stage: ")) {
        let _ = writeln!(out, "- Workflow stage: {}", stage.trim());
    }
    out.push_str(
        "- The workflow runs the project's tests after this stage and snapshots your changes: \
         do not commit.\n",
    );
    if let Some(notes) = project_notes(project) {
        let _ = write!(out, "\nProject notes ({CONTEXT_FILE}):\n{notes}");
        if !notes.ends_with('\n') {
            out.push('\n');
        }
    }
    Some(out)
}

fn project_notes(project: &Path) -> Option<String> {
    let path = project.join(CONTEXT_FILE);
    let mut bytes = Vec::new();
    std::fs::File::open(&path).ok()?.take(CONTEXT_LIMIT as u64 + 1).read_to_end(&mut bytes).ok()?;
    let truncated = bytes.len() > CONTEXT_LIMIT;
    bytes.truncate(CONTEXT_LIMIT);
    let mut notes = String::from_utf8_lossy(&bytes).into_owned();
    if truncated {
        // A cut in the middle of a character shows as U+FFFD; drop it.
        notes = notes.trim_end_matches('\u{FFFD}').to_owned();
        let _ = write!(notes, "\n[... cut at {CONTEXT_LIMIT} bytes]");
    }
    Some(notes).filter(|n| !n.trim().is_empty())
}

/// The checked-out branch, read from the repository's HEAD file (also in worktrees).
fn git_branch(project: &Path) -> Option<String> {
    let dot_git = project.join(".git");
    let git_dir = if dot_git.is_file() {
        let pointer = std::fs::read_to_string(&dot_git).ok()?;
        let dir = PathBuf::from(pointer.strip_prefix("gitdir:")?.trim());
        if dir.is_absolute() { dir } else { project.join(dir) }
    } else {
        dot_git
    };
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    head.trim().strip_prefix("ref: refs/heads/").map(str::to_owned)
}

/// What the project is written in and how it is tested, from its manifests.
fn detect_stacks(project: &Path) -> Vec<String> {
    let has = |name: &str| project.join(name).exists();
    let mut stacks = Vec::new();
    if has("Cargo.toml") {
        stacks.push("Rust (Cargo.toml); tests: `cargo test`".to_owned());
    }
    if has("go.mod") {
        stacks.push("Go (go.mod); tests: `go test ./...`".to_owned());
    }
    if has("package.json") {
        stacks.push(node_stack(project));
    }
    if ["pyproject.toml", "setup.py", "setup.cfg", "requirements.txt"].iter().any(|f| has(f)) {
        let pyproject = std::fs::read_to_string(project.join("pyproject.toml")).unwrap_or_default();
        let pytest = has("pytest.ini") || has("conftest.py") || pyproject.contains("pytest");
        stacks.push(if pytest {
            "Python; tests: pytest (`python -m pytest`)".to_owned()
        } else {
            "Python; tests: unittest (`python -m unittest`)".to_owned()
        });
    }
    if has("pom.xml") {
        stacks.push("Java (Maven); tests: `mvn test`".to_owned());
    }
    if has("build.gradle") || has("build.gradle.kts") {
        stacks.push("JVM (Gradle); tests: `gradle test`".to_owned());
    }
    if has("Gemfile") {
        let runner = if has("spec") { "RSpec (`bundle exec rspec`)" } else { "`bundle exec rake test`" };
        stacks.push(format!("Ruby (Gemfile); tests: {runner}"));
    }
    if stacks.is_empty() {
        stacks.push("Language: not recognised from the project's manifests".to_owned());
    }
    stacks
}

fn node_stack(project: &Path) -> String {
    let manifest: serde_json::Value = std::fs::read_to_string(project.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let depends_on =
        |name: &str| ["dependencies", "devDependencies"].iter().any(|section| manifest[section].get(name).is_some());
    let language =
        if project.join("tsconfig.json").exists() || depends_on("typescript") { "TypeScript" } else { "JavaScript" };
    let framework = ["vitest", "jest", "mocha", "@playwright/test"].into_iter().find(|name| depends_on(name));
    let test_script = manifest["scripts"]["test"].as_str();
    match (framework, test_script) {
        (Some(framework), _) => {
            format!("{language} (package.json); tests: {framework} (`npm test`)")
        }
        (None, Some(script)) => format!("{language} (package.json); tests: `npm test` ({script})"),
        (None, None) => format!("{language} (package.json); no test script in package.json"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(project: &Path, prompt: &str) -> String {
        serde_json::json!({
            "session_id": "s",
            "hook_event_name": "UserPromptSubmit",
            "cwd": project,
            "prompt": prompt,
        })
        .to_string()
    }

    #[test]
    fn context_names_stack_stage_branch_and_the_project_notes() {
        let project = tempfile::tempdir().unwrap();
        let dir = project.path();
        std::fs::write(dir.join("pyproject.toml"), "[tool.pytest.ini_options]\n").unwrap();
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::create_dir_all(dir.join(".claude-temporal")).unwrap();
        std::fs::write(dir.join(CONTEXT_FILE), "Amounts are integer cents.\n").unwrap();

        let context = prompt_context(&payload(dir, "Stage: scaffold\nSet up")).unwrap();
        assert!(context.contains("(git branch `main`)"), "{context}");
        assert!(context.contains("Python; tests: pytest"), "{context}");
        assert!(context.contains("Workflow stage: scaffold"), "{context}");
        assert!(context.ends_with("Project notes (.claude-temporal/context.md):\nAmounts are integer cents.\n"));

        let context = prompt_context(&payload(dir, "/testing:generate-tests src/")).unwrap();
        assert!(context.contains("slash command /testing:generate-tests"), "{context}");
    }

    #[test]
    fn node_projects_report_their_language_and_test_framework() {
        let project = tempfile::tempdir().unwrap();
        std::fs::write(
            project.path().join("package.json"),
            r#"{"scripts":{"test":"vitest run"},"devDependencies":{"vitest":"^2","typescript":"^5"}}"#,
        )
        .unwrap();
        assert_eq!(detect_stacks(project.path()), ["TypeScript (package.json); tests: vitest (`npm test`)"]);
    }

    #[test]
    fn long_notes_are_cut_and_bad_input_yields_nothing() {
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(project.path().join(".claude-temporal")).unwrap();
        std::fs::write(project.path().join(CONTEXT_FILE), "é".repeat(CONTEXT_LIMIT)).unwrap();
        let notes = project_notes(project.path()).unwrap();
        assert!(notes.ends_with("[... cut at 16384 bytes]"));
        assert!(notes.len() <= CONTEXT_LIMIT + 40);

        assert_eq!(prompt_context("not json"), None);
        assert_eq!(prompt_context(r#"{"prompt":"x","cwd":"/nonexistent/dir"}"#), None);
    }
}
