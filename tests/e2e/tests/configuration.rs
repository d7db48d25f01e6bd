//! Configuration and stage files through the real `claude-temporal` binary: where each value
//! comes from, what is hidden, and how bad input is refused — before any server is contacted.

use std::path::Path;
use std::process::Command;

use ct_e2e::{CliOutput, bin, example, git_project};

/// Runs the CLI in `dir` with only the environment given (plus what it needs to run git).
fn cli(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> CliOutput {
    let output = Command::new(bin("claude-temporal"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        // Nothing may try to reach Temporal: a closed port would fail with exit 4.
        .env("TEMPORAL_ADDRESS", "127.0.0.1:1")
        .envs(env.iter().copied())
        .output()
        .expect("claude-temporal runs");
    CliOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The value and source `config show --json` reports for `key`.
fn shown(out: &CliOutput, key: &str) -> (String, String) {
    assert_eq!(out.code, 0, "config show: {}", out.stderr);
    let json = out.json();
    let entry = json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        .clone();
    (entry["value"].as_str().unwrap().to_owned(), entry["source"].as_str().unwrap().to_owned())
}

#[test]
fn config_show_takes_each_value_from_the_highest_layer_that_sets_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("claude-temporal.toml");
    std::fs::write(&file, "[claude]\nmax_tokens = 1000\n").unwrap();
    let dotenv = d.join(".env");
    std::fs::write(&dotenv, "# local overrides\nCLAUDE_MAX_TOKENS=2000\n").unwrap();
    let env = [("CLAUDE_MAX_TOKENS", "3000")];
    let show = ["config", "show", "--json"];

    let flag = cli(d, &env, &["config", "show", "--json", "--max-output-tokens", "4000"]);
    assert_eq!(shown(&flag, "claude.max_tokens"), ("4000".into(), "flag --max-output-tokens".into()));
    assert_eq!(shown(&cli(d, &env, &show), "claude.max_tokens"), ("3000".into(), "env CLAUDE_MAX_TOKENS".into()));
    assert_eq!(
        shown(&cli(d, &[], &show), "claude.max_tokens"),
        ("2000".into(), format!(".env {}:2", dotenv.display()))
    );
    std::fs::remove_file(&dotenv).unwrap();
    assert_eq!(shown(&cli(d, &[], &show), "claude.max_tokens"), ("1000".into(), format!("file {}:2", file.display())));
    std::fs::remove_file(&file).unwrap();
    assert_eq!(shown(&cli(d, &[], &show), "claude.max_tokens"), ("16000".into(), "preset development".into()));
    let production = cli(d, &[("CLAUDE_TEMPORAL_ENV", "production")], &show);
    assert_eq!(shown(&production, "workflow.approval_timeout_secs"), ("86400".into(), "preset production".into()));
    assert_eq!(shown(&production, "temporal.namespace"), ("default".into(), "default".into()));

    // An explicit --config file, and the global Temporal flags, take part too.
    let explicit = d.join("team.toml");
    std::fs::write(&explicit, "environment = \"staging\"\n[temporal]\nnamespace = \"team\"\n").unwrap();
    let out = cli(d, &[], &["config", "show", "--json", "--config", explicit.to_str().unwrap(), "--task-queue", "q2"]);
    assert_eq!(shown(&out, "environment"), ("staging".into(), format!("file {}:1", explicit.display())));
    assert_eq!(shown(&out, "temporal.namespace").0, "team");
    assert_eq!(shown(&out, "temporal.task_queue"), ("q2".into(), "flag --task-queue".into()));
    assert_eq!(shown(&out, "claude.max_turns"), ("40".into(), "preset staging".into()));
}

#[test]
fn config_show_hides_secrets_and_reports_what_the_claude_cli_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T000/B000/zq9xPATH"),
        ("NOTIFICATION_WEBHOOK_URL", "https://ci.example.com/hooks/zq9xHOOK?token=zq9xTOKEN"),
        ("NOTIFICATION_WEBHOOK_SECRET", "whsec_zq9xVALUE"),
        ("NOTIFICATION_TYPE", "console,slack,webhook"),
        ("CLAUDE_TEMPERATURE", "0.3"),
    ];
    for args in [&["config", "show"][..], &["config", "show", "--json"][..]] {
        let out = cli(dir.path(), &env, args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(!(out.stdout.clone() + &out.stderr).contains("zq9x"), "{}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("warning: claude.temperature = 0.3 (from env CLAUDE_TEMPERATURE) is not supported"),
            "{}",
            out.stderr
        );
    }
    let out = cli(dir.path(), &env, &["config", "show", "--json"]);
    assert_eq!(shown(&out, "notification.slack_webhook_url").0, "https://hooks.slack.com/***");
    assert_eq!(shown(&out, "notification.webhook_url").0, "https://ci.example.com/***");
    assert_eq!(shown(&out, "notification.webhook_secret").0, "***");
    assert_eq!(shown(&out, "claude.temperature").0, "0.3", "reported, not dropped");
}

#[test]
fn invalid_values_are_refused_with_key_source_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &[("CLAUDE_TIMEOUT", "soon"), ("NOTIFICATION_WEBHOOK_URL", "hooks.example.com/zq9x")],
        &["config", "show"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("invalid claude.timeout_secs = `soon` (from env CLAUDE_TIMEOUT): expected a whole number"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("invalid notification.webhook_url"), "{}", out.stderr);
    assert!(!out.stderr.contains("zq9x"), "{}", out.stderr);

    std::fs::write(dir.path().join("claude-temporal.toml"), "[claude]\ntimeout = 60\n").unwrap();
    let out = cli(dir.path(), &[], &["start", "."]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("claude-temporal.toml:2: unknown key `claude.timeout`"), "{}", out.stderr);
}

/// `start` with a stage file, refused before Temporal is contacted.
fn start_with_stages(stages: &str) -> CliOutput {
    let project = git_project(&example("textstats"));
    let file = project
        .path()
        .join("..")
        .join(format!("{}-stages.toml", project.path().file_name().unwrap().to_string_lossy()));
    std::fs::write(&file, stages).unwrap();
    let out = cli(project.path(), &[], &["start", ".", "--stages", file.to_str().unwrap(), "--features", "x"]);
    std::fs::remove_file(&file).unwrap();
    out
}

#[test]
fn bad_stage_files_fail_at_start_with_the_line_and_the_reason() {
    let out = start_with_stages(
        "[[stages]]\nname = \"scaffold\"\nprompt = \"\"\"\nStage: scaffold\nBuild {features}\nfor {featrues}\"\"\"\n",
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("-stages.toml:6: stage `scaffold`: unknown placeholder `{featrues}`; known: {project_path}"),
        "{}",
        out.stderr
    );

    let out =
        start_with_stages("[[stages]]\nname = \"a\"\nprompt = \"x\"\n\n[[stages]]\nname = \"a\"\nprompt = \"y\"\n");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("-stages.toml:6: stage `a` is defined twice; stage names must be unique"),
        "{}",
        out.stderr
    );

    let out = start_with_stages("name = \"nothing\"\nstages = []\n");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("-stages.toml:2: `stages` is empty; define at least one [[stages]] table"),
        "{}",
        out.stderr
    );
}

#[test]
fn stages_list_and_show_print_the_project_s_stages() {
    let project = git_project(&example("textstats"));
    std::fs::write(
        project.path().join(".claude-temporal.toml"),
        "template = \"api\"\nskip = [\"documentation\"]\n[prompts]\nendpoints = \"Stage: endpoints\\nBuild {features} with FastAPI. {rules}\"\n",
    )
    .unwrap();
    let out = cli(project.path(), &[], &["stages", "list", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json = out.json();
    assert_eq!(json["template"], "api");
    let names: Vec<&str> = json["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["design", "endpoints", "validation", "testing"]);
    assert_eq!(json["stages"][0]["requires_approval"], true);

    let out = cli(project.path(), &[], &["stages", "show", "endpoints", "--max-turns", "12"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Build {features} with FastAPI."), "{}", out.stdout);
    assert!(out.stdout.contains("max_turns          12  (flag --max-turns)"), "{}", out.stdout);
    assert!(out.stdout.contains("critical path      yes"), "{}", out.stdout);

    let out = cli(project.path(), &[], &["stages", "show", "deploy"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no stage `deploy`"), "{}", out.stderr);
}
