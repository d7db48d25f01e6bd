//! How a service binary reads the configuration: the same layers as the CLI, its own flags on
//! top, and `--print-config` to show what it would run with.

use std::path::PathBuf;

use crate::keys::{Service, key};
use crate::load::{Config, Flag, Sources, load};
use crate::show;

/// The flags every service takes for its configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Config file [default: ./claude-temporal.toml, then
    /// $XDG_CONFIG_HOME/claude-temporal/config.toml].
    #[arg(long, env = "CLAUDE_TEMPORAL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the settings this process would run with and where each one comes from, then
    /// exit (secrets redacted).
    #[arg(long)]
    pub print_config: bool,
    /// With --print-config: print JSON.
    #[arg(long, requires = "print_config")]
    pub json: bool,
}

impl ConfigArgs {
    /// Resolves every layer with `flags` on top. A bad value in any layer ends the process
    /// with its key, source and what is allowed (exit 64), before anything starts.
    pub fn load(&self, service: Service, flags: impl IntoIterator<Item = Option<Flag>>) -> Config {
        let flags = flags.into_iter().flatten().collect();
        let loaded = Sources::from_process(self.config.clone(), flags).and_then(|sources| load(&sources));
        let config = loaded.unwrap_or_else(|err| {
            eprintln!("{}: {err}", service.binary());
            std::process::exit(64)
        });
        if self.print_config {
            if self.json {
                println!("{:#}", show::json(&config, Some(service)));
            } else {
                print!("{}", show::table(&config, Some(service)));
            }
            std::process::exit(0);
        }
        config
    }
}

/// Where Temporal is, for the services that talk to it (worker, executor, test-runner).
#[derive(Debug, Clone, clap::Args)]
pub struct TemporalArgs {
    /// Temporal frontend address, host:port [env: TEMPORAL_ADDRESS].
    #[arg(long)]
    pub temporal_address: Option<String>,
    /// Temporal namespace [env: TEMPORAL_NAMESPACE].
    #[arg(long)]
    pub namespace: Option<String>,
    /// The workflows' task queue; executors poll `<it>.agents`, test-runners `<it>.tests`
    /// [env: TEMPORAL_TASK_QUEUE].
    #[arg(long)]
    pub task_queue: Option<String>,
}

impl TemporalArgs {
    /// The settings these flags give, for [`ConfigArgs::load`].
    pub fn flags(&self) -> [Option<Flag>; 3] {
        [
            Flag::given(key::TEMPORAL_ADDRESS, "--temporal-address", self.temporal_address.as_ref()),
            Flag::given(key::TEMPORAL_NAMESPACE, "--namespace", self.namespace.as_ref()),
            Flag::given(key::TEMPORAL_TASK_QUEUE, "--task-queue", self.task_queue.as_ref()),
        ]
    }
}
