//! The `claude-temporal` command line: start and steer workflows, run the local stack.

pub mod cli;
mod commands;
mod dev;
mod error;
mod hook;
mod output;
mod settings;

pub use commands::run;
pub use error::exit_code;
