//! `stages list` and `stages show`: the stages a `start` would run, with their settings.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use ct_config::stages::{self, SelectedTemplate, StageSelection};
use ct_config::{Config, key};
use ct_domain::templates::{self, StageTemplate};

use crate::cli::{StagesArgs, StagesCommand, StagesListArgs};
use crate::error::CliError;
use crate::output::print_stdout;

pub(super) fn run(config: &Config, args: StagesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        StagesCommand::List(list) => {
            let selected = select(config, &list)?;
            if list.json {
                print_stdout(&format!("{}\n", serde_json::to_string_pretty(&template_json(&selected))?));
            } else {
                print_stdout(&list_table(&selected));
            }
        }
        StagesCommand::Show(show) => {
            let selected = select(config, &show.list)?;
            let Some(stage) = selected.template.stage(&show.name) else {
                let names: Vec<&str> = selected.template.stages.iter().map(|s| s.name.as_str()).collect();
                return Err(CliError::BadInput(format!(
                    "no stage `{}` in {}; its stages: {}",
                    show.name,
                    selected.origin,
                    names.join(", ")
                ))
                .into());
            };
            if show.list.json {
                let mut value = stage_json(stage);
                value["effective"] = effective_json(config, stage);
                value["template"] = selected.template.name.clone().into();
                value["origin"] = selected.origin.clone().into();
                print_stdout(&format!("{}\n", serde_json::to_string_pretty(&value)?));
            } else {
                print_stdout(&stage_detail(config, &selected, stage));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn select(config: &Config, args: &StagesListArgs) -> Result<SelectedTemplate, CliError> {
    let project: Option<PathBuf> =
        args.project.clone().or_else(|| config.settings.project_path.clone()).or_else(|| std::env::current_dir().ok());
    stages::select(StageSelection {
        template: args.stages.template.as_deref(),
        stages_file: args.stages.stages.as_deref(),
        project: project.as_deref(),
    })
    .map_err(|err| CliError::BadInput(err.to_string()))
}

fn stage_json(stage: &StageTemplate) -> serde_json::Value {
    let mut value = serde_json::to_value(stage).unwrap_or_default();
    value["command"] = stage.command().map(|c| c.to_string()).into();
    value
}

fn template_json(selected: &SelectedTemplate) -> serde_json::Value {
    serde_json::json!({
        "template": selected.template.name,
        "description": selected.template.description,
        "origin": selected.origin,
        "file": selected.file,
        "built_in": templates::BUILT_IN_NAMES,
        "stages": selected.template.stages.iter().map(stage_json).collect::<Vec<_>>(),
    })
}

fn yes(flag: bool) -> &'static str {
    if flag { "yes" } else { "-" }
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn list_table(selected: &SelectedTemplate) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "template  {} ({})", selected.template.name, selected.origin);
    if !selected.template.description.is_empty() {
        let _ = writeln!(out, "          {}", selected.template.description);
    }
    let _ = writeln!(out, "built-in  {}\n", templates::BUILT_IN_NAMES.join(", "));
    let width = selected.template.stages.iter().map(|s| s.name.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(
        out,
        "{:>2}  {:width$}  {:8}  {:8}  {:5}  {:18}  {:>5}  {:>7}  {:>10}  COMMAND",
        "#", "STAGE", "APPROVAL", "CRITICAL", "TESTS", "MODEL", "TURNS", "TIMEOUT", "MAX TOKENS"
    );
    for (index, stage) in selected.template.stages.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>2}  {:width$}  {:8}  {:8}  {:5}  {:18}  {:>5}  {:>7}  {:>10}  {}",
            index + 1,
            stage.name,
            yes(stage.requires_approval),
            yes(stage.critical_path),
            if stage.skip_tests { "skip" } else { "run" },
            or_dash(stage.model.as_ref()),
            or_dash(stage.max_turns),
            or_dash(stage.timeout_secs.map(|t| format!("{t}s"))),
            or_dash(stage.max_output_tokens),
            or_dash(stage.command()),
        );
    }
    let _ =
        writeln!(out, "\n`-` in MODEL, TURNS, TIMEOUT, MAX TOKENS: the run's setting (`claude-temporal config show`).");
    out
}

/// A stage's own value if it sets one, else the configuration's, with where that came from.
fn effective(config: &Config, own: Option<String>, key: &str) -> (String, String) {
    match own {
        Some(value) => (value, "the stage".to_owned()),
        None => {
            let entry = config.entries.iter().find(|e| e.key == key);
            entry.map_or_else(Default::default, |e| (e.value.clone(), e.source.to_string()))
        }
    }
}

fn effective_rows(config: &Config, stage: &StageTemplate) -> [(&'static str, (String, String)); 4] {
    [
        ("model", effective(config, stage.model.clone(), key::CLAUDE_MODEL)),
        ("max_turns", effective(config, stage.max_turns.map(|v| v.to_string()), key::CLAUDE_MAX_TURNS)),
        ("timeout_secs", effective(config, stage.timeout_secs.map(|v| v.to_string()), key::CLAUDE_TIMEOUT_SECS)),
        (
            "max_output_tokens",
            effective(config, stage.max_output_tokens.map(|v| v.to_string()), key::CLAUDE_MAX_TOKENS),
        ),
    ]
}

fn effective_json(config: &Config, stage: &StageTemplate) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = effective_rows(config, stage)
        .into_iter()
        .map(|(name, (value, source))| (name.to_owned(), serde_json::json!({ "value": value, "source": source })))
        .collect();
    map.into()
}

fn stage_detail(config: &Config, selected: &SelectedTemplate, stage: &StageTemplate) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "stage              {}", stage.name);
    let _ = writeln!(out, "template           {} ({})", selected.template.name, selected.origin);
    let _ = writeln!(out, "requires approval  {}", yes(stage.requires_approval));
    let _ = writeln!(
        out,
        "critical path      {}",
        if stage.critical_path { "yes: snapshotted before it runs, rolled back if it fails" } else { "-" }
    );
    let _ = writeln!(out, "tests              {}", if stage.skip_tests { "skipped" } else { "run after the agent" });
    if let Some(command) = stage.command() {
        let _ = writeln!(out, "command            {command} (from the command library)");
    }
    for (name, (value, source)) in effective_rows(config, stage) {
        let value = if value.is_empty() || value == "0" { "default of the executor/CLI".to_owned() } else { value };
        let _ = writeln!(out, "{name:<18} {value}  ({source})");
    }
    let _ = writeln!(out, "\nprompt (placeholders are filled in at start):");
    for line in stage.prompt.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}
