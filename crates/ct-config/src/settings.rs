//! The effective settings, typed.

use std::fmt;
use std::path::PathBuf;

use crate::keys::{self, Environment, Kind, key};

/// A credential: usable by code, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub temporal: TemporalSettings,
    pub claude: ClaudeSettings,
    pub workflow: WorkflowSettings,
    pub worker: WorkerSettings,
    /// The project `start` uses when none is given.
    pub project_path: Option<PathBuf>,
    pub metrics_file: PathBuf,
    pub log_level: String,
    pub notification: NotificationSettings,
}

#[derive(Debug, Clone)]
pub struct TemporalSettings {
    pub address: String,
    pub namespace: String,
    pub task_queue: String,
    pub ui_base_url: String,
}

#[derive(Debug, Clone)]
pub struct ClaudeSettings {
    /// Empty: the executor's default.
    pub model: String,
    /// 0: the CLI's default.
    pub max_tokens: u32,
    pub timeout_secs: u64,
    /// 0: the executor's default.
    pub max_turns: u32,
    /// Accepted and reported as unsupported; never sent anywhere.
    pub temperature: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    pub approval_timeout_secs: u64,
    pub test_timeout_secs: u64,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub max_activities: usize,
    pub max_workflows: usize,
}

#[derive(Debug, Clone)]
pub struct NotificationSettings {
    /// console, slack, webhook.
    pub types: Vec<String>,
    pub slack_webhook_url: Option<Secret>,
    pub slack_channel: Option<String>,
    pub webhook_url: Option<Secret>,
    pub webhook_secret: Option<Secret>,
}

impl Settings {
    /// Builds the settings from values that already passed their checks.
    pub(crate) fn from_resolved<'a>(
        environment: Environment,
        get: impl Fn(&str) -> &'a str,
    ) -> Settings {
        let number = |k: &str| -> u64 {
            let Some(Kind::Number { min, max }) = keys::def(k).map(|d| d.kind) else {
                unreachable!("{k} is a number setting");
            };
            keys::number(get(k), min, max).expect("values are checked before they are typed")
        };
        let text = |k: &str| get(k).to_owned();
        let optional = |k: &str| Some(get(k).to_owned()).filter(|v| !v.is_empty());
        Settings {
            environment,
            temporal: TemporalSettings {
                address: text(key::TEMPORAL_ADDRESS),
                namespace: text(key::TEMPORAL_NAMESPACE),
                task_queue: text(key::TEMPORAL_TASK_QUEUE),
                ui_base_url: text(key::TEMPORAL_UI_BASE_URL),
            },
            claude: ClaudeSettings {
                model: text(key::CLAUDE_MODEL),
                // The ranges of these keys are those of u32.
                max_tokens: number(key::CLAUDE_MAX_TOKENS) as u32,
                timeout_secs: number(key::CLAUDE_TIMEOUT_SECS),
                max_turns: number(key::CLAUDE_MAX_TURNS) as u32,
                temperature: keys::temperature(get(key::CLAUDE_TEMPERATURE))
                    .expect("values are checked before they are typed"),
            },
            workflow: WorkflowSettings {
                approval_timeout_secs: number(key::APPROVAL_TIMEOUT_SECS),
                test_timeout_secs: number(key::TEST_TIMEOUT_SECS),
            },
            worker: WorkerSettings {
                max_activities: number(key::WORKER_MAX_ACTIVITIES) as usize,
                max_workflows: number(key::WORKER_MAX_WORKFLOWS) as usize,
            },
            project_path: optional(key::PROJECT_PATH).map(PathBuf::from),
            metrics_file: PathBuf::from(get(key::METRICS_FILE)),
            log_level: text(key::LOG_LEVEL),
            notification: NotificationSettings {
                types: keys::notification_types(get(key::NOTIFICATION_TYPE))
                    .expect("values are checked before they are typed"),
                slack_webhook_url: optional(key::SLACK_WEBHOOK_URL).map(Secret),
                slack_channel: optional(key::SLACK_CHANNEL),
                webhook_url: optional(key::WEBHOOK_URL).map(Secret),
                webhook_secret: optional(key::WEBHOOK_SECRET).map(Secret),
            },
        }
    }
}
