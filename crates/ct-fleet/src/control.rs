//! The control API: the one gRPC port an executor or a test-runner keeps. It tells what the
//! service is and runs, and kills a run; it never starts one (work comes from Temporal). Every
//! call needs the stack's bearer token.

use std::time::Duration;

use ct_proto::control::control_client::ControlClient;
use ct_proto::control::control_server::{Control, ControlServer};
use ct_proto::control::{
    DescribeRequest, DescribeResponse, KillRunRequest, KillRunResponse, ListRunsRequest, ListRunsResponse, Run,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use crate::{ControlToken, RunRegistry};

struct Service {
    /// Everything but the live `running` count.
    description: DescribeResponse,
    runs: RunRegistry,
}

#[tonic::async_trait]
impl Control for Service {
    async fn describe(&self, _: Request<DescribeRequest>) -> Result<Response<DescribeResponse>, Status> {
        let running = u32::try_from(self.runs.len()).unwrap_or(u32::MAX);
        Ok(Response::new(DescribeResponse { running, ..self.description.clone() }))
    }

    async fn list_runs(&self, _: Request<ListRunsRequest>) -> Result<Response<ListRunsResponse>, Status> {
        let runs = self
            .runs
            .list()
            .into_iter()
            .map(|run| Run {
                run_id: run.run_id,
                workflow_id: run.workflow_id,
                activity_id: run.activity_id,
                attempt: run.attempt,
                project_path: run.project_path,
                started_unix_ms: run.started_unix_ms,
            })
            .collect();
        Ok(Response::new(ListRunsResponse { runs }))
    }

    async fn kill_run(&self, request: Request<KillRunRequest>) -> Result<Response<KillRunResponse>, Status> {
        let run_id = request.into_inner().run_id;
        let killed = self.runs.kill(&run_id);
        tracing::info!(%run_id, killed, "kill requested through the control API");
        Ok(Response::new(KillRunResponse { killed }))
    }
}

/// Serves the control API on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    token: ControlToken,
    description: DescribeResponse,
    runs: RunRegistry,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let service = ControlServer::with_interceptor(Service { description, runs }, move |request| token.check(request));
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await
}

/// A client of one service's control API that sends the token with every call.
#[derive(Clone)]
pub struct Caller {
    client: ControlClient<Channel>,
    token: ControlToken,
}

impl Caller {
    /// `address` is `host:port` or a URL. Connects lazily; a call to a dead service fails
    /// within `timeout`.
    pub fn new(address: &str, token: ControlToken, timeout: Duration) -> Result<Self, tonic::transport::Error> {
        let url = if address.contains("://") { address.to_owned() } else { format!("http://{address}") };
        let channel = Endpoint::from_shared(url)?.connect_timeout(timeout).timeout(timeout).connect_lazy();
        Ok(Self { client: ControlClient::new(channel), token })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Ok(value) = self.token.bearer().parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    pub async fn describe(&self) -> Result<DescribeResponse, Status> {
        Ok(self.client.clone().describe(self.request(DescribeRequest {})).await?.into_inner())
    }

    pub async fn list_runs(&self) -> Result<Vec<Run>, Status> {
        Ok(self.client.clone().list_runs(self.request(ListRunsRequest {})).await?.into_inner().runs)
    }

    pub async fn kill_run(&self, run_id: &str) -> Result<bool, Status> {
        let request = self.request(KillRunRequest { run_id: run_id.to_owned() });
        Ok(self.client.clone().kill_run(request).await?.into_inner().killed)
    }
}
