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

use tracing::Instrument as _;

use crate::{ControlToken, RunRegistry};

/// The control API's gRPC service name, as spans name it.
const CONTROL_SERVICE: &str = "claude_temporal.control.v1.Control";

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
        .trace_fn(ct_telemetry::grpc::server_span)
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

    /// Makes one call as a client span whose context travels in the request's metadata.
    async fn call<T, R, F>(
        &self,
        method: &str,
        message: T,
        send: impl FnOnce(ControlClient<Channel>, Request<T>) -> F,
    ) -> Result<R, Status>
    where
        F: Future<Output = Result<Response<R>, Status>>,
    {
        let span = ct_telemetry::grpc::client_span(CONTROL_SERVICE, method);
        let outcome = async {
            let mut request = Request::new(message);
            if let Ok(value) = self.token.bearer().parse() {
                request.metadata_mut().insert("authorization", value);
            }
            ct_telemetry::grpc::inject_current(request.metadata_mut());
            send(self.client.clone(), request).await
        }
        .instrument(span.clone())
        .await;
        ct_telemetry::grpc::record_status(&span, outcome.as_ref().map_or_else(Status::code, |_| tonic::Code::Ok));
        outcome.map(Response::into_inner)
    }

    pub async fn describe(&self) -> Result<DescribeResponse, Status> {
        self.call("Describe", DescribeRequest {}, |mut client, request| async move { client.describe(request).await })
            .await
    }

    pub async fn list_runs(&self) -> Result<Vec<Run>, Status> {
        let listed = self
            .call("ListRuns", ListRunsRequest {}, |mut client, request| async move { client.list_runs(request).await });
        Ok(listed.await?.runs)
    }

    pub async fn kill_run(&self, run_id: &str) -> Result<bool, Status> {
        let message = KillRunRequest { run_id: run_id.to_owned() };
        let killed = self.call("KillRun", message, |mut client, request| async move { client.kill_run(request).await });
        Ok(killed.await?.killed)
    }
}
