//! `claude-temporal metrics`: what the metrics file says about cost and failures.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::cli::MetricsArgs;
use crate::error::CliError;

pub(super) async fn run(config: &ct_config::Config, args: MetricsArgs) -> anyhow::Result<ExitCode> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let metrics_file = metrics_file(config)?;
    let summary = ct_metrics::summarize(&metrics_file, since).map_err(|err| {
        CliError::BadInput(format!(
            "cannot summarise {}: {err} (set METRICS_FILE or --metrics-file to the metrics-sink's file)",
            metrics_file.display()
        ))
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    let totals = &summary.total;
    println!(
        "{} stages, {} failed, {} tokens, ${:.4}, {:.1}s of agent and test time",
        totals.stages,
        totals.failures,
        totals.tokens_used,
        totals.cost,
        totals.duration_ms as f64 / 1000.0
    );
    println!("\n{:<48} {:>7} {:>7} {:>10} {:>10}", "WORKFLOW", "STAGES", "FAILED", "TOKENS", "COST $");
    for (workflow, t) in &summary.by_workflow {
        println!("{workflow:<48} {:>7} {:>7} {:>10} {:>10.4}", t.stages, t.failures, t.tokens_used, t.cost);
    }
    println!("\n{:<48} {:>7} {:>7} {:>10} {:>10}", "STAGE", "RUNS", "FAILED", "TOKENS", "COST $");
    for (stage, t) in &summary.by_stage {
        println!("{stage:<48} {:>7} {:>7} {:>10} {:>10.4}", t.stages, t.failures, t.tokens_used, t.cost);
    }
    if !summary.failures.is_empty() {
        println!("\nfailures:");
        for failure in &summary.failures {
            println!("  {}", serde_json::to_string(failure)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--since` as a duration back from now: `90s`, `30m`, `12h`, `7d`.
/// The file the user named in any layer; else the one the local stack's sink writes, when a
/// stack was started; else the default.
pub(super) fn metrics_file(config: &ct_config::Config) -> anyhow::Result<PathBuf> {
    let named =
        config.entries.iter().any(|e| e.key == ct_config::key::METRICS_FILE && e.source != ct_config::Source::Default);
    if !named && let Some(recorded) = crate::dev::recorded_metrics_file()? {
        return Ok(recorded);
    }
    Ok(config.settings.metrics_file.clone())
}

fn parse_since(text: &str) -> Result<SystemTime, CliError> {
    let bad = || CliError::BadInput(format!("--since `{text}`: expected a number with s, m, h or d, e.g. 24h"));
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let count: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => count,
        "m" => count * 60,
        "h" => count * 3600,
        "d" => count * 86_400,
        _ => return Err(bad()),
    };
    Ok(SystemTime::now() - Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_unit_and_refuses_anything_else() {
        let day_ago = parse_since("1d").unwrap();
        let elapsed = SystemTime::now().duration_since(day_ago).unwrap();
        assert!((86_399..=86_401).contains(&elapsed.as_secs()));
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("5y").is_err());
        assert!(parse_since("").is_err());
    }
}
