//! A Temporal worker that runs activities only, on one task queue, with as many slots as
//! the service can run at once. Work beyond that waits in Temporal's queue, durably, until a
//! slot frees here or on another replica; nothing is ever refused for being busy.

use std::time::Duration;

use ct_service::builds::Build;
use temporalio_client::Client;
use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct ActivityWorker {
    pub task_queue: String,
    /// Activities run at once.
    pub capacity: usize,
    /// After shutdown begins, running activities get this long before they are cancelled
    /// (and their runs killed, so that their retries start elsewhere).
    pub grace: Duration,
    /// The build it is: Temporal gives it the activities of the workflows pinned to this build.
    pub build: Build,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot start the Temporal worker on task queue `{queue}`: {reason}")]
    Start { queue: String, reason: String },
    #[error("the Temporal worker on task queue `{queue}` stopped with an error: {reason}")]
    Run { queue: String, reason: String },
}

impl ActivityWorker {
    /// Options with the queue, the slots and the grace period set; register the activities on
    /// them, then [`ActivityWorker::run`].
    pub fn options(&self) -> WorkerOptions {
        WorkerOptions::new(self.task_queue.clone())
            .tuner(
                TunerHolder::builder()
                    .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(2))
                    .activity_task_slot_supplier(FixedSizeSlotSupplier::new(self.capacity))
                    .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                    .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                    .build(),
            )
            .graceful_shutdown_period(self.grace)
            .deployment_options(self.build.worker_options(false))
            .build()
    }
}

/// Polls with every worker (one per task queue, each with its own slots) until `shutdown`
/// fires, then drains them all. A worker that stops with an error stops the others too. The
/// workers' futures are not `Send`: call this on the main task. `on_polling` runs once they are
/// built, before they first poll.
pub(crate) async fn run_workers(
    workers: Vec<(&ActivityWorker, WorkerOptions)>,
    client: Client,
    shutdown: CancellationToken,
    on_polling: impl FnOnce(),
) -> Result<(), WorkerError> {
    let first_queue = workers.first().map(|(worker, _)| worker.task_queue.clone()).unwrap_or_default();
    let runtime = Runtime::from_current_tokio(Default::default())
        .map_err(|e| WorkerError::Start { queue: first_queue, reason: e.to_string() })?;
    let mut built = Vec::with_capacity(workers.len());
    for (worker, options) in workers {
        let queue = worker.task_queue.clone();
        let polling = Worker::new(&runtime, client.clone(), options)
            .map_err(|e| WorkerError::Start { queue: queue.clone(), reason: e.to_string() })?;
        built.push((queue, polling));
    }
    let stops: Vec<_> = built.iter().map(|(_, worker)| worker.shutdown_handle()).collect();
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        stopping.cancelled().await;
        tracing::info!("shutting down: no new work; running work gets the grace period");
        for stop in stops {
            stop();
        }
    });
    on_polling();
    let runs = built.iter_mut().map(|(queue, worker)| {
        let shutdown = shutdown.clone();
        async move {
            let ran = worker.run().await.map_err(|e| WorkerError::Run { queue: queue.clone(), reason: e.to_string() });
            if ran.is_err() {
                shutdown.cancel();
            }
            ran
        }
    });
    futures::future::join_all(runs).await.into_iter().collect()
}
