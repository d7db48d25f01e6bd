//! Developer entry points, run as `cargo xtask <task>` (alias in .cargo/config.toml).

mod bench;
mod compose;
mod demo;
mod rehearsal;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install the tools, build, start the local stack with a scripted model and run a develop
    /// workflow on a copy of examples/textstats, approving its gate on your behalf.
    Demo,
    /// Install the tools, build (the upgrade test's second build too), and run every test of
    /// the workspace against real servers.
    Test {
        /// Passed on to `cargo test --workspace --no-fail-fast`, e.g. `-p ct-worker` or
        /// `dev_stack -- --nocapture`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_test_args: Vec<String>,
    },
    /// Build in release, start the local stack on free ports and measure it: orchestration
    /// overhead per stage against a bare workflow, concurrency, memory, snapshots, events. Prints a
    /// table and writes `<target>/bench/<time>.json`.
    Bench {
        /// Passed on to ct-bench, e.g. `--runs 3 --concurrency 1,10`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        bench_args: Vec<String>,
    },
    /// Install Docker and Compose where missing (Debian's packages, needs root), start the
    /// engine if it is not running, build every image, and run the compose stack test.
    ComposeTest {
        /// Passed on to the test binary after `--ignored --nocapture`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        test_args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Demo => demo::run(),
        Task::Test { cargo_test_args } => test(&cargo_test_args),
        Task::ComposeTest { test_args } => compose::run(&test_args),
        Task::Bench { bench_args } => bench::run(&bench_args),
    };
    result.unwrap_or_else(|err| {
        eprintln!("xtask: error: {err:#}");
        ExitCode::FAILURE
    })
}

fn test(cargo_test_args: &[String]) -> anyhow::Result<ExitCode> {
    let ws = workspace::prepare()?;
    rehearsal::build(&ws)?;
    let status = ws
        .cargo()
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(cargo_test_args)
        .env("CT_BIN_DIR", ws.bin_dir())
        .status()?;
    Ok(workspace::exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_args(argv: &[&str]) -> Vec<String> {
        match Cli::try_parse_from(argv).unwrap().task {
            Task::Test { cargo_test_args } => cargo_test_args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn test_passes_filters_and_harness_flags_through_to_cargo() {
        assert_eq!(test_args(&["xtask", "test"]), Vec::<String>::new());
        assert_eq!(test_args(&["xtask", "test", "-p", "ct-worker"]), ["-p", "ct-worker"]);
        assert_eq!(test_args(&["xtask", "test", "dev_stack", "--", "--nocapture"]), ["dev_stack", "--", "--nocapture"]);
        // A leading `--` ends xtask's own options, as everywhere; the next one goes to cargo.
        assert_eq!(test_args(&["xtask", "test", "--", "--", "--nocapture"]), ["--", "--nocapture"]);
    }
}
