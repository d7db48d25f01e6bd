//! Running the worker process: connect, register, poll until shut down.

use std::time::Duration;

use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use tokio_util::sync::CancellationToken;

use ct_events::{Publisher, PublisherConfig};

use ct_service::builds::Build;
use ct_service::{ConnectError, TemporalTarget, connect_client};

use crate::activities::{EventActivities, serve_workflow_events, workflow_events_queued};
use crate::workflows::{DevelopWorkflow, FeatureWorkflow, IntegrateWorkflow, IterateWorkflow, ParallelWorkflow};

/// How long a fleet's first worker keeps trying to make its build current while Temporal
/// registers the build's first poll.
const FIRST_PROMOTION_PATIENCE: Duration = Duration::from_secs(300);
/// How long shutdown waits for buffered events to reach NATS.
const EVENT_FLUSH: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Config {
    pub temporal: TemporalTarget,
    /// The workflows' queue; agents and tests go to `<it>.agents` and `<it>.tests`.
    pub task_queue: String,
    /// The build this worker is: its workflows are pinned to it.
    pub build: Build,
    /// Make the build current even when another one is (a fleet replaced in place).
    pub promote_always: bool,
    /// NATS server the events go to; they wait in a buffer while it is down.
    pub nats_url: String,
    /// Who to log in to NATS as.
    pub nats_login: Option<ct_events::NatsLogin>,
    /// How long a crashed worker's workflows wait before another worker takes them.
    pub sticky_timeout: Duration,
    /// Event-publishing local activities this worker runs at once.
    pub max_activities: usize,
    /// Workflow tasks this worker processes at once.
    pub max_workflows: usize,
    /// Where events wait on disk until NATS has them, so that a crash loses none; `None`
    /// keeps them in memory only.
    pub events_outbox: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot publish events: {0}")]
    Events(#[from] ct_events::Error),
    #[error("cannot start the Temporal worker: {0}")]
    Start(String),
    #[error("the Temporal worker stopped with an error: {0}")]
    Run(String),
}

/// The workflows the CLI starts are the ones registered here, by name and by type.
fn check_contracts() -> Result<(), String> {
    use ct_contracts::workflows::{self, Develop, Integrate, Iterate, Parallel};
    workflows::implements(&Develop, &DevelopWorkflow::run)?;
    workflows::implements(&Iterate, &IterateWorkflow::run)?;
    workflows::implements(&Parallel, &ParallelWorkflow::run)?;
    workflows::implements(&Integrate, &IntegrateWorkflow::run)
}

/// Polls the task queue until `shutdown` fires, then lets running tasks finish.
/// The Temporal worker future is not `Send`: call this on the main task.
/// `on_ready` gets the task queue once the worker is about to poll it.
pub async fn run(config: Config, shutdown: CancellationToken, on_ready: impl FnOnce(&str)) -> Result<(), WorkerError> {
    check_contracts().map_err(WorkerError::Start)?;
    let mut events = PublisherConfig::new(config.nats_url.clone(), "ct-worker");
    events.outbox = config.events_outbox.clone();
    events.login = config.nats_login.clone();
    let publisher = Publisher::connect(events).await?;
    serve_workflow_events(publisher.clone());
    let runtime = Runtime::from_current_tokio(Default::default()).map_err(|e| WorkerError::Start(e.to_string()))?;
    let client = connect_client(&config.temporal, "ct-worker").await?;
    let options = WorkerOptions::new(config.task_queue.clone())
        .register_workflow::<DevelopWorkflow>()
        .map_err(|e| WorkerError::Start(e.to_string()))?
        .register_workflow::<IterateWorkflow>()
        .map_err(|e| WorkerError::Start(e.to_string()))?
        .register_workflow::<ParallelWorkflow>()
        .map_err(|e| WorkerError::Start(e.to_string()))?
        .register_workflow::<FeatureWorkflow>()
        .map_err(|e| WorkerError::Start(e.to_string()))?
        .register_workflow::<IntegrateWorkflow>()
        .map_err(|e| WorkerError::Start(e.to_string()))?
        .register_activities(EventActivities::new(publisher.clone()))
        .deployment_options(config.build.worker_options(true))
        .sticky_queue_schedule_to_start_timeout(config.sticky_timeout)
        .tuner(
            TunerHolder::builder()
                .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(config.max_workflows))
                .activity_task_slot_supplier(FixedSizeSlotSupplier::new(config.max_activities))
                .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(config.max_activities))
                .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                .build(),
        )
        .build();
    let mut worker = Worker::new(&runtime, client.clone(), options).map_err(|e| WorkerError::Start(e.to_string()))?;
    if config.promote_always {
        tokio::spawn(promote_when_ready(client, config.build.clone()));
    } else {
        tokio::spawn(promote_if_first(client, config.build.clone()));
    }
    let stop = worker.shutdown_handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tracing::info!("shutting down: finishing running tasks");
        stop();
    });
    tracing::info!(
        task_queue = %config.task_queue,
        deployment = %config.build.deployment,
        build = %config.build.build_id,
        temporal = %config.temporal.address,
        agents = %ct_contracts::agents_queue(&config.task_queue),
        tests = %ct_contracts::tests_queue(&config.task_queue),
        "worker started"
    );
    on_ready(&config.task_queue);
    let outcome = worker.run().await.map_err(|e| WorkerError::Run(e.to_string()));
    workflow_events_queued(EVENT_FLUSH).await;
    if let Err(err) = publisher.flush(EVENT_FLUSH).await {
        tracing::warn!(%err, "events still unpublished at shutdown");
    }
    outcome
}

/// A fleet's first build becomes current on its own (Temporal gives new workflows to no build
/// before one is); a later build waits for `claude-temporal fleet promote`.
async fn promote_if_first(client: temporalio_client::Client, build: Build) {
    use ct_service::builds::FirstPromotion;
    let id = &build.build_id;
    match ct_service::builds::promote_if_first(&client, &build, "ct-worker", FIRST_PROMOTION_PATIENCE).await {
        Ok(FirstPromotion::Promoted) => {
            tracing::info!(build = %id, "the fleet's first build: new workflows start on it")
        }
        Ok(FirstPromotion::AlreadyCurrent) => tracing::info!(build = %id, "this build is current"),
        Ok(FirstPromotion::OtherCurrent(current)) => tracing::warn!(
            build = %id,
            %current,
            "build {current} is current: new workflows start there; this build serves the workflows it \
             started, and new ones once `claude-temporal fleet promote {id}` makes it current"
        ),
        Err(err) => tracing::error!(
            build = %id,
            %err,
            "cannot make this fleet's first build current, so no new workflow starts until one is: \
             `claude-temporal fleet promote {id}`"
        ),
    }
}

/// `CT_PROMOTE=always`: this build replaces the one before it in place, so it becomes current as
/// soon as Temporal takes it (once its executors and test-runners poll too).
async fn promote_when_ready(client: temporalio_client::Client, build: Build) {
    let id = &build.build_id;
    match ct_service::builds::promote_when_ready(&client, &build, "ct-worker", FIRST_PROMOTION_PATIENCE).await {
        Ok(()) => tracing::info!(build = %id, "this build is current: new workflows start on it"),
        Err(err) => tracing::error!(
            build = %id,
            %err,
            "cannot make this build current, so new workflows start elsewhere: `claude-temporal fleet promote {id}`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use ct_contracts::workflows::{Approve, ApproveGate, KeepChanges, RaiseBudget, Reject, RejectGate, Status};
    use temporalio_common::{QueryDefinition, SignalDefinition, UpdateDefinition};

    use super::*;

    fn same_signal<D: SignalDefinition, I: SignalDefinition<Input = D::Input>>(definition: &D, implementation: &I) {
        assert_eq!(definition.name(), implementation.name());
    }

    fn same_update<D, I>(definition: &D, implementation: &I)
    where
        D: UpdateDefinition,
        I: UpdateDefinition<Input = D::Input, Output = D::Output>,
    {
        assert_eq!(definition.name(), implementation.name());
    }

    fn same_query<D, I>(definition: &D, implementation: &I)
    where
        D: QueryDefinition,
        I: QueryDefinition<Input = D::Input, Output = D::Output>,
    {
        assert_eq!(definition.name(), implementation.name());
    }

    #[test]
    fn the_contracts_the_cli_uses_match_the_workflows() {
        check_contracts().unwrap();
        same_signal(&Approve, &DevelopWorkflow::approve);
        same_signal(&Reject, &DevelopWorkflow::reject);
        same_signal(&KeepChanges, &DevelopWorkflow::keep_changes);
        same_signal(&KeepChanges, &IterateWorkflow::keep_changes);
        same_update(&ApproveGate, &DevelopWorkflow::approve_gate);
        same_update(&RejectGate, &DevelopWorkflow::reject_gate);
        same_update(&RaiseBudget, &DevelopWorkflow::raise_budget);
        same_update(&RaiseBudget, &IterateWorkflow::raise_budget);
        same_query(&Status, &DevelopWorkflow::status);
        same_query(&Status, &IterateWorkflow::status);
        same_query(&Status, &ParallelWorkflow::status);
        same_query(&Status, &IntegrateWorkflow::status);
    }
}
