//! The merge queue: feature branches merged one after the other into an integration branch in
//! a worktree of its own. A textual conflict goes to an agent run with both sides; tests the
//! combination broke (against the baseline) go to up to `fix_attempts` agent runs; a feature
//! that still conflicts or breaks tests is held back (the branch goes back to before it). Every
//! agent run is an ordinary durable one, its spend in the workflow's totals. Shared by
//! `parallel --integrate` and the integrate workflow.

use ct_contracts::{
    CommitTask, ConcludeTask, ConflictsTask, IntegrationWorktreeTask, LandTask, MergeTask, RemoveWorktreeTask,
    ResetTask, WorkspaceActivities,
};
use ct_domain::git::{ConcludeOutcome, IntegrationWorktree, MergeOutcome};
use ct_domain::integration::{
    FeatureOutcome, IntegrateBranch, IntegrateOptions, IntegratedFeature, IntegrationStatus, Landing, fix_prompt,
    integration_branch, merge_order, resolve_prompt,
};
use ct_domain::{AgentSettings, StageState, StageStatus, TestBaseline};
use ct_events::EventData;
use ct_events::data::{
    ConflictPredicted, ConflictResolved, FeatureHeldBack, FeatureMerged, IntegrationCompleted, IntegrationStarted,
};
use temporalio_common::error::IncomingError;
use temporalio_sdk::{ActivityExecutionError, WorkflowContext};

use super::events::emit;
use super::gate::{self, Verdict};
use super::record::{record_agent, record_attempts};
use super::{HasStatus, agent_run, options};

/// What to integrate, and how.
pub(super) struct Plan {
    pub(super) project_path: String,
    pub(super) branches: Vec<IntegrateBranch>,
    pub(super) options: IntegrateOptions,
    pub(super) agent: AgentSettings,
    pub(super) test_timeout_secs: u64,
    pub(super) strict_tests: bool,
    /// The project's tests at the features' base, when the caller took them; otherwise they are
    /// taken in the integration worktree before the first merge (unless strict).
    pub(super) baseline: Option<TestBaseline>,
    pub(super) keep_worktree: bool,
}

/// Finds which pairs of `branches` would conflict when merged (in memory, nothing merged), for
/// the status and as `conflict.predicted` events; the merge order follows from them. A
/// prediction that cannot be made is logged: the features are done either way.
pub(super) async fn predict_conflicts<W: HasStatus>(
    ctx: &WorkflowContext<W>,
    project_path: &str,
    branches: Vec<String>,
) {
    if branches.len() < 2 {
        return;
    }
    let task = ConflictsTask { project_path: project_path.to_owned(), branches };
    let predicted =
        ctx.execute_activity(WorkspaceActivities::predict_conflicts, task, options::workspace(ctx.task_queue())).await;
    let predicted = match predicted {
        Ok(predicted) => predicted,
        Err(err) => {
            tracing::warn!(error = %options::failure_message(&err), "conflicts between the branches not predicted");
            return;
        }
    };
    let workflow_id = ctx.workflow_id().to_owned();
    for conflict in &predicted {
        let event = ConflictPredicted {
            workflow_id: workflow_id.clone(),
            first: conflict.first.clone(),
            second: conflict.second.clone(),
            files: conflict.files.clone(),
            files_truncated: conflict.files_truncated,
        };
        emit(ctx, EventData::ConflictPredicted(event)).await;
    }
    ctx.state_mut(|s| s.status_mut().predicted_conflicts = predicted);
}

/// Why a feature is not merged, or `Stop` when the integration cannot go on at all.
enum Held {
    Back(String),
    Stop(String),
}

/// Integrates the plan's branches, recording everything in `status.integration`. `Err` when the
/// integration could not go on (no worktree, a held-back feature that could not be undone, a
/// cancel); the features merged until then stay on the branch.
pub(super) async fn integrate<W: HasStatus>(ctx: &WorkflowContext<W>, plan: Plan) -> Result<(), String> {
    let workflow_id = ctx.workflow_id().to_owned();
    let branch = plan.options.into.clone().unwrap_or_else(|| integration_branch(&workflow_id));
    let names: Vec<String> = plan.branches.iter().map(|b| b.branch.clone()).collect();
    let task = IntegrationWorktreeTask {
        project_path: plan.project_path.clone(),
        workflow_id: workflow_id.clone(),
        branch: branch.clone(),
        branches: names.clone(),
    };
    let worktree = ctx
        .execute_activity(WorkspaceActivities::create_integration_worktree, task, options::workspace(ctx.task_queue()))
        .await
        .map_err(|err| options::activity_failed("creating the integration branch", &err))?;
    let order = merge_order(&names, &ctx.state(|s| s.status().predicted_conflicts.clone()), plan.options.as_given);
    ctx.state_mut(|s| {
        s.status_mut().integration = Some(IntegrationStatus {
            branch: branch.clone(),
            worktree: Some(worktree.path.clone()),
            base: worktree.base.clone(),
            commit: Some(worktree.base.clone()),
            features: order.iter().map(|b| IntegratedFeature::pending(b)).collect(),
            ..IntegrationStatus::default()
        });
    });
    let started = IntegrationStarted {
        workflow_id: workflow_id.clone(),
        branch: branch.clone(),
        base: worktree.base.clone(),
        order: order.clone(),
    };
    emit(ctx, EventData::IntegrationStarted(started)).await;

    let outcome = merge_all(ctx, &plan, &worktree, &order).await;
    if outcome.is_ok() && plan.options.land {
        land(ctx, &plan.project_path, &worktree).await;
    }
    if !plan.keep_worktree {
        remove_worktree(ctx, &plan.project_path, &worktree.path).await;
    }
    let completed = ctx.state_mut(|s| {
        let integration = s.status_mut().integration.as_mut().expect("set above");
        if let Err(err) = &outcome {
            integration.error = Some(err.clone());
        }
        let named = |wanted: FeatureOutcome| {
            integration.features.iter().filter(|f| f.outcome == wanted).map(|f| f.branch.clone()).collect()
        };
        IntegrationCompleted {
            workflow_id: workflow_id.clone(),
            branch: integration.branch.clone(),
            commit: integration.commit.clone().unwrap_or_default(),
            merged: named(FeatureOutcome::Merged),
            held_back: named(FeatureOutcome::HeldBack),
            landed: match &integration.landing {
                Some(Landing::Landed { branch, .. }) => Some(branch.clone()),
                _ => None,
            },
        }
    });
    emit(ctx, EventData::IntegrationCompleted(completed)).await;
    outcome
}

async fn merge_all<W: HasStatus>(
    ctx: &WorkflowContext<W>,
    plan: &Plan,
    worktree: &IntegrationWorktree,
    order: &[String],
) -> Result<(), String> {
    let baseline = match &plan.baseline {
        Some(baseline) => Some(baseline.clone()),
        None => gate::take_baseline(ctx, &worktree.path, plan.test_timeout_secs, !plan.strict_tests).await,
    };
    let mut merged: Vec<IntegrateBranch> = Vec::new();
    for (position, name) in order.iter().enumerate() {
        if ctx.cancellation_token().is_cancelled() {
            return Err("cancelled".to_owned());
        }
        let branch = plan
            .branches
            .iter()
            .find(|b| &b.branch == name)
            .cloned()
            .unwrap_or_else(|| IntegrateBranch { branch: name.clone(), goal: name.clone() });
        let before = ctx.state(|s| integration(s).commit.clone().unwrap_or_else(|| worktree.base.clone()));
        set_feature(ctx, position, |f| f.outcome = FeatureOutcome::Merging);
        match merge_one(ctx, plan, worktree, position, &branch, &merged, baseline.as_ref()).await {
            Ok(commit) => {
                let described = ctx.state_mut(|s| {
                    let integration = integration_mut(s);
                    integration.commit = Some(commit.clone());
                    let feature = &mut integration.features[position];
                    feature.outcome = FeatureOutcome::Merged;
                    feature.commit = Some(commit.clone());
                    feature.describe()
                });
                let event = FeatureMerged {
                    workflow_id: ctx.workflow_id().to_owned(),
                    feature: branch.branch.clone(),
                    integration_branch: worktree.branch.clone(),
                    commit,
                    outcome: described,
                };
                emit(ctx, EventData::FeatureMerged(event)).await;
                merged.push(branch);
            }
            Err(Held::Back(reason)) => hold_back(ctx, worktree, position, &branch.branch, &before, reason).await?,
            Err(Held::Stop(reason)) => {
                // What this feature brought goes too: the branch ends as its report says.
                hold_back(ctx, worktree, position, &branch.branch, &before, reason.clone()).await?;
                return Err(reason);
            }
        }
    }
    Ok(())
}

/// Merges one branch, resolving and fixing as needed; the integration branch's new commit.
async fn merge_one<W: HasStatus>(
    ctx: &WorkflowContext<W>,
    plan: &Plan,
    worktree: &IntegrationWorktree,
    position: usize,
    branch: &IntegrateBranch,
    merged: &[IntegrateBranch],
    baseline: Option<&TestBaseline>,
) -> Result<String, Held> {
    let message = format!(
        "Merge branch '{}' into {}\n\nMade by claude-temporal workflow {}.\n",
        branch.branch,
        worktree.branch,
        ctx.workflow_id()
    );
    let task =
        MergeTask { worktree_path: worktree.path.clone(), branch: branch.branch.clone(), message: message.clone() };
    let outcome = ctx
        .execute_activity(WorkspaceActivities::merge_branch, task, options::workspace(ctx.task_queue()))
        .await
        .map_err(|err| held("the merge", &err))?;
    let mut commit = match outcome {
        MergeOutcome::Merged { commit } => commit,
        MergeOutcome::Unmergeable { files } => {
            return Err(Held::Back(format!(
                "binary files or links conflict in {}: merge the branch by hand",
                files.join(", ")
            )));
        }
        MergeOutcome::Conflicted { files_truncated: true, files, .. } => {
            return Err(Held::Back(format!("more than {} files conflict: merge the branch by hand", files.len())));
        }
        MergeOutcome::Conflicted { files, tree, theirs, .. } => {
            resolve(ctx, plan, worktree, position, branch, merged, &files, tree, theirs, message).await?
        }
    };
    let mut attempt = 0;
    loop {
        let run_id = format!("{}/integrate/{}/tests-{attempt}", ctx.workflow_id(), branch.branch);
        let tests = match gate::run_tests(ctx, run_id, &worktree.path, plan.test_timeout_secs).await {
            Ok(tests) => tests,
            Err(err) if no_test_framework(&err) => return Ok(commit),
            // Not this feature's fault: the integration stops rather than hold back every feature.
            Err(err) => {
                return Err(match held("the tests", &err) {
                    Held::Back(why) => Held::Stop(why),
                    stop => stop,
                });
            }
        };
        super::events::tests_completed(ctx, &format!("integrate {}", branch.branch), &tests).await;
        let broken = match gate::judge(baseline, &tests, plan.strict_tests) {
            Verdict::Green | Verdict::Preexisting(_) => return Ok(commit),
            Verdict::Broken(names) => names,
        };
        let failing = if broken.is_empty() { format!("{} test(s) fail", tests.failed) } else { broken.join(", ") };
        if attempt >= plan.options.fix_attempts {
            let tried = if attempt == 0 { String::new() } else { format!(" after {attempt} fixing run(s)") };
            return Err(Held::Back(format!("tests fail with it merged{tried}: {failing}")));
        }
        attempt += 1;
        set_feature(ctx, position, |f| f.fix_attempts = attempt);
        let prompt = fix_prompt(branch, &broken, &format!("{} test(s) fail", tests.failed));
        let stage = format!("fix {} ({attempt})", branch.branch);
        run_agent(ctx, plan, worktree, &stage, prompt, "HEAD".to_owned())
            .await
            .map_err(|err| held("the agent fixing the tests", &err))?;
        let task = CommitTask {
            worktree_path: worktree.path.clone(),
            message: format!(
                "Fix the tests after merging '{}' (attempt {attempt})\n\nMade by claude-temporal workflow {}.\n",
                branch.branch,
                ctx.workflow_id()
            ),
        };
        let fixed = ctx
            .execute_activity(WorkspaceActivities::commit_worktree, task, options::workspace(ctx.task_queue()))
            .await
            .map_err(|err| held("committing the fix", &err))?;
        if let Some(fixed) = fixed {
            commit = fixed;
        }
    }
}

/// An agent run resolves the merge's conflicts; the merge is committed once no marker is left.
#[allow(clippy::too_many_arguments)]
async fn resolve<W: HasStatus>(
    ctx: &WorkflowContext<W>,
    plan: &Plan,
    worktree: &IntegrationWorktree,
    position: usize,
    branch: &IntegrateBranch,
    merged: &[IntegrateBranch],
    files: &[String],
    tree: String,
    theirs: String,
    message: String,
) -> Result<String, Held> {
    let listed = files.join(", ");
    let stage = format!("resolve {}", branch.branch);
    run_agent(ctx, plan, worktree, &stage, resolve_prompt(branch, merged, files), tree)
        .await
        .map_err(|err| held(&format!("the agent resolving the conflict in {listed}"), &err))?;
    let task = ConcludeTask { worktree_path: worktree.path.clone(), theirs, files: files.to_vec(), message };
    let concluded = ctx
        .execute_activity(WorkspaceActivities::conclude_merge, task, options::workspace(ctx.task_queue()))
        .await
        .map_err(|err| held("committing the resolved merge", &err))?;
    match concluded {
        ConcludeOutcome::Committed { commit } => {
            set_feature(ctx, position, |f| f.resolved_files = files.to_vec());
            let event = ConflictResolved {
                workflow_id: ctx.workflow_id().to_owned(),
                feature: branch.branch.clone(),
                files: files.to_vec(),
            };
            emit(ctx, EventData::ConflictResolved(event)).await;
            Ok(commit)
        }
        ConcludeOutcome::Unresolved { files } => {
            Err(Held::Back(format!("the conflict in {} was not resolved (conflict markers left)", files.join(", "))))
        }
    }
}

/// One agent run in the integration worktree, recorded as a run of the integration. A retried
/// attempt starts over from `restore_on_retry`.
async fn run_agent<W: HasStatus>(
    ctx: &WorkflowContext<W>,
    plan: &Plan,
    worktree: &IntegrationWorktree,
    stage: &str,
    prompt: String,
    restore_on_retry: String,
) -> Result<(), ActivityExecutionError> {
    let index = ctx.state_mut(|s| {
        let runs = &mut integration_mut(s).runs;
        runs.push(StageStatus { state: StageState::Running, ..StageStatus::pending(stage) });
        runs.len() - 1
    });
    let task = ct_contracts::AgentTask {
        // No `/` in the run's own part: the run id's last part names the stage.
        run_id: format!("{}/integrate/{}", ctx.workflow_id(), stage.replace([' ', '/'], "-")),
        project_path: worktree.path.clone(),
        prompt,
        settings: plan.agent.clone(),
        restore_on_retry: Some(restore_on_retry),
        earlier_attempts: 0,
        failures_allowed: 0,
        earlier_spend: Vec::new(),
        spent_before_usd: ctx.state(|s| s.status().total_cost_usd),
        budget: None,
        snapshot: None,
        #[cfg(feature = "upgrade-rehearsal")]
        rehearsal: None,
    };
    let outcome = agent_run::run_agent(ctx, task).await;
    ctx.state_mut(|s| {
        let run = &mut integration_mut(s).runs[index];
        match &outcome {
            Ok(report) => {
                record_agent(run, report);
                run.state = StageState::Completed;
            }
            Err(err) => {
                record_attempts(run, agent_run::attempts_of(err));
                run.state = StageState::Failed;
                run.error = Some(options::failure_message(err));
            }
        }
        s.status_mut().refresh_totals();
    });
    outcome.map(|_| ())
}

/// Puts the integration branch back to `before` and records why the feature is not in it.
async fn hold_back<W: HasStatus>(
    ctx: &WorkflowContext<W>,
    worktree: &IntegrationWorktree,
    position: usize,
    branch: &str,
    before: &str,
    reason: String,
) -> Result<(), String> {
    let task = ResetTask { worktree_path: worktree.path.clone(), commit: before.to_owned() };
    let reset =
        ctx.execute_activity(WorkspaceActivities::reset_integration, task, options::workspace(ctx.task_queue())).await;
    set_feature(ctx, position, |f| {
        f.outcome = FeatureOutcome::HeldBack;
        f.reason = Some(reason.clone());
    });
    if let Err(err) = reset {
        return Err(options::activity_failed(&format!("putting the integration branch back to before {branch}"), &err));
    }
    let event = FeatureHeldBack { workflow_id: ctx.workflow_id().to_owned(), feature: branch.to_owned(), reason };
    emit(ctx, EventData::FeatureHeldBack(event)).await;
    Ok(())
}

/// Fast-forwards the user's branch, or records why not.
async fn land<W: HasStatus>(ctx: &WorkflowContext<W>, project_path: &str, worktree: &IntegrationWorktree) {
    let by_hand = format!("git -C {project_path} merge {}", worktree.branch);
    let task = LandTask {
        project_path: project_path.to_owned(),
        branch: worktree.branch.clone(),
        base: worktree.base.clone(),
    };
    let landing =
        match ctx.execute_activity(WorkspaceActivities::land, task, options::workspace(ctx.task_queue())).await {
            Ok(landing) => landing,
            Err(err) => Landing::Refused { reason: options::activity_failed("landing", &err), command: by_hand },
        };
    ctx.state_mut(|s| integration_mut(s).landing = Some(landing));
}

async fn remove_worktree<W: HasStatus>(ctx: &WorkflowContext<W>, project_path: &str, path: &str) {
    let task = RemoveWorktreeTask { project_path: project_path.to_owned(), worktree_path: path.to_owned() };
    let removed = ctx
        .execute_activity(WorkspaceActivities::remove_worktree, task, options::workspace_cleanup(ctx.task_queue()))
        .await;
    ctx.state_mut(|s| match removed {
        Ok(()) => integration_mut(s).worktree = None,
        Err(err) => {
            tracing::warn!(error = %options::failure_message(&err), worktree = path, "integration worktree not removed")
        }
    });
}

fn held(what: &str, err: &ActivityExecutionError) -> Held {
    match err {
        ActivityExecutionError::Cancelled(_) => Held::Stop("cancelled".to_owned()),
        _ => Held::Back(options::activity_failed(what, err)),
    }
}

/// Whether the tests could not run because the project has none the runner knows: the merge
/// alone then decides, as it did for the features.
fn no_test_framework(err: &ActivityExecutionError) -> bool {
    let ActivityExecutionError::Failed(failure) = err else {
        return false;
    };
    matches!(failure.cause(), Some(IncomingError::Application(application))
        if application.type_name() == Some(ct_contracts::failure::NO_TEST_FRAMEWORK))
}

fn set_feature<W: HasStatus>(ctx: &WorkflowContext<W>, position: usize, change: impl FnOnce(&mut IntegratedFeature)) {
    ctx.state_mut(|s| change(&mut integration_mut(s).features[position]));
}

fn integration<W: HasStatus>(s: &W) -> &IntegrationStatus {
    s.status().integration.as_ref().expect("the integration's status is set before its first merge")
}

fn integration_mut<W: HasStatus>(s: &mut W) -> &mut IntegrationStatus {
    s.status_mut().integration.as_mut().expect("the integration's status is set before its first merge")
}
