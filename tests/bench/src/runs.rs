//! Develop workflows on the local stack, started as a user starts them (the CLI) and approved
//! the moment they ask (from their `approval.requested` events, so nothing polls the worker),
//! and the figures of each from its history.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use ct_contracts::workflows::{ApproveGate, Develop};
use ct_domain::ApprovalDecision;
use ct_e2e::Stack;
use ct_events::{CloudEvent, EventData};
use futures::StreamExt;
use temporalio_client::{Client, WorkflowExecuteUpdateOptions, WorkflowFetchHistoryOptions, WorkflowGetResultOptions};
use temporalio_common::HasWorkflowDefinition;

use crate::history::{self, RunFigures};

/// Approves every gate of every workflow as soon as it opens, until dropped.
pub(crate) struct Approver {
    _running: crate::AbortOnDrop,
}

impl Approver {
    pub(crate) async fn start(stack: &Stack) -> anyhow::Result<Approver> {
        let nats = async_nats::connect(stack.nats.url()).await.context("NATS")?;
        let mut requests = nats.subscribe("ct.events.*.approval.requested").await.context("subscribe")?;
        let client = stack.client().await;
        Ok(Approver {
            _running: crate::AbortOnDrop(tokio::spawn(async move {
                while let Some(message) = requests.next().await {
                    let Ok(CloudEvent { data: EventData::ApprovalRequested(asked), .. }) =
                        CloudEvent::from_json(&message.payload)
                    else {
                        continue;
                    };
                    let client = client.clone();
                    tokio::spawn(async move {
                        let decision =
                            ApprovalDecision { stage: asked.stage, comment: "benchmark".to_owned(), decided_by: None };
                        let handle = client.get_workflow_handle::<Develop>(asked.workflow_id.clone());
                        if let Err(err) =
                            handle.execute_update(ApproveGate, decision, WorkflowExecuteUpdateOptions::default()).await
                        {
                            eprintln!("bench: cannot approve {}: {err}", asked.workflow_id);
                        }
                    });
                }
            })),
        })
    }
}

/// Starts `count` develop workflows at once on `project` copies (one each), with `stages` as
/// their template, and waits until all have completed. Returns their ids and the wall time.
pub(crate) async fn develop_at_once(
    stack: &Stack,
    projects: &[tempfile::TempDir],
    stages: &Path,
) -> anyhow::Result<(Vec<String>, f64)> {
    let began = Instant::now();
    let ids: Vec<anyhow::Result<String>> = std::thread::scope(|scope| {
        let started: Vec<_> =
            projects.iter().map(|project| scope.spawn(|| start(stack, project.path(), stages))).collect();
        started.into_iter().map(|s| s.join().unwrap_or_else(|_| bail!("a start panicked"))).collect()
    });
    let ids = ids.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let client = stack.client().await;
    for id in &ids {
        let handle = client.get_workflow_handle::<Develop>(id.clone());
        let status =
            handle.get_result(WorkflowGetResultOptions::default()).await.with_context(|| format!("{id} failed"))?;
        if status.state != ct_domain::RunState::Completed {
            bail!("{id} ended {:?}: {:?}", status.state, status.error);
        }
    }
    Ok((ids, began.elapsed().as_secs_f64()))
}

/// Starts a develop workflow on `project` through the CLI, with `stages` as its template when
/// given; its id.
pub(crate) fn start(stack: &Stack, project: &Path, stages: &Path) -> anyhow::Result<String> {
    let project = project.to_str().context("project path")?;
    let mut args = vec!["start", project, "--json"];
    let stages = stages.to_str().context("stages path")?;
    if !stages.is_empty() {
        args.extend(["--stages", stages]);
    }
    let out = stack.cli(&args);
    if out.code != 0 {
        bail!("start: {}", out.stderr);
    }
    out.json()["workflow_id"].as_str().map(str::to_owned).context("start printed no workflow_id")
}

/// The figures of workflow `id`, from its history.
pub(crate) async fn figures_of(client: &Client, id: &str) -> anyhow::Result<RunFigures> {
    figures_of_kind::<Develop>(client, id).await
}

pub(crate) async fn figures_of_kind<W: HasWorkflowDefinition>(client: &Client, id: &str) -> anyhow::Result<RunFigures> {
    let events = client
        .get_workflow_handle::<W>(id.to_owned())
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await
        .with_context(|| format!("history of {id}"))?;
    Ok(history::figures(&history::events(&events)))
}
