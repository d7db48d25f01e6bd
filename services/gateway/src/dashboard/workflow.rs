//! `/workflows/<id>`: one workflow's figures, its open gate with Approve and Reject, its
//! stages (state, attempts, tokens, cost, tests, time, who approved, the files changed) and
//! cost over the stages, a link to each stage's diff, and the events; kept live by `live.js`
//! polling `status.json` and following `events`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ct_approvals::{GateDecision, Verdict};
use ct_contracts::workflows::{Develop, Status};
use ct_domain::WorkflowStatus;
use temporalio_client::WorkflowQueryOptions;
use temporalio_client::errors::WorkflowQueryError;

use super::{chart, dollars, duration, layout, path_segment, state_name};
use crate::Gateway;
use crate::auth::{cross_site, csrf_holds, same_origin, signed_in};
use crate::decide::{ANYONE, MAX_COMMENT_CHARS, Outcome, decide as send};
use crate::page::escape;

const QUERY_DEADLINE: Duration = Duration::from_secs(5);

/// The workflow's status with its running stage's live figures, or why there is none.
pub(super) async fn status_of(gateway: &Gateway, id: &str) -> Result<WorkflowStatus, (StatusCode, String)> {
    let handle = gateway.client.get_workflow_handle::<Develop>(id);
    let query = handle.query(Status, (), WorkflowQueryOptions::default());
    let mut status = match tokio::time::timeout(QUERY_DEADLINE, query).await {
        Ok(Ok(status)) => status,
        Ok(Err(WorkflowQueryError::NotFound(_))) => {
            return Err((StatusCode::NOT_FOUND, format!("There is no workflow `{id}`.")));
        }
        Ok(Err(err)) => {
            tracing::warn!(workflow = %id, %err, "the workflow could not be asked for its state");
            return Err((
                StatusCode::BAD_GATEWAY,
                format!("Workflow `{id}` could not be asked for its state; try again."),
            ));
        }
        Err(_) => {
            return Err((
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "No worker answered for workflow `{id}` within {} s: is ct-worker running?",
                    QUERY_DEADLINE.as_secs()
                ),
            ));
        }
    };
    ct_service::pending::overlay(&mut status, &ct_service::pending::of(&gateway.client, id).await);
    Ok(status)
}

pub(crate) async fn page(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let who = match signed_in(&gateway, &headers) {
        Ok(who) => who,
        Err(sign_in) => return *sign_in,
    };
    let status = match status_of(&gateway, &id).await {
        Ok(status) => status,
        Err((code, why)) => return layout(code, &id, &who, &format!("<p>{}</p>", escape(&why)), false),
    };
    let body = format!(
        "{figures}{gate}<h2>Stages</h2>{stages}<h2>Cost over the stages</h2>{chart}\
         <h2>Events</h2><ol class=\"events\" data-events-url=\"/workflows/{href}/events\">\
         <li class=\"quiet\">Loading the events…</li></ol>",
        figures = figures(&status),
        gate = gate(&status, &who.csrf),
        stages = stages(&status),
        href = path_segment(&id),
        chart = chart::cost_chart(&status.stages),
    );
    let body = format!(
        "<div data-status-url=\"/workflows/{href}/status.json\" data-state=\"{state}\" data-gate=\"{gate}\" \
         data-poll=\"{poll}\">{body}</div>",
        href = path_segment(&id),
        // A workflow that has ended changes no more: its page does not poll.
        poll = !status.state.is_final(),
        state = escape(&state_name(&status.state)),
        gate = escape(status.awaiting_approval.as_deref().unwrap_or_default()),
    );
    layout(StatusCode::OK, &id, &who, &body, true)
}

pub(crate) async fn status_json(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(sign_in) = signed_in(&gateway, &headers) {
        return *sign_in;
    }
    match status_of(&gateway, &id).await {
        Ok(status) => {
            let mut response = Json(status).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            response
        }
        Err((code, why)) => (code, why).into_response(),
    }
}

pub(crate) async fn decide(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Bytes,
) -> Response {
    let who = match signed_in(&gateway, &headers) {
        Ok(who) => who,
        Err(sign_in) => return *sign_in,
    };
    if !same_origin(&headers) {
        return cross_site();
    }
    let field = |name: &str| {
        form_urlencoded::parse(&form)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    if !csrf_holds(&gateway, &who.session, &field("csrf")) {
        tracing::warn!(user = %who.session.user, %peer, "a decision without the session's CSRF token was refused");
        return (StatusCode::FORBIDDEN, "this form is not one the dashboard gave you: reload the page\n")
            .into_response();
    }
    let verdict = match field("verdict").as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        _ => return (StatusCode::BAD_REQUEST, "the form says neither approve nor reject\n").into_response(),
    };
    let decision = GateDecision { workflow_id: id.clone(), run_id: field("run_id"), stage: field("stage"), verdict };
    let comment = field("comment");
    let by = format!("{} (dashboard)", who.session.user);
    match send(&gateway.client, &decision, by, comment, ANYONE).await {
        Outcome::Decided => Redirect::to(&format!("/workflows/{}", path_segment(&id))).into_response(),
        Outcome::Refused(why) => layout(
            StatusCode::CONFLICT,
            "Nothing was decided",
            &who,
            &format!(
                "<p>{}</p><p><a href=\"/workflows/{}\">Back to the workflow</a></p>",
                escape(&why),
                path_segment(&id)
            ),
            false,
        ),
        Outcome::Unknown(why) => {
            layout(StatusCode::BAD_GATEWAY, "Not known yet", &who, &format!("<p>{}</p>", escape(&why)), false)
        }
    }
}

fn figures(status: &WorkflowStatus) -> String {
    // `live`: the key live.js updates the figure by; the others change only with the state, which
    // reloads the page.
    let figure = |label: &str, live: Option<&str>, value: String| {
        let live = live.map(|key| format!(" data-live=\"{key}\"")).unwrap_or_default();
        format!("<div class=\"figure\">{label}<b{live}>{}</b></div>", escape(&value))
    };
    let mut html = String::from("<div class=\"figures\">");
    html.push_str(&figure("State", None, state_name(&status.state)));
    let stage = status.current_stage.clone().unwrap_or_else(|| "-".to_owned());
    html.push_str(&figure("Stage", Some("current_stage"), stage));
    html.push_str(&figure("Tokens", Some("total_tokens"), status.total_tokens.to_string()));
    html.push_str(&figure("Cost", Some("total_cost"), dollars(status.total_cost_usd)));
    if let Some(limit) = status.budget.as_ref().and_then(|b| b.limit_usd) {
        html.push_str(&figure("Budget", None, dollars(limit)));
    }
    html.push_str("</div>");
    if let Some(error) = &status.error {
        html.push_str(&format!("<p class=\"notice\">{}</p>", escape(error)));
    }
    html
}

/// The open gate's form: the run it is for, the stage, a comment, Approve or Reject.
fn gate(status: &WorkflowStatus, csrf: &str) -> String {
    let Some(stage) = &status.awaiting_approval else { return String::new() };
    let summary = status
        .stages
        .iter()
        .find(|s| &s.name == stage)
        .map(|s| {
            format!(
                "{} files changed (+{}/-{}), tests {}",
                s.files_changed.len(),
                s.lines_added,
                s.lines_removed,
                match (s.tests_passed, s.tests_failed) {
                    (Some(passed), Some(failed)) => format!("{passed} passed, {failed} failed"),
                    _ => "not run".to_owned(),
                }
            )
        })
        .unwrap_or_default();
    format!(
        "<div class=\"gate\"><p>Stage <b>{stage}</b> waits for approval: {summary}.</p>\
         <form method=\"post\" action=\"/workflows/{href}/decide\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"run_id\" value=\"{run}\">\
         <input type=\"hidden\" name=\"stage\" value=\"{stage}\">\
         <p><label>Comment (optional)<br><textarea name=\"comment\" rows=\"2\" maxlength=\"{MAX_COMMENT_CHARS}\"></textarea></label></p>\
         <p><button type=\"submit\" name=\"verdict\" value=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"verdict\" value=\"reject\">Reject</button></p></form></div>",
        stage = escape(stage),
        summary = escape(&summary),
        href = path_segment(&status.workflow_id),
        csrf = escape(csrf),
        run = escape(&status.run_id),
    )
}

fn stages(status: &WorkflowStatus) -> String {
    let rows: String = status
        .stages
        .iter()
        .enumerate()
        .map(|(index, stage)| {
            let state = state_name(&stage.state);
            let tests = match (stage.tests_passed, stage.tests_failed) {
                (Some(passed), Some(failed)) => format!("{passed} passed, {failed} failed"),
                _ => String::new(),
            };
            let diff = match &stage.trees {
                Some(_) => format!(
                    " <a href=\"/workflows/{}/stages/{}/diff\">diff</a>",
                    path_segment(&status.workflow_id),
                    index + 1
                ),
                None => String::new(),
            };
            let files = if stage.files_changed.is_empty() {
                diff
            } else {
                format!(
                    "<details><summary>{}{} files (+{}/-{})</summary><ul>{}</ul></details>{diff}",
                    if stage.files_truncated { "over " } else { "" },
                    stage.files_changed.len(),
                    stage.lines_added,
                    stage.lines_removed,
                    stage.files_changed.iter().map(|f| format!("<li>{}</li>", escape(f))).collect::<String>()
                )
            };
            format!(
                "<tr data-stage=\"{name}\"><td>{name}</td><td><span class=\"state {state}\" data-live=\"state\">{state}</span></td>\
                 <td class=\"num\" data-live=\"attempts\">{attempts}</td><td class=\"num\" data-live=\"tokens\">{tokens}</td>\
                 <td class=\"num\" data-live=\"cost\">{cost}</td><td>{tests}</td><td class=\"num\">{time}</td>\
                 <td>{approved}</td><td>{files}</td></tr>",
                name = escape(&stage.name),
                state = escape(&state),
                attempts = stage.attempts,
                tokens = stage.total_tokens(),
                cost = dollars(stage.cost_usd),
                tests = escape(&tests),
                time = if stage.duration_ms > 0 { duration(stage.duration_ms) } else { String::new() },
                approved = escape(stage.approved_by.as_deref().unwrap_or_default()),
            )
        })
        .collect();
    format!(
        "<table><thead><tr><th>Stage</th><th>State</th><th class=\"num\">Attempts</th><th class=\"num\">Tokens</th>\
         <th class=\"num\">Cost</th><th>Tests</th><th class=\"num\">Time</th><th>Approved by</th><th>Files</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    )
}
