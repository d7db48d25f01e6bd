//! Running one fleet member: its activity workers on the main task and its control API beside
//! them, stopped together.

use ct_proto::control::DescribeResponse;
use temporalio_client::Client;
use temporalio_sdk::WorkerOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{ActivityWorker, ControlToken, RunRegistry, WorkerError};

/// The control API's parts.
pub struct ControlPlane {
    pub listener: TcpListener,
    pub token: ControlToken,
    pub description: DescribeResponse,
    pub runs: RunRegistry,
}

/// Serves `control` and polls with `workers` until `shutdown` fires and they drained.
pub async fn run_member(
    workers: Vec<(&ActivityWorker, WorkerOptions)>,
    client: Client,
    control: ControlPlane,
    shutdown: CancellationToken,
    on_polling: impl FnOnce(),
) -> Result<(), WorkerError> {
    let control_stop = CancellationToken::new();
    let control_task = tokio::spawn(crate::control::serve(
        control.listener,
        control.token,
        control.description,
        control.runs,
        control_stop.clone(),
    ));
    let outcome = crate::worker::run_workers(workers, client, shutdown, on_polling).await;
    control_stop.cancel();
    match control_task.await {
        Ok(Err(err)) => tracing::warn!(%err, "the control API stopped with an error"),
        Err(err) => tracing::warn!(%err, "the control API task failed"),
        Ok(Ok(())) => {}
    }
    outcome
}
