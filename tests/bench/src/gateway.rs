//! The gateway measured. A Slack click's round trip: from the signed interaction request to the
//! outcome the gateway posts to the click's `response_url`, which it does once the workflow has
//! acknowledged the decision (its Update returned); against the same Update sent straight to
//! Temporal. And the workflows page with many workflows, 50 a page from Temporal's list API;
//! against that API's own answers for the same pages.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ct_approvals::link::{self, LinkClaim, LinkKey};
use ct_approvals::slack::{self, SigningSecret};
use ct_approvals::{GateDecision, Verdict, session, unix_now};
use ct_contracts::workflows::{ApproveGate, Develop, Status};
use ct_domain::{ApprovalDecision, WorkflowStatus};
use ct_e2e::slack::{click_with, percent, response_receiver};
use ct_e2e::{Stack, http};
use temporalio_client::grpc::WorkflowService;
use temporalio_client::{
    Client, NamespacedClient, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions, WorkflowQueryOptions,
};
use temporalio_common::protos::temporal::api::workflowservice::v1::ListWorkflowExecutionsRequest;

use crate::runs;

/// The gate of the bench's one-stage template.
const STAGE: &str = "build";
const APPROVER: &str = "UBENCH";
const SLACK_SECRET: &[u8] = b"bench-signing-secret-0123456789abcdef";
/// The gateway's page size.
pub(crate) const PAGE_SIZE: i32 = 50;

#[derive(Default)]
pub(crate) struct Figures {
    /// Click to the outcome posted back, and to the click's own answer.
    pub(crate) click_ms: Vec<f64>,
    pub(crate) click_answered_ms: Vec<f64>,
    /// The Update sent straight to Temporal.
    pub(crate) update_ms: Vec<f64>,
    /// The first page, through the gateway and from the list API.
    pub(crate) first_page_ms: Vec<f64>,
    pub(crate) first_page_api_ms: Vec<f64>,
    /// Every page in turn, through the gateway and from the list API.
    pub(crate) all_pages_ms: f64,
    pub(crate) all_pages_api_ms: f64,
    pub(crate) pages: usize,
    pub(crate) workflows_listed: usize,
}

/// Measures `clicks` clicks and as many Updates on one-stage workflows (template `stages`, on
/// `projects`), then lists `listed` more workflows page by page. Needs no approver running:
/// every gate here is decided by what is measured.
pub(crate) async fn measure(
    stack: &Stack,
    projects: &[tempfile::TempDir],
    stages: &Path,
    listed: usize,
) -> anyhow::Result<Figures> {
    let key_bytes = [7u8; 32];
    let key = LinkKey::new(&key_bytes)?;
    let key_file = stack.dir.path().join("bench-link.key");
    let secret_file = stack.dir.path().join("bench-slack.secret");
    std::fs::write(&key_file, key_bytes)?;
    std::fs::write(&secret_file, SLACK_SECRET)?;
    let (receiver_url, responses) = response_receiver();
    let (_gateway, port) = stack.spawn_gateway(&[
        "--link-key-file",
        key_file.to_str().context("key path")?,
        "--slack-signing-secret-file",
        secret_file.to_str().context("secret path")?,
        "--slack-approvers",
        APPROVER,
        "--slack-response-url-prefix",
        &receiver_url,
    ]);
    let client = stack.client().await;
    let signing = SigningSecret::new(SLACK_SECRET);
    let mut figures = Figures::default();

    eprintln!("bench: {} Slack clicks and as many Updates straight to Temporal", projects.len() / 2);
    for (n, project) in projects.iter().enumerate() {
        let id = runs::start(stack, project.path(), stages)?;
        let status = at_the_gate(&client, &id).await?;
        if n % 2 == 0 {
            let decision = GateDecision {
                workflow_id: id.clone(),
                run_id: status.run_id.clone(),
                stage: STAGE.to_owned(),
                verdict: Verdict::Approve,
            };
            let token = link::sign_button(&key, &LinkClaim { decision, expires_unix: unix_now() + 600 });
            let body = String::from_utf8(click_with(APPROVER, Verdict::Approve, &token))?
                .replace("RESPONSE_URL", &percent(&receiver_url))
                .into_bytes();
            let timestamp = unix_now();
            let signature = slack::signature(&signing, timestamp, &body);
            let began = Instant::now();
            let headers = [
                ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
                ("X-Slack-Request-Timestamp", timestamp.to_string()),
                ("X-Slack-Signature", signature),
            ];
            let (code, _) = http(port, "POST", "/slack/interactions", &headers, &body);
            figures.click_answered_ms.push(ms(began));
            if code != 200 {
                bail!("the gateway answered the click with {code}");
            }
            let outcome = responses.recv_timeout(Duration::from_secs(30)).context("no outcome posted back")?;
            figures.click_ms.push(ms(began));
            if !outcome["text"].as_str().is_some_and(|text| text.contains("approved by")) {
                bail!("the click decided nothing: {outcome}");
            }
        } else {
            let handle = client.get_workflow_handle::<Develop>(id.clone());
            let decision =
                ApprovalDecision { stage: STAGE.to_owned(), comment: String::new(), decided_by: Some("bench".into()) };
            let began = Instant::now();
            handle.execute_update(ApproveGate, decision, WorkflowExecuteUpdateOptions::default()).await?;
            figures.update_ms.push(ms(began));
        }
        let handle = client.get_workflow_handle::<Develop>(id.clone());
        handle.get_result(WorkflowGetResultOptions::default()).await.with_context(|| format!("{id} failed"))?;
    }

    eprintln!("bench: {listed} workflows more, then the workflows page");
    crate::floor::run_many(client.clone(), listed, 20).await?;
    let (_, cookie) = session::start_session(&key, "bench", unix_now());
    let session = [("Cookie", format!("ct_session={cookie}"))];
    for _ in 0..20 {
        let began = Instant::now();
        let (code, page) = http(port, "GET", "/", &session, b"");
        figures.first_page_ms.push(ms(began));
        if code != 200 || !page.contains("href=\"/?page=") {
            bail!("the workflows page answered {code} without a next page");
        }
        let began = Instant::now();
        list_page(&client, Vec::new()).await?;
        figures.first_page_api_ms.push(ms(began));
    }
    let began = Instant::now();
    let mut path = "/".to_owned();
    loop {
        let (code, page) = http(port, "GET", &path, &session, b"");
        if code != 200 {
            bail!("{path} answered {code}");
        }
        figures.pages += 1;
        figures.workflows_listed += page.matches("<tr><td><a href=\"/workflows/").count();
        match page.split("href=\"/?page=").nth(1).and_then(|rest| rest.split('"').next()) {
            Some(token) => path = format!("/?page={token}"),
            None => break,
        }
    }
    figures.all_pages_ms = ms(began);
    let began = Instant::now();
    let mut token = Vec::new();
    loop {
        token = list_page(&client, token).await?;
        if token.is_empty() {
            break;
        }
    }
    figures.all_pages_api_ms = ms(began);
    Ok(figures)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Waits (a minute at most) until workflow `id` waits at its gate; its status then.
async fn at_the_gate(client: &Client, id: &str) -> anyhow::Result<WorkflowStatus> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let handle = client.get_workflow_handle::<Develop>(id.to_owned());
    loop {
        if let Ok(status) = handle.query(Status, (), WorkflowQueryOptions::default()).await
            && status.awaiting_approval.as_deref() == Some(STAGE)
        {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("{id} did not reach its gate in a minute");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One page of the list API, as the gateway asks for it; the next page's token.
async fn list_page(client: &Client, token: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let request = ListWorkflowExecutionsRequest {
        namespace: client.namespace(),
        page_size: PAGE_SIZE,
        next_page_token: token,
        ..ListWorkflowExecutionsRequest::default()
    };
    let mut client = client.clone();
    let listed = WorkflowService::list_workflow_executions(&mut client, tonic::Request::new(request)).await?;
    Ok(listed.into_inner().next_page_token)
}
