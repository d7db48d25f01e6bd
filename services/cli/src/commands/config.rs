//! `config show`: every effective setting and the layer it came from, or only those one
//! service reads.

use std::process::ExitCode;

use ct_config::Config;

use crate::cli::{ConfigArgs, ConfigCommand};
use crate::output::print_stdout;

pub(super) fn run(config: &Config, args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Show(show) = args.command;
    if show.json {
        print_stdout(&format!("{:#}\n", ct_config::show::json(config, show.service)));
    } else {
        print_stdout(&ct_config::show::table(config, show.service));
    }
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
