//! `/`: the workflows, newest first, a page at a time from Temporal's list API (the page token
//! travels in the URL), with the stage, cost and open gate of those still running.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ct_contracts::workflows::{Develop, Status};
use ct_domain::WorkflowStatus;
use futures::StreamExt as _;
use serde::Deserialize;
use temporalio_client::grpc::WorkflowService;
use temporalio_client::{NamespacedClient, WorkflowQueryOptions};
use temporalio_common::protos::temporal::api::enums::v1::WorkflowExecutionStatus;
use temporalio_common::protos::temporal::api::workflow::v1::WorkflowExecutionInfo;
use temporalio_common::protos::temporal::api::workflowservice::v1::ListWorkflowExecutionsRequest;

use super::{dollars, layout, path_segment, state_name};
use crate::Gateway;
use crate::auth::signed_in;
use crate::page::escape;

/// Workflows on one page.
pub(crate) const PAGE_SIZE: i32 = 50;
/// Running workflows asked for their status at once, and how long each may take.
const STATUS_QUERIES_AT_ONCE: usize = 8;
const STATUS_QUERY_DEADLINE: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
pub(crate) struct Paging {
    /// Temporal's token for the next page, base64url.
    page: Option<String>,
}

/// One row: what visibility says, and the status of a running one.
struct Row {
    id: String,
    kind: String,
    status: WorkflowExecutionStatus,
    started: String,
    live: Option<WorkflowStatus>,
}

pub(crate) async fn workflows(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    let who = match signed_in(&gateway, &headers) {
        Ok(who) => who,
        Err(sign_in) => return *sign_in,
    };
    let token = match paging.page.as_deref().map(|page| URL_SAFE_NO_PAD.decode(page)).transpose() {
        Ok(token) => token.unwrap_or_default(),
        Err(_) => {
            return layout(StatusCode::BAD_REQUEST, "Workflows", &who, "<p>That page does not exist.</p>", false);
        }
    };
    let request = ListWorkflowExecutionsRequest {
        namespace: gateway.client.namespace(),
        page_size: PAGE_SIZE,
        next_page_token: token,
        ..ListWorkflowExecutionsRequest::default()
    };
    let mut client = gateway.client.clone();
    let listed = match WorkflowService::list_workflow_executions(&mut client, tonic::Request::new(request)).await {
        Ok(listed) => listed.into_inner(),
        Err(status) => {
            tracing::warn!(error = %status.message(), "could not list the workflows");
            return layout(
                StatusCode::BAD_GATEWAY,
                "Workflows",
                &who,
                "<p>Temporal did not answer the list of workflows; try again in a moment.</p>",
                false,
            );
        }
    };
    let rows: Vec<Row> = futures::stream::iter(listed.executions.into_iter().map(|info| {
        let gateway = gateway.clone();
        async move { row(&gateway, &info).await }
    }))
    .buffered(STATUS_QUERIES_AT_ONCE)
    .collect()
    .await;
    let next = if listed.next_page_token.is_empty() {
        String::new()
    } else {
        let page = URL_SAFE_NO_PAD.encode(&listed.next_page_token);
        format!("<p class=\"paging\"><a href=\"/?page={page}\">Older workflows →</a></p>")
    };
    let body = if rows.is_empty() {
        "<p>No workflows yet: <code>claude-temporal start PROJECT --features …</code> starts one.</p>".to_owned()
    } else {
        format!(
            "<table><thead><tr><th>Workflow</th><th>Kind</th><th>State</th><th>Stage</th><th class=\"num\">Cost</th>\
             <th>Waiting for</th><th>Started</th></tr></thead><tbody>{}</tbody></table>{next}",
            rows.iter().map(render).collect::<String>()
        )
    };
    layout(StatusCode::OK, "Workflows", &who, &body, false)
}

async fn row(gateway: &Gateway, info: &WorkflowExecutionInfo) -> Row {
    let id = info.execution.as_ref().map(|e| e.workflow_id.clone()).unwrap_or_default();
    let status = WorkflowExecutionStatus::try_from(info.status).unwrap_or(WorkflowExecutionStatus::Unspecified);
    let live = if status == WorkflowExecutionStatus::Running {
        let handle = gateway.client.get_workflow_handle::<Develop>(&id);
        let query = handle.query(Status, (), WorkflowQueryOptions::default());
        tokio::time::timeout(STATUS_QUERY_DEADLINE, query).await.ok().and_then(Result::ok)
    } else {
        None
    };
    let started = info
        .start_time
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    Row { id, kind: info.r#type.as_ref().map(|t| t.name.clone()).unwrap_or_default(), status, started, live }
}

fn render(row: &Row) -> String {
    let (state, stage, cost, waiting) = match &row.live {
        Some(status) => (
            state_name(&status.state),
            status.current_stage.clone().unwrap_or_default(),
            dollars(status.total_cost_usd),
            status.awaiting_approval.as_ref().map(|stage| format!("approval of {stage}")).unwrap_or_default(),
        ),
        None => (closed_state(row.status).to_owned(), String::new(), String::new(), String::new()),
    };
    format!(
        "<tr><td><a href=\"/workflows/{href}\">{id}</a></td><td>{kind}</td><td><span class=\"state {state}\">{state}</span></td>\
         <td>{stage}</td><td class=\"num\">{cost}</td><td>{waiting}</td><td>{started}</td></tr>",
        href = path_segment(&row.id),
        id = escape(&row.id),
        kind = escape(&row.kind),
        state = escape(&state),
        stage = escape(&stage),
        waiting = escape(&waiting),
        started = escape(&row.started),
    )
}

/// Temporal's word for a workflow's state, as the CLI's JSON names it.
fn closed_state(status: WorkflowExecutionStatus) -> &'static str {
    match status {
        WorkflowExecutionStatus::Running => "running",
        WorkflowExecutionStatus::Completed => "completed",
        WorkflowExecutionStatus::Failed => "failed",
        WorkflowExecutionStatus::Canceled => "cancelled",
        WorkflowExecutionStatus::Terminated => "terminated",
        WorkflowExecutionStatus::ContinuedAsNew => "continued",
        WorkflowExecutionStatus::TimedOut => "timed_out",
        _ => "unknown",
    }
}
