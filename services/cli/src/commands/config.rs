//! `config show`: every effective setting and the layer it came from.

use std::fmt::Write as _;
use std::process::ExitCode;

use ct_config::Config;

use crate::cli::{ConfigArgs, ConfigCommand};
use crate::output::print_stdout;

pub(super) fn run(config: &Config, args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Show(show) = args.command;
    if show.json {
        print_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json(config))?
        ));
    } else {
        print_stdout(&table(config));
    }
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}

fn json(config: &Config) -> serde_json::Value {
    let settings: Vec<serde_json::Value> = config
        .entries
        .iter()
        .map(|entry| {
            serde_json::json!({
                "key": entry.key,
                "env": entry.env,
                "value": entry.value,
                "layer": entry.source.kind(),
                "source": entry.source.to_string(),
                "help": entry.help,
            })
        })
        .collect();
    serde_json::json!({
        "environment": config.settings.environment.name(),
        "config_file": config.config_file,
        "dotenv_file": config.dotenv_file,
        "settings": settings,
        "warnings": config.warnings,
    })
}

fn table(config: &Config) -> String {
    let mut out = String::new();
    let file = match &config.config_file {
        Some(path) => path.display().to_string(),
        None => format!(
            "none (looked for {})",
            config
                .config_candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dotenv = config
        .dotenv_file
        .as_ref()
        .map_or_else(|| "none".to_owned(), |p| p.display().to_string());
    let _ = writeln!(out, "config file  {file}");
    let _ = writeln!(out, ".env         {dotenv}");
    let _ = writeln!(out, "preset       {}\n", config.settings.environment.name());
    let key_width = config
        .entries
        .iter()
        .map(|e| e.key.len())
        .max()
        .unwrap_or(0);
    let env_width = config
        .entries
        .iter()
        .map(|e| e.env.len())
        .max()
        .unwrap_or(0);
    let value_width = config
        .entries
        .iter()
        .map(|e| shown(&e.value).len())
        .max()
        .unwrap_or(0)
        .clamp(5, 48);
    let _ = writeln!(
        out,
        "{:key_width$}  {:env_width$}  {:value_width$}  SOURCE",
        "KEY", "ENV", "VALUE"
    );
    for entry in &config.entries {
        let _ = writeln!(
            out,
            "{:key_width$}  {:env_width$}  {:value_width$}  {}",
            entry.key,
            entry.env,
            shown(&entry.value),
            entry.source
        );
    }
    out
}

/// An empty value would leave a gap that reads like a misaligned column.
fn shown(value: &str) -> &str {
    if value.is_empty() { "(unset)" } else { value }
}
