//! Every setting: its key in config files, the environment variable users know it by, its
//! default, whether it is a secret, which binaries read it, and which kind of value it takes.

/// The keys, for code that reads or overrides one setting.
pub use crate::binaries::Service;
use crate::check::Kind;

pub mod key {
    pub const ENVIRONMENT: &str = "environment";
    pub const TEMPORAL_ADDRESS: &str = "temporal.address";
    pub const TEMPORAL_NAMESPACE: &str = "temporal.namespace";
    pub const TEMPORAL_TASK_QUEUE: &str = "temporal.task_queue";
    pub const TEMPORAL_UI_BASE_URL: &str = "temporal.ui_base_url";
    pub const TEMPORAL_DEPLOYMENT: &str = "temporal.deployment";
    pub const TEMPORAL_BUILD_ID: &str = "temporal.build_id";
    pub const JAEGER_UI_BASE_URL: &str = "telemetry.jaeger_ui_base_url";
    pub const CLAUDE_MODEL: &str = "claude.model";
    pub const CLAUDE_MAX_TOKENS: &str = "claude.max_tokens";
    pub const CLAUDE_TIMEOUT_SECS: &str = "claude.timeout_secs";
    pub const CLAUDE_MAX_TURNS: &str = "claude.max_turns";
    pub const CLAUDE_HEARTBEAT_TIMEOUT_SECS: &str = "claude.heartbeat_timeout_secs";
    pub const CLAUDE_TEMPERATURE: &str = "claude.temperature";
    pub const APPROVAL_TIMEOUT_SECS: &str = "workflow.approval_timeout_secs";
    pub const TEST_TIMEOUT_SECS: &str = "workflow.test_timeout_secs";
    pub const BUDGET_USD: &str = "workflow.budget_usd";
    pub const BUDGET_WARN_AT: &str = "workflow.budget_warn_at";
    pub const WORKER_MAX_ACTIVITIES: &str = "worker.max_activities";
    pub const WORKER_MAX_WORKFLOWS: &str = "worker.max_workflows";
    pub const WORKER_PROMOTE: &str = "worker.promote";
    pub const PROJECT_PATH: &str = "project_path";
    pub const METRICS_FILE: &str = "metrics_file";
    pub const LOG_LEVEL: &str = "log_level";
    pub const NOTIFICATION_TYPE: &str = "notification.type";
    pub const SLACK_WEBHOOK_URL: &str = "notification.slack_webhook_url";
    pub const SLACK_CHANNEL: &str = "notification.slack_channel";
    pub const WEBHOOK_URL: &str = "notification.webhook_url";
    pub const WEBHOOK_SECRET: &str = "notification.webhook_secret";
    pub const CONSOLE_EVENTS: &str = "notification.console_events";
    pub const SLACK_EVENTS: &str = "notification.slack_events";
    pub const WEBHOOK_EVENTS: &str = "notification.webhook_events";
    pub const NOTIFY_MAX_ATTEMPTS: &str = "notification.max_attempts";
    pub const CONSOLE_LINKS: &str = "notification.console_links";
    pub const NATS_URL: &str = "nats.url";
    pub const NATS_USER: &str = "nats.user";
    pub const NATS_PASSWORD_FILE: &str = "nats.password_file";
    pub const WORKSPACE_ROOTS: &str = "workspace.roots";
    pub const CLAUDE_BIN: &str = "claude.bin";
    pub const CLAUDE_API_RETRIES: &str = "claude.api_retries";
    pub const EXECUTOR_MAX_CONCURRENT: &str = "executor.max_concurrent";
    pub const EXECUTOR_MAX_TIMEOUT_SECS: &str = "executor.max_timeout_secs";
    pub const EXECUTOR_MAX_TURNS: &str = "executor.max_turns";
    pub const EXECUTOR_ALLOWED_MODELS: &str = "executor.allowed_models";
    pub const EXECUTOR_SHUTDOWN_GRACE_SECS: &str = "executor.shutdown_grace_secs";
    pub const EXECUTOR_PRICE_TABLE: &str = "executor.price_table";
    pub const TEST_RUNNER_MAX_CONCURRENT: &str = "test_runner.max_concurrent";
    pub const TEST_RUNNER_MAX_TIMEOUT_SECS: &str = "test_runner.max_timeout_secs";
    pub const TEST_RUNNER_SHUTDOWN_GRACE_SECS: &str = "test_runner.shutdown_grace_secs";
    pub const SANDBOX_MODE: &str = "sandbox.mode";
    pub const SANDBOX_NETWORK: &str = "sandbox.network";
    pub const SANDBOX_WRITABLE: &str = "sandbox.writable";
    pub const SANDBOX_ALLOW_HOSTS: &str = "sandbox.allow_hosts";
    pub const SANDBOX_MAX_CPU_SECS: &str = "sandbox.max_cpu_secs";
    pub const SANDBOX_MAX_FILE_MB: &str = "sandbox.max_file_mb";
    pub const SANDBOX_MAX_OPEN_FILES: &str = "sandbox.max_open_files";
    pub const SANDBOX_MAX_PROCESSES: &str = "sandbox.max_processes";
    pub const GATEWAY_LISTEN: &str = "gateway.listen";
    pub const GATEWAY_URL: &str = "gateway.url";
    pub const LINK_KEY_FILE: &str = "gateway.link_key_file";
    pub const SLACK_SIGNING_SECRET_FILE: &str = "gateway.slack_signing_secret_file";
    pub const SLACK_APPROVERS: &str = "gateway.slack_approvers";
    pub const SLACK_RESPONSE_URL_PREFIX: &str = "gateway.slack_response_url_prefix";
}

const EVERY_BINARY: &[Service] = &Service::ALL;
const SERVICES: &[Service] = &[
    Service::Worker,
    Service::Executor,
    Service::TestRunner,
    Service::Notifier,
    Service::MetricsSink,
    Service::Gateway,
];
const TEMPORAL_CLIENTS: &[Service] = &[Service::Cli, Service::Worker, Service::Executor, Service::TestRunner];
/// Who reaches Temporal: its clients, and the gateway, which only sends decisions.
const TEMPORAL_REACHERS: &[Service] =
    &[Service::Cli, Service::Worker, Service::Executor, Service::TestRunner, Service::Gateway];
const GATEWAY: &[Service] = &[Service::Gateway];
/// Who talks to NATS: every service but the test-runner (the gateway reads events for the
/// dashboard).
const NATS_CLIENTS: &[Service] =
    &[Service::Cli, Service::Worker, Service::Executor, Service::Notifier, Service::MetricsSink, Service::Gateway];
/// Who makes approval links: the CLI (`link`), the notifier (links in notices), and the gateway
/// that checks them.
const LINK_MAKERS: &[Service] = &[Service::Cli, Service::Notifier, Service::Gateway];
const CLI_ONLY: &[Service] = &[Service::Cli];
const CLI_AND_EXECUTOR: &[Service] = &[Service::Cli, Service::Executor];
const NOTIFIER: &[Service] = &[Service::Notifier];
const EXECUTOR: &[Service] = &[Service::Executor];
const TEST_RUNNER: &[Service] = &[Service::TestRunner];
const RUNNERS: &[Service] = &[Service::Executor, Service::TestRunner];

/// How much of a value may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    Public,
    /// A URL whose path is a credential (Slack and webhook URLs): only scheme and host show.
    Url,
    /// Never shown.
    Secret,
    /// A server URL that may carry `user:password@`: only that part is hidden.
    UserInfo,
}

#[derive(Debug)]
pub struct KeyDef {
    pub key: &'static str,
    pub env: &'static str,
    pub(crate) kind: Kind,
    pub default: &'static str,
    pub secrecy: Secrecy,
    pub used_by: &'static [Service],
    pub help: &'static str,
}

const SECS: Kind = Kind::Number { min: 1, max: 365 * 24 * 3600 };
const COUNT: Kind = Kind::Number { min: 1, max: 10_000 };
const GRACE_SECS: Kind = Kind::Number { min: 0, max: 3600 };
const HEARTBEAT_SECS: Kind = Kind::Number { min: 5, max: 600 };
const ZERO_MEANS_DEFAULT: Kind = Kind::Number { min: 0, max: u32::MAX as u64 };

pub const KEYS: &[KeyDef] = &[
    KeyDef {
        key: key::ENVIRONMENT,
        env: "CLAUDE_TEMPORAL_ENV",
        kind: Kind::Environment,
        default: "development",
        secrecy: Secrecy::Public,
        used_by: EVERY_BINARY,
        help: "preset: development, staging or production",
    },
    KeyDef {
        key: key::TEMPORAL_ADDRESS,
        env: "TEMPORAL_ADDRESS",
        kind: Kind::HostPort,
        default: "127.0.0.1:7233",
        secrecy: Secrecy::Public,
        used_by: TEMPORAL_REACHERS,
        help: "Temporal frontend, host:port",
    },
    KeyDef {
        key: key::TEMPORAL_NAMESPACE,
        env: "TEMPORAL_NAMESPACE",
        kind: Kind::Name,
        default: "default",
        secrecy: Secrecy::Public,
        used_by: TEMPORAL_REACHERS,
        help: "Temporal namespace",
    },
    KeyDef {
        key: key::TEMPORAL_TASK_QUEUE,
        env: "TEMPORAL_TASK_QUEUE",
        kind: Kind::Name,
        default: ct_domain::DEFAULT_TASK_QUEUE,
        secrecy: Secrecy::Public,
        used_by: TEMPORAL_CLIENTS,
        help: "task queue the worker polls",
    },
    KeyDef {
        key: key::TEMPORAL_DEPLOYMENT,
        env: "CT_DEPLOYMENT",
        kind: Kind::BuildLabel,
        default: "claude-temporal",
        secrecy: Secrecy::Public,
        used_by: TEMPORAL_CLIENTS,
        help: "Temporal worker deployment the fleet's builds belong to",
    },
    KeyDef {
        key: key::TEMPORAL_BUILD_ID,
        env: "CT_BUILD_ID",
        kind: Kind::OptionalBuildLabel,
        default: "",
        secrecy: Secrecy::Public,
        used_by: TEMPORAL_CLIENTS,
        help: "this build's id (one per release, the same in every process of it, e.g. the git commit); \
               a workflow runs to its end on the build that started it; empty: this release's version",
    },
    KeyDef {
        key: key::TEMPORAL_UI_BASE_URL,
        env: "TEMPORAL_UI_BASE_URL",
        kind: Kind::HttpUrl,
        default: "http://127.0.0.1:8233",
        secrecy: Secrecy::Public,
        used_by: CLI_ONLY,
        help: "Temporal Web UI, for links",
    },
    KeyDef {
        key: key::JAEGER_UI_BASE_URL,
        env: "JAEGER_UI_BASE_URL",
        kind: Kind::OptionalUrl,
        default: "",
        secrecy: Secrecy::Public,
        used_by: CLI_ONLY,
        help: "Jaeger UI (e.g. http://127.0.0.1:16686), for links to a workflow's trace; empty for none",
    },
    KeyDef {
        key: key::CLAUDE_MODEL,
        env: "CLAUDE_MODEL",
        kind: Kind::Text,
        default: "",
        secrecy: Secrecy::Public,
        used_by: CLI_AND_EXECUTOR,
        help: "model of every agent run; empty: the executor's default",
    },
    KeyDef {
        key: key::CLAUDE_MAX_TOKENS,
        env: "CLAUDE_MAX_TOKENS",
        kind: ZERO_MEANS_DEFAULT,
        default: "0",
        secrecy: Secrecy::Public,
        used_by: CLI_ONLY,
        help: "cap on output tokens per model response; 0: the CLI's default",
    },
    KeyDef {
        key: key::CLAUDE_TIMEOUT_SECS,
        env: "CLAUDE_TIMEOUT",
        kind: SECS,
        default: "1800",
        secrecy: Secrecy::Public,
        used_by: CLI_AND_EXECUTOR,
        help: "seconds one agent run may take",
    },
    KeyDef {
        key: key::CLAUDE_HEARTBEAT_TIMEOUT_SECS,
        env: "CLAUDE_HEARTBEAT_TIMEOUT",
        kind: HEARTBEAT_SECS,
        default: "45",
        secrecy: Secrecy::Public,
        used_by: CLI_ONLY,
        help: "seconds without a heartbeat before Temporal gives an agent run to another executor; its \
               executor heartbeats every ~tenth of it (at most 5 s) and stops the run before it passes",
    },
    KeyDef {
        key: key::CLAUDE_MAX_TURNS,
        env: "CLAUDE_MAX_TURNS",
        kind: ZERO_MEANS_DEFAULT,
        default: "0",
        secrecy: Secrecy::Public,
        used_by: CLI_AND_EXECUTOR,
        help: "turn limit of one agent run; 0: the executor's default",
    },
    KeyDef {
        key: key::CLAUDE_TEMPERATURE,
        env: "CLAUDE_TEMPERATURE",
        kind: Kind::Temperature,
        default: "",
        secrecy: Secrecy::Public,
        used_by: CLI_ONLY,
        help: "not supported: the Claude Code CLI has no temperature setting",
    },
    KeyDef {
        key: key::APPROVAL_TIMEOUT_SECS,
        env: "APPROVAL_TIMEOUT",
        kind: SECS,
        default: "3600",
        secrecy: Secrecy::Public,
        used_by: CLI_ONLY,
        help: "seconds an approval gate waits before the workflow fails",
    },
    KeyDef {
        key: key::TEST_TIMEOUT_SECS,
        env: "TEST_TIMEOUT",
        kind: SECS,
        default: "600",
        secrecy: Secrecy::Public,
        used_by: &[Service::Cli, Service::TestRunner],
        help: "seconds one run of the project's tests may take",
    },
    KeyDef {
        key: key::BUDGET_USD,
        env: "CT_BUDGET_USD",
        kind: Kind::Dollars,
        default: "",
        secrecy: Secrecy::Public,
        used_by: CLI_ONLY,
        help: "what one workflow may spend, in USD; a run that crosses it stops and the workflow \
               waits for `budget ID --add USD`; empty: no limit",
    },
    KeyDef {
        key: key::BUDGET_WARN_AT,
        env: "CT_BUDGET_WARN_AT",
        kind: Kind::Fraction,
        default: "0.8",
        secrecy: Secrecy::Public,
        used_by: CLI_ONLY,
        help: "fraction of a budget at which a budget.warning event goes out",
    },
    KeyDef {
        key: key::WORKER_MAX_ACTIVITIES,
        env: "WORKER_MAX_ACTIVITIES",
        kind: COUNT,
        default: "20",
        secrecy: Secrecy::Public,
        used_by: &[Service::Worker],
        help: "activities (agent runs, test runs, git work) one worker runs at once; read by ct-worker",
    },
    KeyDef {
        key: key::WORKER_MAX_WORKFLOWS,
        env: "WORKER_MAX_WORKFLOWS",
        kind: Kind::Number { min: 2, max: 10_000 },
        default: "100",
        secrecy: Secrecy::Public,
        used_by: &[Service::Worker],
        help: "workflow tasks one worker processes at once; read by ct-worker",
    },
    KeyDef {
        key: key::WORKER_PROMOTE,
        env: "CT_PROMOTE",
        kind: Kind::OneOf(&["first", "always"]),
        default: "first",
        secrecy: Secrecy::Public,
        used_by: &[Service::Worker],
        help: "when the worker makes its build current: `first` (only a fleet's first build; later ones \
               with `fleet promote`), `always` (once all its processes poll: one build at a time, in place)",
    },
    KeyDef {
        key: key::PROJECT_PATH,
        env: "PROJECT_PATH",
        kind: Kind::Path,
        default: "",
        secrecy: Secrecy::Public,
        used_by: CLI_ONLY,
        help: "project `start` works on when none is given",
    },
    KeyDef {
        key: key::METRICS_FILE,
        env: "METRICS_FILE",
        kind: Kind::Path,
        default: "metrics.jsonl",
        secrecy: Secrecy::Public,
        used_by: &[Service::Cli, Service::MetricsSink],
        help: "JSONL file the metrics-sink appends one line per stage to",
    },
    KeyDef {
        key: key::LOG_LEVEL,
        env: "LOG_LEVEL",
        kind: Kind::LogLevel,
        default: "info",
        secrecy: Secrecy::Public,
        used_by: SERVICES,
        help: "log level of the services (trace, debug, info, warn, error)",
    },
    KeyDef {
        key: key::NOTIFICATION_TYPE,
        env: "NOTIFICATION_TYPE",
        kind: Kind::NotificationTypes,
        default: "console",
        secrecy: Secrecy::Public,
        used_by: NOTIFIER,
        help: "where the notifier sends events: console, slack, webhook (comma-separated)",
    },
    KeyDef {
        key: key::SLACK_WEBHOOK_URL,
        env: "SLACK_WEBHOOK_URL",
        kind: Kind::OptionalUrl,
        default: "",
        secrecy: Secrecy::Url,
        used_by: NOTIFIER,
        help: "Slack incoming-webhook URL",
    },
    KeyDef {
        key: key::SLACK_CHANNEL,
        env: "SLACK_CHANNEL",
        kind: Kind::Text,
        default: "",
        secrecy: Secrecy::Public,
        used_by: NOTIFIER,
        help: "Slack channel instead of the webhook's own",
    },
    KeyDef {
        key: key::WEBHOOK_URL,
        env: "NOTIFICATION_WEBHOOK_URL",
        kind: Kind::OptionalUrl,
        default: "",
        secrecy: Secrecy::Url,
        used_by: NOTIFIER,
        help: "generic webhook URL",
    },
    KeyDef {
        key: key::WEBHOOK_SECRET,
        env: "NOTIFICATION_WEBHOOK_SECRET",
        kind: Kind::Text,
        default: "",
        secrecy: Secrecy::Secret,
        used_by: NOTIFIER,
        help: "signing secret of the generic webhook",
    },
    KeyDef {
        key: key::CONSOLE_EVENTS,
        env: "NOTIFY_CONSOLE_EVENTS",
        kind: Kind::Text,
        default: "*,!agent.progress,!agent.stopping,!cost.updated",
        secrecy: Secrecy::Public,
        used_by: NOTIFIER,
        help: "events the console shows: types, families (stage.*), * and !exclusions",
    },
    KeyDef {
        key: key::SLACK_EVENTS,
        env: "NOTIFY_SLACK_EVENTS",
        kind: Kind::Text,
        default: "workflow.completed,workflow.failed,workflow.cancelled,stage.failed,approval.requested,approval.timed_out,budget.warning,budget.exhausted",
        secrecy: Secrecy::Public,
        used_by: NOTIFIER,
        help: "events posted to Slack",
    },
    KeyDef {
        key: key::WEBHOOK_EVENTS,
        env: "NOTIFY_WEBHOOK_EVENTS",
        kind: Kind::Text,
        default: "*,!agent.progress,!agent.stopping,!cost.updated",
        secrecy: Secrecy::Public,
        used_by: NOTIFIER,
        help: "events sent to the webhook",
    },
    KeyDef {
        key: key::NOTIFY_MAX_ATTEMPTS,
        env: "NOTIFY_MAX_ATTEMPTS",
        kind: Kind::Number { min: 1, max: 100 },
        default: "5",
        secrecy: Secrecy::Public,
        used_by: NOTIFIER,
        help: "attempts per event and backend before the event is dead-lettered",
    },
    KeyDef {
        key: key::CONSOLE_LINKS,
        env: "NOTIFY_CONSOLE_LINKS",
        kind: Kind::OneOf(&["off", "on"]),
        default: "off",
        secrecy: Secrecy::Public,
        used_by: NOTIFIER,
        help: "on: the console prints approval requests' signed links (anyone reading its log can use them)",
    },
    KeyDef {
        key: key::NATS_URL,
        env: "NATS_URL",
        kind: Kind::NatsUrls,
        default: "nats://127.0.0.1:4222",
        secrecy: Secrecy::UserInfo,
        used_by: NATS_CLIENTS,
        help: "NATS server(s) for events",
    },
    KeyDef {
        key: key::NATS_USER,
        env: "NATS_USER",
        kind: Kind::Text,
        default: "",
        secrecy: Secrecy::Public,
        used_by: NATS_CLIENTS,
        help: "the user to log in to NATS as, with the password in NATS_PASSWORD_FILE (compose: one user per \
               service, allowed only its own subjects: deploy/nats.conf); empty: no login",
    },
    KeyDef {
        key: key::NATS_PASSWORD_FILE,
        env: "NATS_PASSWORD_FILE",
        kind: Kind::Path,
        default: "",
        secrecy: Secrecy::Public,
        used_by: NATS_CLIENTS,
        help: "a file holding NATS_USER's password (a file, so that no environment listing shows it)",
    },
    KeyDef {
        key: key::WORKSPACE_ROOTS,
        env: "CT_WORKSPACE_ROOTS",
        kind: Kind::PathList,
        default: "",
        secrecy: Secrecy::Public,
        used_by: &[Service::Cli, Service::Executor, Service::TestRunner],
        help: "`:`-separated directories projects may live in; executors and test-runners refuse others \
               (dev up: $HOME and the temp dir)",
    },
    KeyDef {
        key: key::CLAUDE_BIN,
        env: "CLAUDE_BIN",
        kind: Kind::Name,
        default: "claude",
        secrecy: Secrecy::Public,
        used_by: EXECUTOR,
        help: "the agent CLI: a path, or a name looked up on PATH",
    },
    KeyDef {
        key: key::CLAUDE_API_RETRIES,
        env: "CLAUDE_CODE_MAX_RETRIES",
        kind: Kind::Number { min: 0, max: 100 },
        default: "2",
        secrecy: Secrecy::Public,
        used_by: EXECUTOR,
        help: "retries the agent CLI makes on API errors (Temporal retries the whole run)",
    },
    KeyDef {
        key: key::EXECUTOR_MAX_CONCURRENT,
        env: "EXECUTOR_MAX_CONCURRENT",
        kind: COUNT,
        default: "2",
        secrecy: Secrecy::Public,
        used_by: EXECUTOR,
        help: "agent runs one executor takes at once; more wait in Temporal's queue",
    },
    KeyDef {
        key: key::EXECUTOR_MAX_TIMEOUT_SECS,
        env: "EXECUTOR_MAX_TIMEOUT",
        kind: ZERO_MEANS_DEFAULT,
        default: "0",
        secrecy: Secrecy::Public,
        used_by: EXECUTOR,
        help: "cap on the seconds of any agent run, whatever a workflow asks; 0: none",
    },
    KeyDef {
        key: key::EXECUTOR_MAX_TURNS,
        env: "EXECUTOR_MAX_TURNS",
        kind: ZERO_MEANS_DEFAULT,
        default: "0",
        secrecy: Secrecy::Public,
        used_by: EXECUTOR,
        help: "cap on the turns of any agent run, whatever a workflow asks; 0: none",
    },
    KeyDef {
        key: key::EXECUTOR_ALLOWED_MODELS,
        env: "EXECUTOR_ALLOWED_MODELS",
        kind: Kind::Text,
        default: "",
        secrecy: Secrecy::Public,
        used_by: EXECUTOR,
        help: "models agent runs may use, comma-separated; empty: any",
    },
    KeyDef {
        key: key::EXECUTOR_SHUTDOWN_GRACE_SECS,
        env: "EXECUTOR_SHUTDOWN_GRACE",
        kind: GRACE_SECS,
        default: "2",
        secrecy: Secrecy::Public,
        used_by: EXECUTOR,
        help: "seconds running agents get after SIGTERM before they are killed and retried elsewhere",
    },
    KeyDef {
        key: key::EXECUTOR_PRICE_TABLE,
        env: "CT_PRICE_TABLE",
        kind: Kind::Path,
        default: "",
        secrecy: Secrecy::Public,
        used_by: EXECUTOR,
        help: "TOML file of [[prices]] (model, effective date, input/output/cache_write/cache_read $ per million tokens) added to the built-in table for live costs",
    },
    KeyDef {
        key: key::TEST_RUNNER_MAX_CONCURRENT,
        env: "TEST_RUNNER_MAX_CONCURRENT",
        kind: COUNT,
        default: "2",
        secrecy: Secrecy::Public,
        used_by: TEST_RUNNER,
        help: "test runs one test-runner takes at once; more wait in Temporal's queue",
    },
    KeyDef {
        key: key::TEST_RUNNER_MAX_TIMEOUT_SECS,
        env: "TEST_MAX_TIMEOUT",
        kind: ZERO_MEANS_DEFAULT,
        default: "0",
        secrecy: Secrecy::Public,
        used_by: TEST_RUNNER,
        help: "cap on the seconds of any test run, whatever a workflow asks; 0: none",
    },
    KeyDef {
        key: key::TEST_RUNNER_SHUTDOWN_GRACE_SECS,
        env: "TEST_RUNNER_SHUTDOWN_GRACE",
        kind: GRACE_SECS,
        default: "2",
        secrecy: Secrecy::Public,
        used_by: TEST_RUNNER,
        help: "seconds running tests get after SIGTERM before they are killed and retried elsewhere",
    },
    KeyDef {
        key: key::SANDBOX_MODE,
        env: "CT_SANDBOX",
        kind: Kind::OneOf(&["auto", "required", "off"]),
        default: "auto",
        secrecy: Secrecy::Public,
        used_by: RUNNERS,
        help: "confinement of agent and test runs: auto (namespaces through bubblewrap and Landlock, \
               each where the machine has it), required (refuse to start without both) or off",
    },
    KeyDef {
        key: key::SANDBOX_NETWORK,
        env: "CT_SANDBOX_NETWORK",
        kind: Kind::OneOf(&["open", "model"]),
        default: "open",
        secrecy: Secrecy::Public,
        used_by: EXECUTOR,
        help: "without namespaces (no bubblewrap), what the agent's tools may connect to: open, or \
               model (only the model endpoint's port and the proxy's; needs Landlock ABI 4); in \
               namespaces there is no network but the model relay and CT_SANDBOX_ALLOW_HOSTS",
    },
    KeyDef {
        key: key::SANDBOX_ALLOW_HOSTS,
        env: "CT_SANDBOX_ALLOW_HOSTS",
        kind: Kind::Text,
        default: "",
        secrecy: Secrecy::Public,
        used_by: RUNNERS,
        help: "hosts runs in namespaces may reach through the egress proxy, comma-separated: host \
               (port 443), host:PORT, host:* or *.domain (e.g. pypi.org,*.pythonhosted.org); \
               empty: none (agents still reach their model through the relay)",
    },
    KeyDef {
        key: key::SANDBOX_WRITABLE,
        env: "CT_SANDBOX_WRITABLE",
        kind: Kind::PathList,
        default: "",
        secrecy: Secrecy::Public,
        used_by: RUNNERS,
        help: "`:`-separated paths runs may write besides their worktree, HOME and TMPDIR \
               (toolchain caches are added by the test-runner)",
    },
    KeyDef {
        key: key::SANDBOX_MAX_CPU_SECS,
        env: "CT_SANDBOX_MAX_CPU_SECS",
        kind: ZERO_MEANS_DEFAULT,
        default: "3600",
        secrecy: Secrecy::Public,
        used_by: RUNNERS,
        help: "CPU seconds each process of a run may use; 0: no limit",
    },
    KeyDef {
        key: key::SANDBOX_MAX_FILE_MB,
        env: "CT_SANDBOX_MAX_FILE_MB",
        kind: ZERO_MEANS_DEFAULT,
        default: "4096",
        secrecy: Secrecy::Public,
        used_by: RUNNERS,
        help: "largest file a run may write, in MiB; 0: no limit",
    },
    KeyDef {
        key: key::SANDBOX_MAX_OPEN_FILES,
        env: "CT_SANDBOX_MAX_OPEN_FILES",
        kind: ZERO_MEANS_DEFAULT,
        default: "8192",
        secrecy: Secrecy::Public,
        used_by: RUNNERS,
        help: "open files per process of a run; 0: the service's own limit",
    },
    KeyDef {
        key: key::SANDBOX_MAX_PROCESSES,
        env: "CT_SANDBOX_MAX_PROCESSES",
        kind: ZERO_MEANS_DEFAULT,
        default: "0",
        secrecy: Secrecy::Public,
        used_by: RUNNERS,
        help: "processes of the service's user a run may start (RLIMIT_NPROC counts the whole \
               user, and root is exempt); 0: no limit",
    },
    KeyDef {
        key: key::GATEWAY_LISTEN,
        env: "CT_GATEWAY_LISTEN",
        kind: Kind::ListenAddress,
        default: "127.0.0.1:8788",
        secrecy: Secrecy::Public,
        used_by: GATEWAY,
        help: "where the gateway listens; loopback unless a proxy in front of it must reach it",
    },
    KeyDef {
        key: key::GATEWAY_URL,
        env: "CT_GATEWAY_URL",
        kind: Kind::HttpUrl,
        default: "http://127.0.0.1:8788",
        secrecy: Secrecy::Public,
        used_by: LINK_MAKERS,
        help: "where people reach the gateway: the start of approval and sign-in links",
    },
    KeyDef {
        key: key::LINK_KEY_FILE,
        env: "CT_LINK_KEY_FILE",
        kind: Kind::Path,
        default: "",
        secrecy: Secrecy::Public,
        used_by: LINK_MAKERS,
        help: "file with the key approval links are signed with (32 bytes or more); none: no links",
    },
    KeyDef {
        key: key::SLACK_SIGNING_SECRET_FILE,
        env: "SLACK_SIGNING_SECRET_FILE",
        kind: Kind::Path,
        default: "",
        secrecy: Secrecy::Public,
        used_by: GATEWAY,
        help: "file with the Slack app's signing secret; none: Slack's buttons are refused",
    },
    KeyDef {
        key: key::SLACK_APPROVERS,
        env: "CT_SLACK_APPROVERS",
        kind: Kind::Text,
        default: "",
        secrecy: Secrecy::Public,
        used_by: GATEWAY,
        help: "Slack user ids (U…) who may approve, comma-separated; none: nobody",
    },
    KeyDef {
        key: key::SLACK_RESPONSE_URL_PREFIX,
        env: "CT_SLACK_RESPONSE_URL_PREFIX",
        kind: Kind::HttpUrl,
        default: "https://hooks.slack.com/",
        secrecy: Secrecy::Public,
        used_by: GATEWAY,
        help: "the only place a Slack click's response_url may point",
    },
];

pub(crate) fn def(key: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|def| def.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_default_passes_its_own_check() {
        for def in KEYS {
            def.kind
                .check(def.default)
                .unwrap_or_else(|reason| panic!("{}: default {:?}: {reason}", def.key, def.default));
        }
    }
}
