//! The Temporal floor: a bare workflow that runs one no-op activity, on the same server and
//! with the same SDK as the worker, so the develop figures can be read against what Temporal
//! itself costs here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::{StreamExt as _, TryStreamExt as _};
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext, WorkflowResult};

use crate::history::RunFigures;

const TASK_QUEUE: &str = "ct-bench-floor";

#[workflow]
#[derive(Default)]
pub(crate) struct FloorWorkflow;

#[workflow_methods]
impl FloorWorkflow {
    #[run]
    pub(crate) async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<()> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10)).build();
        ctx.execute_activity(Floor::noop, (), options).await?;
        Ok(())
    }
}

pub(crate) struct Floor;

#[activities]
impl Floor {
    #[activity]
    pub(crate) async fn noop(self: Arc<Self>, _ctx: ActivityContext, _input: ()) -> Result<(), ActivityError> {
        Ok(())
    }
}

/// Runs `runs` floor workflows one after the other, each with its worker polling in this
/// process, and returns their figures.
pub(crate) async fn measure(client: Client, runs: usize) -> anyhow::Result<Vec<RunFigures>> {
    with_worker(&client, async {
        let mut figures = Vec::with_capacity(runs);
        for run in 0..=runs {
            let id = format!("bench-floor-{}-{run}", std::process::id());
            run_one(&client, &id).await?;
            // The first run warms the worker's caches and connections up.
            if run > 0 {
                figures.push(crate::runs::figures_of_kind::<FloorWorkflow>(&client, &id).await?);
            }
        }
        Ok(figures)
    })
    .await
}

/// Runs `count` floor workflows to their end, `at_once` at a time: history for the list pages.
pub(crate) async fn run_many(client: Client, count: usize, at_once: usize) -> anyhow::Result<()> {
    with_worker(&client, async {
        futures::stream::iter(0..count)
            .map(|n| {
                let client = client.clone();
                async move { run_one(&client, &format!("bench-listed-{}-{n}", std::process::id())).await }
            })
            .buffer_unordered(at_once)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    })
    .await
}

async fn run_one(client: &Client, id: &str) -> anyhow::Result<()> {
    let options = WorkflowStartOptions::new(TASK_QUEUE.to_owned(), id.to_owned()).build();
    let handle = client.start_workflow(FloorWorkflow::run, (), options).await.context("start a floor workflow")?;
    handle.get_result(WorkflowGetResultOptions::default()).await.context("a floor workflow failed")?;
    Ok(())
}

/// Runs `work` while a floor worker polls in this process.
async fn with_worker<T>(client: &Client, work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = Runtime::from_current_tokio(Default::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = WorkerOptions::new(TASK_QUEUE)
        .register_workflow::<FloorWorkflow>()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .register_activities(Floor)
        .build();
    let mut worker = Worker::new(&runtime, client.clone(), options).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stop = worker.shutdown_handle();
    let work = async {
        let out = work.await;
        stop();
        out
    };
    let (worked, out) = tokio::join!(worker.run(), work);
    worked.map_err(|e| anyhow::anyhow!("the floor worker failed: {e}"))?;
    out
}
