//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::dev::DevArgs;

/// Durable, observable coding-agent workflows on Temporal.
///
/// Exit codes: 0 success; 1 the workflow failed, was rejected or cancelled;
/// 2 bad input; 3 unknown workflow id; 4 Temporal (or the worker) unreachable.
#[derive(Debug, Parser)]
#[command(name = "claude-temporal", version, propagate_version = true)]
pub struct Cli {
    /// Config file (default: ./claude-temporal.toml, else
    /// $XDG_CONFIG_HOME/claude-temporal/config.toml). `config show` lists every setting.
    #[arg(long, global = true, env = "CLAUDE_TEMPORAL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub temporal: TemporalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where Temporal is. Unset flags come from the configuration (TEMPORAL_ADDRESS,
/// TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, TEMPORAL_UI_BASE_URL, config file, defaults).
#[derive(Debug, Args)]
pub struct TemporalArgs {
    /// Temporal frontend address, host:port [default: 127.0.0.1:7233].
    #[arg(long, global = true)]
    pub temporal_address: Option<String>,
    /// Temporal namespace [default: default].
    #[arg(long, global = true)]
    pub namespace: Option<String>,
    /// Task queue the workers poll [default: claude-temporal].
    #[arg(long, global = true)]
    pub task_queue: Option<String>,
    /// Base URL of the Temporal Web UI, for links [default: http://127.0.0.1:8233].
    #[arg(long, global = true)]
    pub ui_base_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the develop workflow on a git project and print its id.
    Start(StartArgs),
    /// Show a workflow's stages, tokens, cost and what it waits for.
    Status(IdArgs),
    /// Approve the stage a workflow is waiting on.
    Approve(ApproveArgs),
    /// Reject the stage a workflow is waiting on; the workflow fails with the reason.
    Reject(RejectArgs),
    /// Print a signed link that approves (or rejects) the gate a workflow waits at, for a
    /// browser or a phone: it opens a confirmation page on the gateway (`ct-gateway`).
    Link(LinkArgs),
    /// Print a one-time link that signs you in to the web dashboard (on the gateway): the
    /// workflows, their stages, cost and gates, live.
    Ui(UiArgs),
    /// Show a workflow's budget, or raise it with --add: a run stopped at its budget goes on.
    Budget(BudgetArgs),
    /// Wait for a workflow to end, showing progress; exits 0 only if it completed.
    Result(IdArgs),
    /// List recent workflows.
    List(ListArgs),
    /// Cancel a running workflow; its agent is stopped within seconds.
    Cancel(CancelArgs),
    /// Run the local stack: Temporal dev server, NATS, worker, executor, test-runner.
    Dev(DevArgs),
    /// Show the stages a `start` would run: built-in templates, the project's
    /// .claude-temporal.toml, or a --stages file.
    Stages(StagesArgs),
    /// Show the effective configuration and where each value comes from.
    Config(ConfigArgs),
    /// Hooks the agent CLI calls during runs (registered by the executor).
    #[command(hide = true)]
    Hook(HookArgs),
    /// List the git snapshots a workflow took of its project: stage, time, files.
    Snapshots(IdArgs),
    /// Put the project's files back as a snapshot holds them (default: the latest), while
    /// the workflow is not running a stage. HEAD and the index are left as they are.
    Rollback(RollbackArgs),
    /// Run the agent on one issue until the tests pass; each iteration sees what failed.
    #[command(alias = "iterative")]
    Iterate(IterateArgs),
    /// Follow a workflow live from its events on NATS: stages, tool uses, tokens, cost, tests.
    Watch(WatchArgs),
    /// Summarise the metrics file: cost per workflow and stage, failures.
    Metrics(MetricsArgs),
    /// Build several features at once, each on branch feature-<i>-<slug> in its own worktree;
    /// with --integrate, merge them into one integration branch afterwards.
    Parallel(ParallelArgs),
    /// Merge existing branches into one integration branch, one after the other: agents resolve
    /// conflicts and fix tests the combination broke; a branch that still conflicts or breaks
    /// tests is held back. Your checkout is only touched with --land.
    Integrate(IntegrateArgs),
    /// List the fleet's builds (which one new workflows start on, and the workflows each still
    /// runs) and the executors and test-runners polling their task queues: capacity, runs in
    /// flight, queued work, agent CLIs and test tools. Needs the stack's control token.
    /// `fleet promote BUILD` rolls the fleet forward (or back) to a build.
    Fleet(FleetArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub command: Option<FleetCommand>,
    /// File with the control API's token [default: control.token in the local stack's state
    /// directory]; CT_CONTROL_TOKEN, if set, is used instead.
    #[arg(long, env = "CT_CONTROL_TOKEN_FILE")]
    pub control_token_file: Option<std::path::PathBuf>,
    /// Print the fleet as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Make BUILD the build new workflows start on (roll forward, or back to an earlier build).
    /// Workflows already running stay on the build that started them until they end; keep that
    /// build's processes running until `fleet` shows it drained. Start all of BUILD's
    /// processes (worker, executors, test-runners) first.
    Promote(PromoteArgs),
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The build's id (its processes' CT_BUILD_ID).
    pub build: String,
    /// Send only this percentage (0-100) of new workflows to BUILD; the rest stay on the current
    /// build. Promote again without it to finish.
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub ramp: Option<u8>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Path of the git work tree the agent works in (default: PROJECT_PATH).
    pub project: Option<PathBuf>,
    /// Features to build; each stage's prompt names them.
    #[arg(long, num_args = 1.., value_name = "FEATURE")]
    pub features: Vec<String>,
    #[command(flatten)]
    pub stages: StageSelectionArgs,
    /// Workflow id (default: develop-<project>-<time>).
    #[arg(long)]
    pub id: Option<String>,
    /// Fail a stage on any failing test, also those that failed before the first stage (by
    /// default the project's tests run once first, and a stage fails only on tests it broke).
    #[arg(long)]
    pub strict_tests: bool,
    /// Slack user ids (U…), comma-separated, who may decide this workflow's gates with Slack's
    /// buttons, instead of the gateway's CT_SLACK_APPROVERS.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub slack_approvers: Vec<String>,
    #[command(flatten)]
    pub settings: RunSettingsArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which stages run: a built-in template, adjusted or replaced by the project's
/// .claude-temporal.toml, or a stage file.
#[derive(Debug, Args)]
pub struct StageSelectionArgs {
    /// Built-in stage template: llm-wrapper, api, frontend [default: llm-wrapper, or the stage
    /// file's `template`].
    #[arg(long)]
    pub template: Option<String>,
    /// Stage file (TOML) to use instead of the project's .claude-temporal.toml.
    #[arg(long, value_name = "FILE")]
    pub stages: Option<PathBuf>,
}

/// Limits of a run. Unset flags come from the configuration: environment (APPROVAL_TIMEOUT,
/// CLAUDE_MODEL, CLAUDE_MAX_TURNS, CLAUDE_TIMEOUT, CLAUDE_MAX_TOKENS, TEST_TIMEOUT), .env,
/// config file, the CLAUDE_TEMPORAL_ENV preset, defaults. Stages may set their own.
#[derive(Debug, Args)]
pub struct RunSettingsArgs {
    /// Seconds an approval gate waits before the workflow fails [env: APPROVAL_TIMEOUT].
    #[arg(long)]
    pub approval_timeout: Option<u64>,
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub budget: BudgetLimitArgs,
}

/// What a workflow may spend.
#[derive(Debug, Args)]
pub struct BudgetLimitArgs {
    /// What the whole workflow may spend, in USD. The agent run that crosses it is stopped at
    /// that model response and the workflow waits (as long as an approval gate) for
    /// `claude-temporal budget ID --add USD` [env: CT_BUDGET_USD]. Develop stages may have their
    /// own (`budget_usd`, `[budgets]` in the stage file).
    #[arg(long, value_name = "USD")]
    pub budget_usd: Option<String>,
    /// Fraction of a budget at which a budget.warning event goes out [env: CT_BUDGET_WARN_AT;
    /// default: 0.8].
    #[arg(long, value_name = "FRACTION")]
    pub budget_warn_at: Option<String>,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Workflow id.
    pub id: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    pub id: String,
    #[arg(long, default_value = "")]
    pub comment: String,
    /// The stage to approve (default: the one awaiting approval).
    #[arg(long)]
    pub stage: Option<String>,
}

/// The gateway the CLI makes links for, and the key they are signed with.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Where people reach the gateway [env: CT_GATEWAY_URL; default: http://127.0.0.1:8788].
    #[arg(long)]
    pub gateway_url: Option<String>,
    /// File holding the key links are signed with, the gateway's own [env: CT_LINK_KEY_FILE].
    #[arg(long)]
    pub link_key_file: Option<PathBuf>,
}

impl GatewayArgs {
    /// The flags given, as configuration.
    pub fn flags(&self) -> impl Iterator<Item = ct_config::Flag> {
        let key = ct_config::Flag::given(
            ct_config::key::LINK_KEY_FILE,
            "--link-key-file",
            self.link_key_file.as_deref().map(std::path::Path::display),
        );
        let url = ct_config::Flag::given(ct_config::key::GATEWAY_URL, "--gateway-url", self.gateway_url.as_ref());
        key.into_iter().chain(url)
    }
}

#[derive(Debug, Args)]
pub struct UiArgs {
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Print the link as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LinkArgs {
    pub id: String,
    /// A link that rejects instead of approving.
    #[arg(long)]
    pub reject: bool,
    /// Minutes the link works for.
    #[arg(long, value_name = "MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=10_080))]
    pub expires_in: u32,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    pub id: String,
    #[arg(long, default_value = "rejected by reviewer")]
    pub reason: String,
    /// The stage to reject (default: the one awaiting approval).
    #[arg(long)]
    pub stage: Option<String>,
}

#[derive(Debug, Args)]
pub struct BudgetArgs {
    pub id: String,
    /// US dollars to add to the limit the workflow waits on (a stage's, else the workflow's).
    #[arg(long, value_name = "USD", allow_negative_numbers = true)]
    pub add: Option<f64>,
    /// Print the budget as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    pub id: String,
    #[arg(long, default_value = "cancelled from the command line")]
    pub reason: String,
    /// Leave the cancelled stage's edits in the work tree (by default they are undone: the
    /// tree goes back to the snapshot taken before that stage).
    #[arg(long)]
    pub keep_changes: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub id: String,
    /// Snapshot number, as `snapshots` lists them (default: the latest).
    pub number: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

/// How the agent of a run is configured. Unset flags come from the configuration, as for
/// `start`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Model for the agent; empty: the executor's [env: CLAUDE_MODEL].
    #[arg(long)]
    pub model: Option<String>,
    /// Turn limit of each agent run; 0: the executor's [env: CLAUDE_MAX_TURNS].
    #[arg(long)]
    pub max_turns: Option<u32>,
    /// Seconds one agent run may take [env: CLAUDE_TIMEOUT].
    #[arg(long)]
    pub agent_timeout: Option<u64>,
    /// Cap on output tokens per model response; 0: the CLI's [env: CLAUDE_MAX_TOKENS].
    #[arg(long)]
    pub max_output_tokens: Option<u32>,
    /// Seconds one run of the project's tests may take [env: TEST_TIMEOUT].
    #[arg(long)]
    pub test_timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct IterateArgs {
    /// Path of the git work tree the agent works in.
    pub project: PathBuf,
    /// What to fix or build.
    pub issue: String,
    /// Most agent runs before the loop gives up (1 to 500); a long loop continues as a new
    /// Temporal run whenever Temporal suggests it, so its history stays small.
    #[arg(long, default_value_t = 5)]
    pub max_iterations: u32,
    /// Seconds to wait before the second iteration; doubled before each later one.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub backoff: u64,
    /// Longest wait between iterations, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub max_backoff: u64,
    /// Workflow id (default: iterate-<project>-<time>).
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub budget: BudgetLimitArgs,
    /// Seconds a run stopped at the budget waits for `budget --add` [env: APPROVAL_TIMEOUT].
    #[arg(long, value_name = "SECS")]
    pub budget_wait: Option<u64>,
    /// Wait for the end and print the final status.
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ParallelArgs {
    /// Path of the git work tree; it is left untouched (features start from its HEAD).
    pub project: PathBuf,
    /// The features, one agent each.
    #[arg(required = true, num_args = 1..)]
    pub features: Vec<String>,
    /// Keep the worktrees at the end (the branches are kept either way).
    #[arg(long)]
    pub keep: bool,
    /// Fail a stage on any failing test, also those that failed before the first stage (by
    /// default the project's tests run once first, and a stage fails only on tests it broke).
    #[arg(long)]
    pub strict_tests: bool,
    /// Run at most N features at once; the others wait their turn, in the order given
    /// [default: all at once].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent: Option<u32>,
    /// Once the features are done, merge their branches into one integration branch.
    #[arg(long)]
    pub integrate: bool,
    #[command(flatten)]
    pub integration: IntegrationFlags,
    /// Workflow id (default: parallel-<project>-<time>).
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Wait for the end and print a table per feature.
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

/// How branches are integrated (`parallel --integrate`, `integrate`).
#[derive(Debug, Args)]
pub struct IntegrationFlags {
    /// Name of the integration branch to create [default: integration/<workflow id>].
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// At the end, fast-forward your branch to the integration branch, only if it is still
    /// where the features started and your work tree is clean (otherwise it says so and prints
    /// the command that merges it).
    #[arg(long)]
    pub land: bool,
    /// Agent runs that may fix the tests a merge broke, per branch (0-10) [default: 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10))]
    pub fix_attempts: Option<u32>,
    /// Merge in the order given instead of fewest predicted conflicts first.
    #[arg(long)]
    pub as_given: bool,
}

#[derive(Debug, Args)]
pub struct IntegrateArgs {
    /// Path of the git work tree whose repository holds the branches.
    pub project: PathBuf,
    /// The branches to merge (local branches of the repository).
    #[arg(required = true, num_args = 1..)]
    pub branches: Vec<String>,
    #[command(flatten)]
    pub integration: IntegrationFlags,
    /// Fail a merge on any failing test, also those that failed before it (by default the
    /// tests run once at the branches' base first, and only new failures count).
    #[arg(long)]
    pub strict_tests: bool,
    /// Keep the integration worktree at the end (the branch is kept either way).
    #[arg(long)]
    pub keep: bool,
    /// Workflow id (default: integrate-<project>-<time>).
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Wait for the end and print what became of each branch.
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StagesArgs {
    #[command(subcommand)]
    pub command: StagesCommand,
}

#[derive(Debug, Subcommand)]
pub enum StagesCommand {
    /// List the stages with their gates and agent settings.
    List(StagesListArgs),
    /// Show one stage: its settings, effective limits and prompt.
    Show(StagesShowArgs),
}

#[derive(Debug, Args)]
pub struct StagesListArgs {
    /// Project whose .claude-temporal.toml applies (default: PROJECT_PATH, else the current
    /// directory).
    #[arg(long)]
    pub project: Option<PathBuf>,
    #[command(flatten)]
    pub stages: StageSelectionArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StagesShowArgs {
    /// Stage name.
    pub name: String,
    #[command(flatten)]
    pub list: StagesListArgs,
    #[command(flatten)]
    pub settings: RunSettingsArgs,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting, its value (secrets redacted) and where it came from.
    Show(ConfigShowArgs),
}

#[derive(Debug, Args)]
pub struct ConfigShowArgs {
    /// Show only the settings this service reads (cli, worker, executor, test-runner, notifier,
    /// metrics-sink or gateway); `dev up` hands it every one that is not its default, and wires the
    /// addresses of the stack's own servers itself. The service's --print-config shows the same.
    #[arg(long, value_name = "NAME", value_parser = parse_service)]
    pub service: Option<ct_config::Service>,
    /// Show the values a `start` with these flags would use.
    #[command(flatten)]
    pub settings: RunSettingsArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    #[command(subcommand)]
    pub command: HookCommand,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// UserPromptSubmit: reads the hook's JSON on stdin and prints the project's context for
    /// the agent. Local only; never fails the prompt.
    PromptSubmit,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Workflow id.
    pub id: String,
    /// NATS server holding the events [env: NATS_URL; default: the configuration's].
    #[arg(long)]
    pub nats_url: Option<String>,
    /// Print each event as its CloudEvents JSON, one per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The JSONL file the metrics-sink writes [env: METRICS_FILE; default: the configured
    /// file, else the local stack's (`dev up`), else ./metrics.jsonl].
    #[arg(long)]
    pub metrics_file: Option<std::path::PathBuf>,
    /// Only stages finished within this long: 90s, 30m, 12h, 7d.
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn parse_service(name: &str) -> Result<ct_config::Service, String> {
    ct_config::Service::parse(name)
}
