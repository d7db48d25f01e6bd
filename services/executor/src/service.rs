//! The gRPC face of the executor.

use std::sync::Arc;

use ct_proto::executor::executor_server::Executor;
use ct_proto::executor::{RunAgentEvent, RunAgentRequest};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::run::Runner;

/// Events buffered per run before progress starts being dropped for a slow client.
const EVENT_BUFFER: usize = 128;

#[derive(Debug, Clone)]
pub(crate) struct ExecutorService {
    runner: Arc<Runner>,
}

impl ExecutorService {
    pub(crate) fn new(runner: Runner) -> ExecutorService {
        ExecutorService {
            runner: Arc::new(runner),
        }
    }
}

#[tonic::async_trait]
impl Executor for ExecutorService {
    type RunAgentStream = ReceiverStream<Result<RunAgentEvent, Status>>;

    async fn run_agent(
        &self,
        request: Request<RunAgentRequest>,
    ) -> Result<Response<Self::RunAgentStream>, Status> {
        let request = request.into_inner();
        let model = if request.model.is_empty() {
            self.runner.config.model.clone()
        } else {
            request.model.clone()
        };
        let span = tracing::info_span!(
            "invoke_agent",
            run_id = %request.run_id,
            gen_ai.operation.name = "invoke_agent",
            gen_ai.request.model = %model,
        );
        let run = self
            .runner
            .start(request)
            .instrument(span.clone())
            .await
            .map_err(|err| {
                span.in_scope(|| tracing::warn!(%err, "agent run refused"));
                Status::from(err)
            })?;
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(run.drive(tx, self.runner.shutdown.clone()).instrument(span));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
