//! `cargo xtask bench`: the local stack (release binaries) on free ports, measured. Every
//! figure is printed beside a baseline measured in the same run, and all of them go to a JSON
//! file so that runs can be compared.

mod events;
mod floor;
mod gateway;
mod history;
mod memory;
mod report;
mod runs;
mod snapshots;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ct_e2e::{Stack, StackOptions, git_project};
use ct_scripted_model::Scenario;

use crate::history::RunFigures;
use crate::report::Report;
use crate::stats::{median, quantile};

/// The agent activity, whose time is the agent's own.
const AGENT_ACTIVITY: &str = ct_contracts::names::RUN_AGENT;

const ONE_STAGE: &str = r#"
name = "bench-one-stage"

[[stages]]
name = "build"
prompt = "Stage: build"
requires_approval = true
"#;

#[derive(Debug, Parser)]
#[command(
    name = "ct-bench",
    about = "Benchmarks claude-temporal on the local stack; run it through `cargo xtask bench`"
)]
struct Args {
    /// Develop workflows (six stages each) measured for the orchestration overhead.
    #[arg(long, default_value_t = 6)]
    runs: usize,
    /// Bare workflows measured for the Temporal floor.
    #[arg(long, default_value_t = 20)]
    floor_runs: usize,
    /// Workflows started at once in the concurrency rounds.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 50])]
    concurrency: Vec<usize>,
    /// Workflows run before memory is read again, to see whether it creeps.
    #[arg(long, default_value_t = 100)]
    memory_runs: usize,
    /// Snapshot rounds on the generated repository.
    #[arg(long, default_value_t = 3)]
    snapshot_rounds: u32,
    /// Events published at once to measure how many per second the notifier and the
    /// metrics-sink deliver (latencies come from 200 more, one every 10 ms).
    #[arg(long, default_value_t = 2000)]
    events: usize,
    /// Slack clicks through the gateway, measured against as many Updates sent straight to
    /// Temporal.
    #[arg(long, default_value_t = 20)]
    clicks: usize,
    /// Workflows run before the gateway's workflows page is measured.
    #[arg(long, default_value_t = 1000)]
    listed_workflows: usize,
    /// Where the results go as JSON.
    #[arg(long, default_value = "bench-results.json")]
    out: PathBuf,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(report) => {
            print!("{}", report.table());
            match report.save(&args.out) {
                Ok(()) => {
                    eprintln!("bench: results in {}", args.out.display());
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("bench: error: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(err) => {
            eprintln!("bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let mut report = Report::new();
    let scenario = Scenario::from_json(
        r#"{"scripts": [{"name": "smallest", "turns": [{"text": "Done.", "usage": {"input_tokens": 10, "output_tokens": 2}}]}]}"#,
    )?;
    eprintln!("bench: starting the stack (release binaries from CT_BIN_DIR)");
    let mut stack = Stack::start(StackOptions { executors: 1, ..StackOptions::new(scenario) }).await;
    let source = tempfile::tempdir()?;
    std::fs::write(source.path().join("README.md"), "# bench\n")?;
    // The smallest suite a test run finds: stages end with the project's tests.
    std::fs::create_dir(source.path().join("tests"))?;
    std::fs::write(source.path().join("tests/test_ok.py"), "def test_ok():\n    assert True\n")?;
    let stages = stack.dir.path().join("one-stage.toml");
    std::fs::write(&stages, ONE_STAGE)?;
    let projects = |n: usize| (0..n).map(|_| git_project(source.path())).collect::<Vec<_>>();
    // Before the approver starts: these gates are decided by the clicks measured.
    let figures = gateway::measure(&stack, &projects(args.clicks * 2), &stages, args.listed_workflows).await?;
    gateway_figures(&mut report, &figures);
    let _approver = runs::Approver::start(&stack).await?;

    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = services(&stack);
    // One of each, to warm caches and connections up.
    runs::develop_at_once(&stack, &projects(1), &stages).await?;

    overhead(args, &stack, &projects, &mut report).await?;

    let peak = Arc::new(Mutex::new(Vec::<(String, f64)>::new()));
    for executors in [1, 3] {
        while stack.executors.len() < executors {
            stack.start_executor();
        }
        for &n in &args.concurrency {
            let sampler = (n == *args.concurrency.iter().max().unwrap_or(&0) && executors == 1)
                .then(|| sample_peaks(&stack, peak.clone()));
            let (ids, wall_s) = runs::develop_at_once(&stack, &projects(n), &stages).await?;
            drop(sampler);
            let client = stack.client().await;
            let mut figures = Vec::new();
            for id in &ids {
                figures.push(runs::figures_of(&client, id).await?);
            }
            concurrency(&mut report, executors, n, wall_s, &figures);
        }
    }

    eprintln!("bench: {} more workflows, ten at a time, for memory", args.memory_runs);
    let early = args.memory_runs.min(20);
    let mut after_early = Vec::new();
    for done in (0..args.memory_runs).step_by(10) {
        let batch = 10.min(args.memory_runs - done);
        runs::develop_at_once(&stack, &projects(batch), &stages).await?;
        if done + batch == early {
            after_early = services(&stack);
        }
    }
    let after = services(&stack);
    memory(
        &mut report,
        &idle,
        &peak.lock().map(|p| p.clone()).unwrap_or_default(),
        &after_early,
        early,
        &after,
        args.memory_runs,
    );

    snapshots(args, &mut report)?;
    events(args, stack.dir.path(), &mut report).await?;
    Ok(report)
}

/// Develop workflows one after the other, against the bare workflow on the same server.
async fn overhead(
    args: &Args,
    stack: &Stack,
    projects: &dyn Fn(usize) -> Vec<tempfile::TempDir>,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("bench: {} develop workflows, one at a time", args.runs);
    let client = stack.client().await;
    let mut develops = Vec::new();
    for _ in 0..args.runs {
        let (ids, _) = runs::develop_at_once(stack, &projects(1), std::path::Path::new("")).await?;
        develops.push(runs::figures_of(&client, &ids[0]).await?);
    }
    eprintln!("bench: {} bare workflows", args.floor_runs);
    let floors = floor::measure(client, args.floor_runs).await?;
    let stages = 6.0;
    let per_stage: Vec<f64> = develops.iter().map(|f| f.overhead_ms / stages).collect();
    let floor: Vec<f64> = floors.iter().map(|f| f.overhead_ms).collect();
    let section = "overhead";
    report.figure(
        section,
        "per stage, median (ms)",
        median(&per_stage),
        Some(("bare workflow, one activity", median(&floor))),
    );
    report.note(
        section,
        &format!(
            "per stage min {:.1}, max {:.1} ms over {} runs; target 40",
            quantile(&per_stage, 0.0),
            quantile(&per_stage, 1.0),
            per_stage.len()
        ),
    );
    let tasks = |figures: &[RunFigures]| {
        median(&figures.iter().map(|f| f.task_schedule_to_start_ms.len() as f64).collect::<Vec<_>>())
    };
    report.figure(section, "workflow tasks per run", tasks(&develops), Some(("bare workflow", tasks(&floors))));
    let all = |figures: &[RunFigures], pick: fn(&RunFigures) -> &Vec<f64>| {
        figures.iter().flat_map(|f| pick(f).iter().copied()).collect::<Vec<_>>()
    };
    report.figure(
        section,
        "workflow task schedule→start, median (ms)",
        median(&all(&develops, |f| &f.task_schedule_to_start_ms)),
        Some(("bare workflow", median(&all(&floors, |f| &f.task_schedule_to_start_ms)))),
    );
    report.figure(
        section,
        "workflow task start→complete, median (ms)",
        median(&all(&develops, |f| &f.task_start_to_complete_ms)),
        Some(("bare workflow", median(&all(&floors, |f| &f.task_start_to_complete_ms)))),
    );
    report.figure(
        section,
        "activity schedule→start, median (ms)",
        median(&all(&develops, |f| &f.activity_schedule_to_start_ms)),
        Some(("bare workflow", median(&all(&floors, |f| &f.activity_schedule_to_start_ms)))),
    );
    // Where a stage's overhead goes: its share of each kind of wait, summed over the run.
    let per_stage_sum = |pick: fn(&RunFigures) -> &Vec<f64>| {
        median(&develops.iter().map(|f| pick(f).iter().sum::<f64>() / stages).collect::<Vec<_>>())
    };
    report.note(
        section,
        &format!(
            "per stage: {:.1} ms workflow tasks waiting for the worker, {:.1} ms in the worker, {:.1} ms activities waiting for an executor or test-runner",
            per_stage_sum(|f| &f.task_schedule_to_start_ms),
            per_stage_sum(|f| &f.task_start_to_complete_ms),
            per_stage_sum(|f| &f.activity_schedule_to_start_ms),
        ),
    );
    Ok(())
}

fn gateway_figures(report: &mut Report, figures: &gateway::Figures) {
    let section = "gateway";
    report.figure(
        section,
        "Slack click → workflow's acknowledgement, p50 (ms)",
        median(&figures.click_ms),
        Some(("the Update straight to Temporal p50", median(&figures.update_ms))),
    );
    report.figure(
        section,
        "Slack click → workflow's acknowledgement, max (ms)",
        quantile(&figures.click_ms, 1.0),
        Some(("the Update straight to Temporal max", quantile(&figures.update_ms, 1.0))),
    );
    report.figure(section, "Slack's request answered, p50 (ms)", median(&figures.click_answered_ms), None);
    report.figure(
        section,
        &format!("workflows page, first {} (ms, p50)", gateway::PAGE_SIZE),
        median(&figures.first_page_ms),
        Some(("Temporal's list API, same page p50", median(&figures.first_page_api_ms))),
    );
    report.figure(
        section,
        &format!("all {} workflows, {} pages (ms)", figures.workflows_listed, figures.pages),
        figures.all_pages_ms,
        Some(("Temporal's list API, same pages", figures.all_pages_api_ms)),
    );
}

fn concurrency(report: &mut Report, executors: usize, n: usize, wall_s: f64, figures: &[RunFigures]) {
    let section = format!("{n} at once, {executors} executor{}", if executors == 1 { "" } else { "s" });
    let overheads: Vec<f64> = figures.iter().map(|f| f.overhead_ms).collect();
    let agent: Vec<f64> = figures.iter().map(|f| f.time_in(AGENT_ACTIVITY)).collect();
    report.figure(&section, "stages completed per minute", n as f64 / wall_s * 60.0, None);
    report.figure(
        &section,
        "stage overhead p50 (ms)",
        median(&overheads),
        Some(("agent's own time p50", median(&agent))),
    );
    report.figure(
        &section,
        "stage overhead p99 (ms)",
        quantile(&overheads, 0.99),
        Some(("agent's own time p99", quantile(&agent, 0.99))),
    );
}

/// Each service of the stack by name, with its process while it runs.
fn service_pids(stack: &Stack) -> Vec<(String, Option<u32>)> {
    let mut pids = vec![("worker".to_owned(), stack.worker_pid()), ("test-runner".to_owned(), stack.test_runner_pid())];
    pids.extend(stack.executors.iter().enumerate().map(|(i, e)| (format!("executor {}", i + 1), Some(e.pid()))));
    pids
}

/// Each service of the stack and its resident memory now.
fn services(stack: &Stack) -> Vec<(String, f64)> {
    service_pids(stack).into_iter().filter_map(|(name, pid)| Some((name, memory::rss_mib(pid?)?))).collect()
}

/// Samples the services' memory every 200 ms into `peak` (the highest seen) until dropped.
fn sample_peaks(stack: &Stack, peak: Arc<Mutex<Vec<(String, f64)>>>) -> AbortOnDrop {
    let pids = service_pids(stack);
    AbortOnDrop(tokio::spawn(async move {
        loop {
            if let Ok(mut peak) = peak.lock() {
                for (name, pid) in &pids {
                    let Some(rss) = pid.and_then(memory::rss_mib) else { continue };
                    match peak.iter_mut().find(|(n, _)| n == name) {
                        Some((_, highest)) => *highest = highest.max(rss),
                        None => peak.push((name.clone(), rss)),
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }))
}

/// A background task that stops with its owner.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn memory(
    report: &mut Report,
    idle: &[(String, f64)],
    peak: &[(String, f64)],
    early: &[(String, f64)],
    early_runs: usize,
    after: &[(String, f64)],
    runs: usize,
) {
    let of = |list: &[(String, f64)], name: &str| list.iter().find(|(n, _)| n == name).map(|(_, mib)| *mib);
    for (name, idle_mib) in idle {
        let section = format!("memory: {name} (MiB)");
        report.figure(&section, "idle", *idle_mib, None);
        if let Some(peak) = of(peak, name) {
            report.figure(&section, "peak under the largest load", peak, Some(("idle", *idle_mib)));
        }
        if let (Some(after), Some(early)) = (of(after, name), of(early, name)) {
            report.figure(
                &section,
                &format!("after {runs} more workflows"),
                after,
                Some((&format!("after {early_runs}"), early)),
            );
        }
    }
}

fn snapshots(args: &Args, report: &mut Report) -> anyhow::Result<()> {
    eprintln!(
        "bench: generating a repository of {} files ({} MB) and changing {} of them",
        snapshots::FILES,
        snapshots::FILES * snapshots::FILE_BYTES / 1_000_000,
        snapshots::CHANGED
    );
    let repo = snapshots::generate()?;
    let rounds: Vec<snapshots::Round> = (1..=args.snapshot_rounds)
        .map(|n| snapshots::round(repo.path(), n))
        .collect::<anyhow::Result<_>>()
        .context("snapshot round")?;
    let pick = |f: fn(&snapshots::Round) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let section = "snapshots (10,000 files, 1,000 changed)";
    report.figure(
        section,
        "snapshot (ms)",
        pick(|r| r.snapshot_ms),
        Some(("git stash push -u", pick(|r| r.stash_push_ms))),
    );
    report.figure(section, "restore (ms)", pick(|r| r.restore_ms), Some(("git stash pop", pick(|r| r.stash_pop_ms))));
    Ok(())
}

async fn events(args: &Args, dir: &std::path::Path, report: &mut Report) -> anyhow::Result<()> {
    const PACED: usize = 200;
    eprintln!(
        "bench: {PACED} events one every 10 ms, then {} at once, through the notifier and the metrics-sink",
        args.events
    );
    let figures = events::measure(dir, PACED, args.events).await.context("events")?;
    let raw = &figures.raw;
    for (name, delivery) in [("notifier → webhook", &figures.notifier), ("metrics-sink → JSONL", &figures.metrics_sink)]
    {
        let section = format!("events: {name}");
        report.figure(
            &section,
            "publish→delivery p50 (ms)",
            median(&delivery.latency_ms),
            Some(("raw NATS p50", median(&raw.latency_ms))),
        );
        report.figure(
            &section,
            "publish→delivery p99 (ms)",
            quantile(&delivery.latency_ms, 0.99),
            Some(("raw NATS p99", quantile(&raw.latency_ms, 0.99))),
        );
        report.figure(
            &section,
            &format!("events/s, {} at once", args.events),
            delivery.per_second,
            Some(("raw NATS", raw.per_second)),
        );
    }
    Ok(())
}
