//! The presets `CLAUDE_TEMPORAL_ENV` selects. They live in `.claude/presets/` where users
//! can read them, and are compiled in so that an installed binary needs no data files.

use crate::environment::Environment;
use crate::file::{self, FileValue};

fn text(environment: Environment) -> &'static str {
    match environment {
        Environment::Development => include_str!("../../../.claude/presets/development.toml"),
        Environment::Staging => include_str!("../../../.claude/presets/staging.toml"),
        Environment::Production => include_str!("../../../.claude/presets/production.toml"),
    }
}

pub(crate) fn values(environment: Environment) -> Vec<FileValue> {
    // The unit test below reads every preset, so a broken one never ships.
    file::read(text(environment)).unwrap_or_else(|problem| {
        unreachable!("preset {} line {}: {}", environment.name(), problem.line, problem.reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    #[test]
    fn every_preset_reads_and_its_values_pass_their_checks() {
        for environment in Environment::ALL {
            let values = file::read(text(environment))
                .unwrap_or_else(|p| panic!("{}: line {}: {}", environment.name(), p.line, p.reason));
            assert!(values.len() >= 6, "{}: a preset sets the agent and workflow limits", environment.name());
            for value in values {
                let def = keys::def(&value.key).unwrap();
                def.kind
                    .check(&value.value)
                    .unwrap_or_else(|reason| panic!("{} {}: {reason}", environment.name(), value.key));
            }
        }
    }
}
