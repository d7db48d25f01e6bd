//! Worker Versioning. Every process of one build (worker, executors, test-runners) polls as one
//! version of one Temporal Worker Deployment: the same deployment name, the same build id. The
//! worker's workflows are pinned to the version that started them, so a workflow runs to its end
//! on the build that started it, and Temporal gives its activities to the executors and
//! test-runners of that build; new workflows go to the deployment's current version. Making a
//! version current (`claude-temporal fleet promote`) is how a fleet is rolled forward or back.

use std::time::Duration;

use temporalio_client::grpc::WorkflowService;
use temporalio_client::{Client, NamespacedClient as _};
use temporalio_common::protos::temporal::api::deployment::v1::WorkerDeploymentInfo;
use temporalio_common::protos::temporal::api::enums::v1::{RoutingConfigUpdateState, WorkerDeploymentVersionStatus};
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    CountWorkflowExecutionsRequest, DescribeWorkerDeploymentRequest, SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
};
use temporalio_common::worker::{VersioningBehavior, WorkerDeploymentOptions, WorkerDeploymentVersion};

/// One build of the fleet, as Temporal's Worker Deployments know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub deployment: String,
    pub build_id: String,
}

impl Build {
    /// How a worker of this build polls: as this version. Workflows of a worker that
    /// `runs_workflows` are pinned to it (without a default behavior the server loops on the
    /// workflow task: the SDK sends none of its own).
    pub fn worker_options(&self, runs_workflows: bool) -> WorkerDeploymentOptions {
        let version = WorkerDeploymentVersion::builder()
            .deployment_name(self.deployment.clone())
            .build_id(self.build_id.clone())
            .build();
        let options = WorkerDeploymentOptions::new(version).use_worker_versioning(true);
        if runs_workflows {
            options.default_versioning_behavior(VersioningBehavior::Pinned).build()
        } else {
            options.build()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildsError {
    #[error("Temporal has no worker deployment `{0}` yet: no worker of it has polled")]
    NoDeployment(String),
    /// Temporal said no: the build has not polled (all its task queues), someone else changed
    /// the deployment meanwhile, or the caller may not.
    #[error("Temporal refused: {0}")]
    Refused(String),
    #[error("cannot ask Temporal: {0}")]
    Unreachable(String),
}

impl BuildsError {
    fn of(deployment: &str, status: tonic::Status) -> Self {
        match status.code() {
            tonic::Code::NotFound if status.message().contains("Deployment") => {
                Self::NoDeployment(deployment.to_owned())
            }
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => {
                Self::Unreachable(status.message().to_owned())
            }
            _ => Self::Refused(status.message().to_owned()),
        }
    }
}

/// What [`promote_if_first`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstPromotion {
    /// The deployment had no current build: this one is now.
    Promoted,
    /// This build was current already (a restart).
    AlreadyCurrent,
    /// Another build is current; this one waits for `fleet promote`.
    OtherCurrent(String),
}

/// A deployment's builds and where new workflows go.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Builds {
    pub deployment: String,
    /// The build new workflows start on; `None` before any was made current.
    pub current: Option<String>,
    /// A build that gets a share of new workflows besides the current one.
    pub ramping: Option<Ramping>,
    pub versions: Vec<BuildVersion>,
}

/// A build that gets `percent` (0–100) of new workflows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Ramping {
    pub build_id: String,
    pub percent: f32,
}

/// One build of a deployment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BuildVersion {
    pub build_id: String,
    /// `current`, `ramping`, `draining` (workflows pinned to it still run), `drained`,
    /// `inactive` (polled, never current).
    pub status: &'static str,
    /// Workflows pinned to it that are still running.
    pub running_workflows: Option<i64>,
}

fn status_name(status: i32) -> &'static str {
    match WorkerDeploymentVersionStatus::try_from(status).unwrap_or(WorkerDeploymentVersionStatus::Unspecified) {
        WorkerDeploymentVersionStatus::Current => "current",
        WorkerDeploymentVersionStatus::Ramping => "ramping",
        WorkerDeploymentVersionStatus::Draining => "draining",
        WorkerDeploymentVersionStatus::Drained => "drained",
        WorkerDeploymentVersionStatus::Inactive | WorkerDeploymentVersionStatus::Created => "inactive",
        WorkerDeploymentVersionStatus::Unspecified => "unknown",
    }
}

async fn describe(client: &Client, deployment: &str) -> Result<(WorkerDeploymentInfo, Vec<u8>), BuildsError> {
    let request =
        DescribeWorkerDeploymentRequest { namespace: client.namespace(), deployment_name: deployment.to_owned() };
    let mut raw = client.clone();
    let described = WorkflowService::describe_worker_deployment(&mut raw, tonic::Request::new(request))
        .await
        .map_err(|status| BuildsError::of(deployment, status))?
        .into_inner();
    Ok((described.worker_deployment_info.unwrap_or_default(), described.conflict_token))
}

/// The builds of `deployment`, with how many running workflows each still serves.
pub async fn builds(client: &Client, deployment: &str) -> Result<Builds, BuildsError> {
    let (info, _) = describe(client, deployment).await?;
    let routing = info.routing_config.unwrap_or_default();
    let current = routing.current_deployment_version.map(|version| version.build_id).filter(|id| !id.is_empty());
    let ramping = routing
        .ramping_deployment_version
        .map(|version| version.build_id)
        .filter(|id| !id.is_empty())
        .map(|build_id| Ramping { build_id, percent: routing.ramping_version_percentage });
    let mut versions = Vec::new();
    for summary in info.version_summaries {
        let build_id = summary.deployment_version.map(|version| version.build_id).unwrap_or_default();
        let running_workflows = running_on(client, deployment, &build_id).await;
        versions.push(BuildVersion { build_id, status: status_name(summary.status), running_workflows });
    }
    versions.sort_by(|a, b| a.build_id.cmp(&b.build_id));
    Ok(Builds { deployment: deployment.to_owned(), current, ramping, versions })
}

/// Running workflows pinned to one build; `None` when the visibility store cannot count them,
/// or the names could not be put in a query as they are (any poller may register a build id).
async fn running_on(client: &Client, deployment: &str, build_id: &str) -> Option<i64> {
    ct_domain::builds::check_label(deployment).ok()?;
    ct_domain::builds::check_label(build_id).ok()?;
    let query = format!("TemporalWorkerDeploymentVersion = '{deployment}:{build_id}' AND ExecutionStatus = 'Running'");
    let request = CountWorkflowExecutionsRequest { namespace: client.namespace(), query };
    let mut raw = client.clone();
    WorkflowService::count_workflow_executions(&mut raw, tonic::Request::new(request))
        .await
        .ok()
        .map(|response| response.into_inner().count)
}

/// Makes `build` the one new workflows start on; with `ramp`, only that share of them (the rest
/// stay on the current build). Workflows already running stay on the build that started them.
/// Returns once Temporal has spread the change to the task queues (or after a few seconds).
pub async fn promote(client: &Client, build: &Build, ramp: Option<f32>, identity: &str) -> Result<(), BuildsError> {
    let (_, conflict_token) = describe(client, &build.deployment).await?;
    set_routing(client, build, ramp, identity, conflict_token).await?;
    routed(client, &build.deployment).await;
    Ok(())
}

/// Waits (a few seconds at most) until Temporal's routing change has reached every task queue:
/// until then a new workflow may still go to the build that was current.
async fn routed(client: &Client, deployment: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        match describe(client, deployment).await {
            Ok((info, _)) if info.routing_config_update_state != RoutingConfigUpdateState::InProgress as i32 => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(_) => return,
        }
    }
}

async fn set_routing(
    client: &Client,
    build: &Build,
    ramp: Option<f32>,
    identity: &str,
    conflict_token: Vec<u8>,
) -> Result<(), BuildsError> {
    let mut raw = client.clone();
    let done = match ramp {
        None => {
            let request = SetWorkerDeploymentCurrentVersionRequest {
                namespace: client.namespace(),
                deployment_name: build.deployment.clone(),
                build_id: build.build_id.clone(),
                conflict_token,
                identity: identity.to_owned(),
                ..SetWorkerDeploymentCurrentVersionRequest::default()
            };
            WorkflowService::set_worker_deployment_current_version(&mut raw, tonic::Request::new(request))
                .await
                .map(drop)
        }
        Some(percentage) => {
            let request = SetWorkerDeploymentRampingVersionRequest {
                namespace: client.namespace(),
                deployment_name: build.deployment.clone(),
                build_id: build.build_id.clone(),
                percentage,
                conflict_token,
                identity: identity.to_owned(),
                ..SetWorkerDeploymentRampingVersionRequest::default()
            };
            WorkflowService::set_worker_deployment_ramping_version(&mut raw, tonic::Request::new(request))
                .await
                .map(drop)
        }
    };
    done.map_err(|status| BuildsError::of(&build.deployment, status))
}

/// Makes `build` current when its deployment has no current build yet (the fleet's first start),
/// retrying while Temporal has not registered the build's first poll (or cannot be reached),
/// for at most `patience`. Leaves a deployment that has one alone: rolling a fleet forward is
/// the operator's call. Another first build promoted at the same moment wins or loses by the
/// conflict token, and the next look says which.
pub async fn promote_if_first(
    client: &Client,
    build: &Build,
    identity: &str,
    patience: Duration,
) -> Result<FirstPromotion, BuildsError> {
    retrying(patience, || async {
        let (info, conflict_token) = describe(client, &build.deployment).await?;
        let current = info.routing_config.and_then(|routing| routing.current_deployment_version);
        match current.map(|version| version.build_id).filter(|id| !id.is_empty()) {
            Some(id) if id == build.build_id => Ok(FirstPromotion::AlreadyCurrent),
            Some(id) => Ok(FirstPromotion::OtherCurrent(id)),
            None => {
                set_routing(client, build, None, identity, conflict_token).await?;
                routed(client, &build.deployment).await;
                Ok(FirstPromotion::Promoted)
            }
        }
    })
    .await
}

/// Makes `build` current once Temporal takes it (all its task queues poll), retrying for at most
/// `patience`: a fleet run one build at a time, replaced in place.
pub async fn promote_when_ready(
    client: &Client,
    build: &Build,
    identity: &str,
    patience: Duration,
) -> Result<(), BuildsError> {
    retrying(patience, || promote(client, build, None, identity)).await
}

/// Runs `attempt` until it succeeds or `patience` has passed, pausing longer after each failure
/// (a quarter of a second, doubling up to five): the last failure is the answer.
async fn retrying<T, F: Future<Output = Result<T, BuildsError>>>(
    patience: Duration,
    mut attempt: impl FnMut() -> F,
) -> Result<T, BuildsError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(250);
    loop {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(err) if tokio::time::Instant::now() >= deadline => return Err(err),
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}
