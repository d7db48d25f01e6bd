//! The effective settings, typed.

use std::fmt;
use std::path::PathBuf;

use crate::check::{self, Kind};
use crate::environment::Environment;
use crate::keys::{self, key};

/// A credential: usable by code, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

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
    /// Comma-separated NATS URLs.
    pub nats_url: String,
    /// Who to log in to NATS as; `None`: no login.
    pub nats_user: Option<String>,
    /// Where that user's password is.
    pub nats_password_file: Option<PathBuf>,
    /// Directories projects may live in; empty: none given.
    pub workspace_roots: Vec<PathBuf>,
    pub executor: ExecutorSettings,
    pub test_runner: TestRunnerSettings,
    pub sandbox: SandboxSettings,
    pub gateway: GatewaySettings,
}

/// The gateway, and the approval links others make for it.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub listen: std::net::SocketAddr,
    /// Where people reach it: approval links start with it.
    pub url: String,
    /// The key links are signed with; none: no links are made or accepted.
    pub link_key_file: Option<PathBuf>,
    pub slack_signing_secret_file: Option<PathBuf>,
    /// Slack user ids allowed to decide.
    pub slack_approvers: Vec<String>,
    pub slack_response_url_prefix: String,
}

/// How executors and test-runners confine their runs.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// auto, required or off.
    pub mode: String,
    /// The agent's tools may reach only the model endpoint.
    pub network_model_only: bool,
    pub writable: Vec<PathBuf>,
    /// Hosts runs in namespaces may reach through the egress proxy (unparsed entries).
    pub allow_hosts: Vec<String>,
    pub max_cpu_secs: Option<u64>,
    pub max_file_bytes: Option<u64>,
    pub max_open_files: Option<u64>,
    pub max_processes: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    pub claude_bin: PathBuf,
    /// Retries the agent CLI itself makes on API errors.
    pub api_retries: u32,
    pub max_concurrent: usize,
    pub max_timeout_secs: Option<u64>,
    pub max_turns: Option<u32>,
    /// Empty: any model.
    pub allowed_models: Vec<String>,
    pub shutdown_grace_secs: u64,
    /// Prices added to the built-in table; `None`: the built-in table alone.
    pub price_table: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct TestRunnerSettings {
    pub max_concurrent: usize,
    pub max_timeout_secs: Option<u64>,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone)]
pub struct TemporalSettings {
    pub address: String,
    pub namespace: String,
    pub task_queue: String,
    /// The Worker Deployment the fleet's builds belong to.
    pub deployment: String,
    /// This build's id: every process of one build polls as one version of the deployment.
    pub build_id: String,
    pub ui_base_url: String,
    /// The Jaeger UI traces are linked to; empty for none.
    pub jaeger_ui_base_url: String,
}

#[derive(Debug, Clone)]
pub struct ClaudeSettings {
    /// Empty: the executor's default.
    pub model: String,
    /// 0: the CLI's default.
    pub max_tokens: u32,
    pub timeout_secs: u64,
    /// How long an agent run may go without a heartbeat before Temporal gives it to another
    /// executor.
    pub heartbeat_timeout_secs: u64,
    /// 0: the executor's default.
    pub max_turns: u32,
    /// Accepted and reported as unsupported; never sent anywhere.
    pub temperature: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    pub approval_timeout_secs: u64,
    pub test_timeout_secs: u64,
    pub budget_usd: Option<f64>,
    pub budget_warn_at: f64,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub max_activities: usize,
    pub max_workflows: usize,
    /// Whether the worker makes its build current even when another one is (`always`).
    pub promote_always: bool,
}

#[derive(Debug, Clone)]
pub struct NotificationSettings {
    /// console, slack, webhook.
    pub types: Vec<String>,
    pub slack_webhook_url: Option<Secret>,
    pub slack_channel: Option<String>,
    pub webhook_url: Option<Secret>,
    pub webhook_secret: Option<Secret>,
    /// Event filters of each backend.
    pub console_events: String,
    pub slack_events: String,
    pub webhook_events: String,
    pub max_attempts: u32,
    /// The console prints approval requests' links (anyone reading its log could use them).
    pub console_links: bool,
}

impl Settings {
    /// The workspace roots, for a service that cannot run without them.
    pub fn required_workspace_roots(&self) -> Result<Vec<PathBuf>, String> {
        if self.workspace_roots.is_empty() {
            return Err("no workspace root: set CT_WORKSPACE_ROOTS (`:`-separated), workspace.roots in \
                        the config file, or --workspace-root"
                .to_owned());
        }
        Ok(self.workspace_roots.clone())
    }

    /// Builds the settings from values that already passed their checks.
    pub(crate) fn from_resolved<'a>(environment: Environment, get: impl Fn(&str) -> &'a str) -> Settings {
        let number = |k: &str| -> u64 {
            let Some(Kind::Number { min, max }) = keys::def(k).map(|d| d.kind) else {
                unreachable!("{k} is a number setting");
            };
            check::number(get(k), min, max).expect("values are checked before they are typed")
        };
        let text = |k: &str| get(k).to_owned();
        let optional = |k: &str| Some(get(k).to_owned()).filter(|v| !v.is_empty());
        let cap = |k: &str| Some(number(k)).filter(|&n| n > 0);
        Settings {
            environment,
            temporal: TemporalSettings {
                address: text(key::TEMPORAL_ADDRESS),
                namespace: text(key::TEMPORAL_NAMESPACE),
                task_queue: text(key::TEMPORAL_TASK_QUEUE),
                deployment: text(key::TEMPORAL_DEPLOYMENT),
                // One release's binaries share its version, so they agree without being told.
                build_id: optional(key::TEMPORAL_BUILD_ID).unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned()),
                ui_base_url: text(key::TEMPORAL_UI_BASE_URL),
                jaeger_ui_base_url: text(key::JAEGER_UI_BASE_URL),
            },
            claude: ClaudeSettings {
                model: text(key::CLAUDE_MODEL),
                // The ranges of these keys are those of u32.
                max_tokens: number(key::CLAUDE_MAX_TOKENS) as u32,
                timeout_secs: number(key::CLAUDE_TIMEOUT_SECS),
                heartbeat_timeout_secs: number(key::CLAUDE_HEARTBEAT_TIMEOUT_SECS),
                max_turns: number(key::CLAUDE_MAX_TURNS) as u32,
                temperature: check::temperature(get(key::CLAUDE_TEMPERATURE))
                    .expect("values are checked before they are typed"),
            },
            workflow: WorkflowSettings {
                approval_timeout_secs: number(key::APPROVAL_TIMEOUT_SECS),
                test_timeout_secs: number(key::TEST_TIMEOUT_SECS),
                budget_usd: check::dollars(get(key::BUDGET_USD)).expect("values are checked before they are typed"),
                budget_warn_at: check::fraction(get(key::BUDGET_WARN_AT))
                    .expect("values are checked before they are typed"),
            },
            worker: WorkerSettings {
                max_activities: number(key::WORKER_MAX_ACTIVITIES) as usize,
                max_workflows: number(key::WORKER_MAX_WORKFLOWS) as usize,
                promote_always: get(key::WORKER_PROMOTE) == "always",
            },
            project_path: optional(key::PROJECT_PATH).map(PathBuf::from),
            metrics_file: PathBuf::from(get(key::METRICS_FILE)),
            log_level: text(key::LOG_LEVEL),
            notification: NotificationSettings {
                types: check::notification_types(get(key::NOTIFICATION_TYPE))
                    .expect("values are checked before they are typed"),
                slack_webhook_url: optional(key::SLACK_WEBHOOK_URL).map(Secret),
                slack_channel: optional(key::SLACK_CHANNEL),
                webhook_url: optional(key::WEBHOOK_URL).map(Secret),
                webhook_secret: optional(key::WEBHOOK_SECRET).map(Secret),
                console_events: text(key::CONSOLE_EVENTS),
                slack_events: text(key::SLACK_EVENTS),
                webhook_events: text(key::WEBHOOK_EVENTS),
                max_attempts: number(key::NOTIFY_MAX_ATTEMPTS) as u32,
                console_links: get(key::CONSOLE_LINKS) == "on",
            },
            nats_url: text(key::NATS_URL),
            nats_user: optional(key::NATS_USER),
            nats_password_file: optional(key::NATS_PASSWORD_FILE).map(PathBuf::from),
            workspace_roots: path_list(get(key::WORKSPACE_ROOTS)),
            executor: ExecutorSettings {
                claude_bin: PathBuf::from(get(key::CLAUDE_BIN)),
                api_retries: number(key::CLAUDE_API_RETRIES) as u32,
                max_concurrent: number(key::EXECUTOR_MAX_CONCURRENT) as usize,
                max_timeout_secs: cap(key::EXECUTOR_MAX_TIMEOUT_SECS),
                max_turns: cap(key::EXECUTOR_MAX_TURNS).map(|n| n as u32),
                allowed_models: comma_list(get(key::EXECUTOR_ALLOWED_MODELS)),
                shutdown_grace_secs: number(key::EXECUTOR_SHUTDOWN_GRACE_SECS),
                price_table: Some(PathBuf::from(get(key::EXECUTOR_PRICE_TABLE))).filter(|p| !p.as_os_str().is_empty()),
            },
            test_runner: TestRunnerSettings {
                max_concurrent: number(key::TEST_RUNNER_MAX_CONCURRENT) as usize,
                max_timeout_secs: cap(key::TEST_RUNNER_MAX_TIMEOUT_SECS),
                shutdown_grace_secs: number(key::TEST_RUNNER_SHUTDOWN_GRACE_SECS),
            },
            sandbox: SandboxSettings {
                mode: text(key::SANDBOX_MODE),
                network_model_only: get(key::SANDBOX_NETWORK) == "model",
                writable: path_list(get(key::SANDBOX_WRITABLE)),
                allow_hosts: comma_list(get(key::SANDBOX_ALLOW_HOSTS)),
                max_cpu_secs: cap(key::SANDBOX_MAX_CPU_SECS),
                max_file_bytes: cap(key::SANDBOX_MAX_FILE_MB).map(|mb| mb.saturating_mul(1 << 20)),
                max_open_files: cap(key::SANDBOX_MAX_OPEN_FILES),
                max_processes: cap(key::SANDBOX_MAX_PROCESSES),
            },
            gateway: GatewaySettings {
                listen: get(key::GATEWAY_LISTEN).parse().expect("values are checked before they are typed"),
                url: text(key::GATEWAY_URL),
                link_key_file: optional(key::LINK_KEY_FILE).map(PathBuf::from),
                slack_signing_secret_file: optional(key::SLACK_SIGNING_SECRET_FILE).map(PathBuf::from),
                slack_approvers: comma_list(get(key::SLACK_APPROVERS)),
                slack_response_url_prefix: text(key::SLACK_RESPONSE_URL_PREFIX),
            },
        }
    }
}

fn path_list(value: &str) -> Vec<PathBuf> {
    std::env::split_paths(value).filter(|dir| !dir.as_os_str().is_empty()).collect()
}

/// The non-empty items of a comma-separated setting, trimmed.
fn comma_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect()
}
