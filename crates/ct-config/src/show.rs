//! What `config show` and every service's `--print-config` print: each effective setting,
//! its variable and the layer it came from, secrets redacted.

use std::fmt::Write as _;

use crate::keys::Service;
use crate::load::{Config, Entry};

/// The settings of `service` (all of them when `None`) as JSON.
pub fn json(config: &Config, service: Option<Service>) -> serde_json::Value {
    let settings: Vec<serde_json::Value> = entries(config, service)
        .map(|entry| {
            serde_json::json!({
                "key": entry.key,
                "env": entry.env,
                "value": entry.value,
                "layer": entry.source.kind(),
                "source": entry.source.to_string(),
                "help": entry.help,
                "used_by": entry.used_by.iter().map(|s| s.name()).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "service": service.map(Service::name),
        "environment": config.settings.environment.name(),
        "config_file": config.config_file,
        "dotenv_file": config.dotenv_file,
        "settings": settings,
        "warnings": config.warnings,
    })
}

/// The settings of `service` (all of them when `None`) as an aligned table.
pub fn table(config: &Config, service: Option<Service>) -> String {
    let mut out = String::new();
    let file = match &config.config_file {
        Some(path) => path.display().to_string(),
        None => format!(
            "none (looked for {})",
            config.config_candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    };
    let dotenv = config.dotenv_file.as_ref().map_or_else(|| "none".to_owned(), |p| p.display().to_string());
    if let Some(service) = service {
        let _ = writeln!(out, "service      {} ({})", service.name(), service.binary());
    }
    let _ = writeln!(out, "config file  {file}");
    let _ = writeln!(out, ".env         {dotenv}");
    let _ = writeln!(out, "preset       {}\n", config.settings.environment.name());
    let rows: Vec<&Entry> = entries(config, service).collect();
    let width = |column: fn(&Entry) -> usize| rows.iter().map(|e| column(e)).max().unwrap_or(0);
    let key_width = width(|e| e.key.len());
    let env_width = width(|e| e.env.len());
    let value_width = width(|e| shown(&e.value).len()).clamp(5, 48);
    let _ = writeln!(out, "{:key_width$}  {:env_width$}  {:value_width$}  SOURCE", "KEY", "ENV", "VALUE");
    for entry in rows {
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

fn entries(config: &Config, service: Option<Service>) -> Box<dyn Iterator<Item = &Entry> + '_> {
    match service {
        Some(service) => Box::new(config.entries_for(service)),
        None => Box::new(config.entries.iter()),
    }
}

/// An empty value would leave a gap that reads like a misaligned column.
fn shown(value: &str) -> &str {
    if value.is_empty() { "(unset)" } else { value }
}
