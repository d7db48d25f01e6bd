//! Harness for end-to-end tests: real Temporal dev server, the real service
//! binaries, the real Claude Code CLI against the scripted model, real git
//! repositories. Everything binds free loopback ports and is stopped on drop.

mod compose;
mod fixtures;
mod http;
mod paths;
mod process;
mod project;
mod scenarios;
pub mod slack;
mod stack;

pub use compose::{ComposeService, compose_services};
pub use fixtures::{fixtures_dir, replayer, save_fixture, scheduled_events};
pub use http::{http, http_with_head};
pub use paths::{bin, example, rehearsal_bin, tool, workspace_root};
pub use process::{Service, free_port, processes_matching};
pub use project::{all_paths, checkout_state, files, git, git_project, git_project_at, plant_git_programs, ran};
pub use scenarios::step_scenario;
pub use stack::{Binaries, CliOutput, OtherBuild, Stack, StackOptions, event_kind};
