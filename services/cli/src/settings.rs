//! The command line's flags as the top layer of the configuration.

use std::path::PathBuf;

use ct_config::{Config, Flag, Sources, key};

use crate::cli::{AgentArgs, BudgetLimitArgs, RunSettingsArgs, TemporalArgs};
use crate::error::CliError;

fn flag(key: &'static str, flag: &'static str, value: Option<impl ToString>) -> Option<Flag> {
    Flag::given(key, flag, value)
}

impl TemporalArgs {
    pub(crate) fn flags(&self) -> Vec<Flag> {
        [
            flag(key::TEMPORAL_ADDRESS, "--temporal-address", self.temporal_address.as_ref()),
            flag(key::TEMPORAL_NAMESPACE, "--namespace", self.namespace.as_ref()),
            flag(key::TEMPORAL_TASK_QUEUE, "--task-queue", self.task_queue.as_ref()),
            flag(key::TEMPORAL_UI_BASE_URL, "--ui-base-url", self.ui_base_url.as_ref()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl RunSettingsArgs {
    pub(crate) fn flags(&self) -> Vec<Flag> {
        [flag(key::APPROVAL_TIMEOUT_SECS, "--approval-timeout", self.approval_timeout)]
            .into_iter()
            .flatten()
            .chain(self.agent.flags())
            .chain(self.budget.flags())
            .collect()
    }
}

impl BudgetLimitArgs {
    pub(crate) fn flags(&self) -> Vec<Flag> {
        [
            flag(key::BUDGET_USD, "--budget-usd", self.budget_usd.as_ref()),
            flag(key::BUDGET_WARN_AT, "--budget-warn-at", self.budget_warn_at.as_ref()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl AgentArgs {
    pub(crate) fn flags(&self) -> Vec<Flag> {
        [
            flag(key::CLAUDE_MODEL, "--model", self.model.as_ref()),
            flag(key::CLAUDE_MAX_TURNS, "--max-turns", self.max_turns),
            flag(key::CLAUDE_TIMEOUT_SECS, "--agent-timeout", self.agent_timeout),
            flag(key::CLAUDE_MAX_TOKENS, "--max-output-tokens", self.max_output_tokens),
            flag(key::TEST_TIMEOUT_SECS, "--test-timeout", self.test_timeout),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The agent settings of a workflow's runs.
pub(crate) fn agent_settings(config: &Config) -> ct_domain::AgentSettings {
    let claude = &config.settings.claude;
    ct_domain::AgentSettings {
        model: claude.model.clone(),
        max_turns: claude.max_turns,
        timeout_secs: claude.timeout_secs,
        max_output_tokens: claude.max_tokens,
        heartbeat_timeout_secs: claude.heartbeat_timeout_secs,
    }
}

/// Loads the configuration with `flags` on top; a bad value is bad input (exit 2).
pub(crate) fn load(config_file: Option<PathBuf>, flags: Vec<Flag>) -> Result<Config, CliError> {
    let sources = Sources::from_process(config_file, flags).map_err(|err| CliError::BadInput(err.to_string()))?;
    ct_config::load(&sources).map_err(|err| CliError::BadInput(err.to_string()))
}
