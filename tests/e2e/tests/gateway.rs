//! The gateway end to end: a develop workflow waits at its gate; a signed link (confirmation
//! page, then a POST from a plain HTTP client) approves it and the workflow goes on; changed,
//! foreign and expired links, and the used link again, decide nothing. Slack clicks signed with
//! the app's secret approve once; a bad signature, an old timestamp, a user who is no approver
//! and the same request replayed are refused (a workflow started with its own approvers takes
//! only theirs), and the message is updated through the click's
//! `response_url` (a real HTTP receiver here). A link made for one run decides nothing in a
//! later run that reuses the workflow id.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ct_approvals::link::{self, LinkClaim, LinkKey};
use ct_approvals::slack::{self, SigningSecret};
use ct_approvals::{GateDecision, Verdict};
use ct_e2e::slack::{click_with, percent, response_receiver};
use ct_e2e::{Stack, StackOptions, example, git_project, http, http_with_head, tool, workspace_root};
use ct_scripted_model::Scenario;

const STAGE: &str = "core-implementation";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A develop workflow waiting at the gate of [`STAGE`]: the stack, the project and its id.
async fn waiting_at_the_gate() -> (Stack, tempfile::TempDir, String) {
    let scenario = Scenario::from_file(&example("scenarios/develop-textstats.json")).expect("demo scenario");
    let stack = Stack::start(StackOptions::new(scenario)).await;
    let project = git_project(&example("textstats"));
    let id = start_to_the_gate(&stack, project.path(), &[]);
    (stack, project, id)
}

/// Starts a develop workflow on `project` and waits for the gate of [`STAGE`]; its id.
fn start_to_the_gate(stack: &Stack, project: &Path, extra: &[&str]) -> String {
    let mut args = vec!["start", project.to_str().unwrap(), "--features", "word counts", "--json"];
    args.extend_from_slice(extra);
    let out = stack.cli(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.json()["workflow_id"].as_str().unwrap().to_owned();
    stack.wait_for_status(&id, "the gate", |s| s.awaiting_approval.as_deref() == Some(STAGE));
    id
}

/// The run a workflow id names now.
fn run_of(stack: &Stack, id: &str) -> String {
    let run = stack.cli(&["status", id, "--json"]).json()["run_id"].as_str().unwrap_or_default().to_owned();
    assert!(!run.is_empty(), "status names the run");
    run
}

/// A GET of the server-sent events at `path`, left open.
fn open_events(port: u16, path: &str, headers: &[(&str, String)]) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

/// Reads from `stream` into `seen` until `done` holds of it; fails after a minute.
fn read_until(stream: &mut TcpStream, seen: &mut String, done: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut buffer = [0u8; 8192];
    while !done(seen) {
        assert!(std::time::Instant::now() < deadline, "not seen in a minute:\n{seen}");
        match stream.read(&mut buffer) {
            Ok(0) => panic!("the stream ended first:\n{seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
            Err(err) if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(err) => panic!("reading the events: {err}"),
        }
    }
}

fn claim(id: &str, run: &str, verdict: Verdict, expires_unix: i64) -> LinkClaim {
    let decision =
        GateDecision { workflow_id: id.to_owned(), run_id: run.to_owned(), stage: STAGE.to_owned(), verdict };
    LinkClaim { decision, expires_unix }
}

/// A signed approval link's token.
fn token(key: &LinkKey, id: &str, run: &str, verdict: Verdict, expires_unix: i64) -> String {
    link::sign(key, &claim(id, run, verdict, expires_unix))
}

/// A Slack button's value, as the notifier signs it.
fn button(key: &LinkKey, id: &str, run: &str, verdict: Verdict, expires_unix: i64) -> String {
    link::sign_button(key, &claim(id, run, verdict, expires_unix))
}

fn write_secret(dir: &Path, name: &str, secret: &[u8]) -> String {
    let file = dir.join(name);
    std::fs::write(&file, secret).unwrap();
    file.to_str().unwrap().to_owned()
}

fn gate_open(stack: &Stack, id: &str) -> bool {
    let status = stack.cli(&["status", id, "--json"]);
    status.json()["awaiting_approval"].as_str() == Some(STAGE)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_link_approves_once_and_changed_foreign_or_expired_links_decide_nothing() {
    let (stack, _project, id) = waiting_at_the_gate().await;
    let secret = [42u8; 32];
    let key_file = write_secret(stack.dir.path(), "link.key", &secret);
    let (_gateway, port) = stack.spawn_gateway(&["--link-key-file", &key_file]);
    let key = LinkKey::new(&secret).unwrap();
    // The link as a person gets it: from the CLI.
    let gateway_url = format!("http://127.0.0.1:{port}");
    let issued = stack.cli(&["link", &id, "--link-key-file", &key_file, "--gateway-url", &gateway_url, "--json"]);
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let url = issued.json()["url"].as_str().unwrap().to_owned();
    let good = url.strip_prefix(&format!("{gateway_url}/decide/")).expect("a link to the gateway").to_owned();

    let run = run_of(&stack, &id);
    let (status, page) = http(port, "GET", &format!("/decide/{good}"), &[], b"");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!("Approve stage <b>{STAGE}</b>")) && page.contains("<form method=\"post\""),
        "{page}"
    );
    assert!(gate_open(&stack, &id), "showing the page decides nothing");

    let form = [("Content-Type", "application/x-www-form-urlencoded".to_owned())];
    let (body, tag) = good.split_once('.').unwrap();
    let rejected = token(&key, &id, &run, Verdict::Reject, now() + 600);
    let changed = format!("{}.{tag}", rejected.split_once('.').unwrap().0);
    assert_ne!(changed, format!("{body}.{tag}"));
    let foreign = token(&LinkKey::new(&[7u8; 32]).unwrap(), &id, &run, Verdict::Approve, now() + 600);
    let expired = token(&key, &id, &run, Verdict::Approve, now() - 1);
    for (link, want) in [(changed, 403), (foreign, 403), (expired, 410)] {
        let (status, page) = http(port, "POST", &format!("/decide/{link}"), &form, b"comment=x");
        assert_eq!(status, want, "{page}");
        assert!(page.contains("does not decide anything"), "{page}");
    }
    assert!(gate_open(&stack, &id), "no refused link decided");

    let (status, page) = http(port, "POST", &format!("/decide/{good}"), &form, b"comment=from+my+phone");
    assert_eq!(status, 200, "{page}\n{}", stack.logs());
    assert!(page.contains("approved: the workflow goes on"), "{page}");
    let status = stack.wait_for_status(&id, "the next stage", |s| {
        s.stages.len() > 2 && s.stages[2].state != ct_domain::StageState::Pending
    });
    let approved = &status.stages[1];
    assert_eq!(approved.approval_comment.as_deref(), Some("from my phone"));
    assert!(
        approved.approved_by.as_deref().is_some_and(|by| by.starts_with("a signed approve link, from 127.0.0.1")),
        "{approved:?}"
    );

    let (status, page) = http(port, "POST", &format!("/decide/{good}"), &form, b"");
    assert_eq!(status, 409, "a used link decides nothing: {page}");
    assert!(page.contains("is not open"), "{page}");
    let (status, page) = http(port, "GET", &format!("/decide/{good}"), &[], b"");
    assert_eq!(status, 409, "a used link's page says so, with nothing to confirm: {page}");
    assert!(page.contains("is not open") && !page.contains("<form"), "{page}");
    assert_eq!(stack.event_counts(&id).get("approval.granted").copied(), Some(1), "decided once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_made_for_one_run_decides_nothing_in_a_later_run_with_the_same_id() {
    let scenario = Scenario::from_file(&example("scenarios/develop-textstats.json")).expect("demo scenario");
    let stack = Stack::start(StackOptions::new(scenario)).await;
    let project = git_project(&example("textstats"));
    let id = start_to_the_gate(&stack, project.path(), &["--id", "develop-reused"]);
    let first_run = run_of(&stack, &id);
    let key_file = write_secret(stack.dir.path(), "link.key", b"a link key of forty-two bytes, for tests\n");
    let (_gateway, port) = stack.spawn_gateway(&["--link-key-file", &key_file]);
    let gateway_url = format!("http://127.0.0.1:{port}");
    let issued = stack.cli(&["link", &id, "--link-key-file", &key_file, "--gateway-url", &gateway_url, "--json"]);
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let url = issued.json()["url"].as_str().unwrap().to_owned();
    let path = url.strip_prefix(&gateway_url).unwrap().to_owned();

    let cancelled = stack.cli(&["cancel", &id]);
    assert_eq!(cancelled.code, 0, "{}", cancelled.stderr);
    // `result` waits for the run to end (the cancellation undoes the stage first).
    let ended = stack.cli(&["result", &id]);
    assert_ne!(ended.code, 0, "a cancelled run: {}", ended.stderr);
    // The same id again, on a fresh copy of the project: a new run, waiting at the same gate.
    let second_project = git_project(&example("textstats"));
    let again = start_to_the_gate(&stack, second_project.path(), &["--id", &id]);
    assert_eq!(again, id);
    let second_run = run_of(&stack, &id);
    assert_ne!(second_run, first_run, "a new run under the same id");

    let form = [("Content-Type", "application/x-www-form-urlencoded".to_owned())];
    let (status, page) = http(port, "POST", &path, &form, b"");
    assert_eq!(status, 409, "the first run's link: {page}");
    assert!(page.contains("is not open"), "{page}");
    assert!(gate_open(&stack, &id), "the later run's gate is still open");
}

/// What a gateway that takes Slack's buttons is given: its signing secret, the link key, who
/// may approve, and a local stand-in for Slack's `response_url`s.
struct SlackSetup {
    args: Vec<String>,
    key: LinkKey,
    signing: SigningSecret,
    receiver_url: String,
    responses: mpsc::Receiver<serde_json::Value>,
}

const SLACK_SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";

fn slack_setup(stack: &Stack, approvers: &str) -> SlackSetup {
    let secret_file = write_secret(stack.dir.path(), "slack.secret", SLACK_SECRET);
    let key_file = write_secret(stack.dir.path(), "link.key", &[42u8; 32]);
    let (receiver_url, responses) = response_receiver();
    let args = [
        "--slack-signing-secret-file",
        &secret_file,
        "--link-key-file",
        &key_file,
        "--slack-approvers",
        approvers,
        "--slack-response-url-prefix",
        &receiver_url,
    ]
    .map(str::to_owned)
    .to_vec();
    SlackSetup {
        args,
        key: LinkKey::new(&[42u8; 32]).unwrap(),
        signing: SigningSecret::new(SLACK_SECRET),
        receiver_url,
        responses,
    }
}

impl SlackSetup {
    fn spawn(&self, stack: &Stack) -> (ct_e2e::Service, u16) {
        stack.spawn_gateway(&self.args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_slack_click_by_an_approver_approves_once_and_everything_else_is_refused() {
    let (stack, _project, id) = waiting_at_the_gate().await;
    let setup = slack_setup(&stack, "U123,U456");
    let (_gateway, port) = setup.spawn(&stack);
    let SlackSetup { key, signing, receiver_url, responses, .. } = &setup;
    let post = |body: &[u8], timestamp: i64, signature: String| {
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
            ("X-Slack-Request-Timestamp", timestamp.to_string()),
            ("X-Slack-Signature", signature),
        ];
        http(port, "POST", "/slack/interactions", &headers, body)
    };
    let with_receiver =
        |body: Vec<u8>| String::from_utf8(body).unwrap().replace("RESPONSE_URL", &percent(receiver_url)).into_bytes();
    let next = || responses.recv_timeout(Duration::from_secs(60)).expect("the gateway posts to the response_url");

    let run = run_of(&stack, &id);
    let approve_token = button(key, &id, &run, Verdict::Approve, now() + 600);
    let approve = with_receiver(click_with("U123", Verdict::Approve, &approve_token));
    let ts = now();
    let (status, _) = post(&approve, ts, "v0=00".to_owned());
    assert_eq!(status, 401, "a bad signature");
    let old = ts - 6 * 60;
    let (status, body) = post(&approve, old, slack::signature(signing, old, &approve));
    assert_eq!(status, 401, "a timestamp six minutes old: {body}");
    let stranger = with_receiver(click_with("U999", Verdict::Approve, &approve_token));
    let (status, _) = post(&stranger, ts, slack::signature(signing, ts, &stranger));
    assert_eq!(status, 200);
    let told = next();
    assert!(told["text"].as_str().unwrap().contains("may not decide"), "{told}");
    // Buttons whose value is no decision the stack signed: a message anyone posted to the
    // channel, and an Approve button carrying the signed Reject.
    let unsigned = serde_json::json!({ "workflow_id": id, "run_id": run, "stage": STAGE, "verdict": "approve" });
    let reject_token = button(key, &id, &run, Verdict::Reject, now() + 600);
    for forged in [
        click_with("U123", Verdict::Approve, &unsigned.to_string()),
        click_with("U123", Verdict::Approve, &reject_token),
    ] {
        let forged = with_receiver(forged);
        let (status, body) = post(&forged, ts, slack::signature(signing, ts, &forged));
        assert_eq!(status, 403, "{body}");
    }
    assert!(gate_open(&stack, &id), "nothing refused decided");

    let signature = slack::signature(signing, ts, &approve);
    let (status, _) = post(&approve, ts, signature.clone());
    assert_eq!(status, 200);
    let told = next();
    assert_eq!(told["replace_original"], true, "{told}");
    assert!(told["text"].as_str().unwrap().contains("approved by <@U123>"), "{told}");
    let status = stack.wait_for_status(&id, "the approval", |s| s.stages[1].approved_by.is_some());
    assert_eq!(status.stages[1].approved_by.as_deref(), Some("Slack user U123 (ann)"));

    // The same request again, as a replay would send it: signed and recent, and refused.
    let (status, body) = post(&approve, ts, signature);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("replay"), "{body}");
    // A new click on the decided gate (a second approver, say) is told the gate is closed.
    let late = with_receiver(click_with("U456", Verdict::Reject, &reject_token));
    let (status, _) = post(&late, ts, slack::signature(signing, ts, &late));
    assert_eq!(status, 200);
    let told = next();
    assert!(told["text"].as_str().unwrap().starts_with("Nothing was decided"), "{told}");
    assert_eq!(stack.event_counts(&id).get("approval.granted").copied(), Some(1), "decided once");
    assert_eq!(stack.event_counts(&id).get("approval.rejected").copied(), None);

    // A workflow started with its own approvers: the gateway's are not among them.
    let other_project = git_project(&example("textstats"));
    let own = start_to_the_gate(&stack, other_project.path(), &["--slack-approvers", "U777"]);
    let own_token = button(key, &own, &run_of(&stack, &own), Verdict::Approve, now() + 600);
    let configured = with_receiver(click_with("U123", Verdict::Approve, &own_token));
    let (status, _) = post(&configured, ts, slack::signature(signing, ts, &configured));
    assert_eq!(status, 200);
    let told = next();
    assert!(told["text"].as_str().unwrap().contains("U123 may not decide"), "{told}");
    assert!(gate_open(&stack, &own), "the gateway's approver decided a workflow that names its own");
    // A button's value (anyone in the channel can read it) is no approval link.
    let form = [("Content-Type", "application/x-www-form-urlencoded".to_owned())];
    let (status, page) = http(port, "POST", &format!("/decide/{own_token}"), &form, b"");
    assert_eq!(status, 403, "{page}");
    assert!(gate_open(&stack, &own), "a button's value decided as a link");
    let named = with_receiver(click_with("U777", Verdict::Approve, &own_token));
    let (status, _) = post(&named, ts, slack::signature(signing, ts, &named));
    assert_eq!(status, 200);
    let told = next();
    assert!(told["text"].as_str().unwrap().contains("approved by <@U777>"), "{told}");
}

/// The value of `name` in a page's `<input type="hidden" name=… value=…>`.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_signs_in_through_the_cli_shows_the_gate_and_approves_with_its_csrf_token() {
    let (stack, _project, id) = waiting_at_the_gate().await;
    let key_file = write_secret(stack.dir.path(), "link.key", &[42u8; 32]);
    let (_gateway, port) = stack.spawn_gateway(&["--link-key-file", &key_file]);
    let gateway_url = format!("http://127.0.0.1:{port}");

    let (status, page) = http(port, "GET", "/", &[], b"");
    assert_eq!(status, 401, "no session, no list: {page}");
    assert!(page.contains("claude-temporal ui") && !page.contains(&id), "{page}");
    let (status, _) = http(port, "GET", &format!("/workflows/{id}/status.json"), &[], b"");
    assert_eq!(status, 401);

    let issued = stack.cli(&["ui", "--link-key-file", &key_file, "--gateway-url", &gateway_url, "--json"]);
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let login = issued.json()["url"].as_str().unwrap().strip_prefix(&gateway_url).unwrap().to_owned();
    let (status, page) = http(port, "GET", &login, &[], b"");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\""), "opening the link signs nobody in: {page}");
    let (status, head, _) = http_with_head(port, "POST", &login, &[], b"");
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: ").or_else(|| line.strip_prefix("Set-Cookie: ")))
        .expect("a session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = [("Cookie", cookie.split(';').next().unwrap().to_owned())];
    let (status, _) = http(port, "POST", &login, &[], b"");
    assert_eq!(status, 409, "a sign-in link works once");

    let (status, list) = http(port, "GET", "/", &session, b"");
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains(&format!("href=\"/workflows/{id}\"")) && list.contains(&format!("approval of {STAGE}")),
        "{list}"
    );
    let (status, page) = http(port, "GET", &format!("/workflows/{id}"), &session, b"");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("Stage <b>{STAGE}</b> waits for approval")), "{page}");
    assert!(page.contains("<svg class=\"chart\"") && page.contains("data-stage=\"scaffold\""), "{page}");
    let (status, live) = http(port, "GET", &format!("/workflows/{id}/status.json"), &session, b"");
    assert_eq!(status, 200);
    let live: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(live["awaiting_approval"], STAGE);
    assert!(live["total_cost_usd"].as_f64().unwrap() > 0.0, "{live}");

    // The first stage's diff, read from the project's repository.
    let scaffold = &stack.cli(&["status", &id, "--json"]).json()["stages"][0];
    let written = scaffold["files_changed"][0].as_str().expect("the scaffold stage changed a file").to_owned();
    let diff_link = format!("/workflows/{id}/stages/1/diff");
    assert!(page.contains(&format!("href=\"{diff_link}\"")), "{page}");
    let (status, _) = http(port, "GET", &diff_link, &[], b"");
    assert_eq!(status, 401, "no session, no diff");
    let (status, diff) = http(port, "GET", &diff_link, &session, b"");
    assert_eq!(status, 200, "{diff}");
    assert!(diff.contains(&format!("diff --git a/{written} b/{written}")), "{diff}");
    assert!(diff.contains("<span class=\"add\">+"), "{diff}");
    let (status, _) = http(port, "GET", &format!("/workflows/{id}/stages/99/diff"), &session, b"");
    assert_eq!(status, 404, "a stage the workflow does not have");

    // The events: the stream so far, then live.
    let events = format!("/workflows/{id}/events");
    let (status, _) = http(port, "GET", &events, &[], b"");
    assert_eq!(status, 401, "no session, no events");
    let mut stream = open_events(port, &events, &session);
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, |seen| seen.contains("approval.requested"));
    assert!(seen.contains("text/event-stream") && seen.contains("workflow started"), "{seen}");

    let form_type = ("Content-Type", "application/x-www-form-urlencoded".to_owned());
    let decide = format!("/workflows/{id}/decide");
    let fields = format!("run_id={}&stage={STAGE}&verdict=approve&comment=looks+good", hidden(&page, "run_id"));
    let (status, _) = http(port, "POST", &decide, &[session[0].clone(), form_type.clone()], fields.as_bytes());
    assert_eq!(status, 403, "a form without the session's CSRF token");
    let forged = format!("{fields}&csrf={}", "0".repeat(64));
    let (status, _) = http(port, "POST", &decide, &[session[0].clone(), form_type.clone()], forged.as_bytes());
    assert_eq!(status, 403, "a made-up CSRF token");
    let (status, _) = http(
        port,
        "POST",
        &decide,
        std::slice::from_ref(&form_type),
        format!("{fields}&csrf={}", hidden(&page, "csrf")).as_bytes(),
    );
    assert_eq!(status, 401, "the token without the session");
    let from_elsewhere = [session[0].clone(), form_type.clone(), ("Origin", "http://evil.example".to_owned())];
    let with_token = format!("{fields}&csrf={}", hidden(&page, "csrf"));
    let (status, _) = http(port, "POST", &decide, &from_elsewhere, with_token.as_bytes());
    assert_eq!(status, 403, "a form posted from another site");
    assert!(gate_open(&stack, &id), "nothing refused decided");

    let good = format!("{fields}&csrf={}", hidden(&page, "csrf"));
    let (status, head, _) = http_with_head(port, "POST", &decide, &[session[0].clone(), form_type], good.as_bytes());
    assert_eq!(status, 303, "{head}");
    let status = stack.wait_for_status(&id, "the approval", |s| s.stages[1].approved_by.is_some());
    let approved = &status.stages[1];
    assert!(approved.approved_by.as_deref().is_some_and(|by| by.ends_with("(dashboard)")), "{approved:?}");
    assert_eq!(approved.approval_comment.as_deref(), Some("looks good"));

    // The decision reaches the stream that was open before it.
    read_until(&mut stream, &mut seen, |seen| seen.contains(&format!("approved {STAGE} by")));
    assert!(seen.contains("(dashboard)"), "{seen}");
    // The workflow goes on to its end, and the stream with it.
    read_until(&mut stream, &mut seen, |seen| seen.contains("event: end"));
    assert!(seen.contains("workflow completed"), "{seen}");
    // Opened again once it has ended: the whole of it, then the end.
    let mut again = open_events(port, &events, &session);
    let mut replayed = String::new();
    read_until(&mut again, &mut replayed, |seen| seen.contains("event: end"));
    assert!(replayed.contains("workflow started") && replayed.contains("workflow completed"), "{replayed}");
}

/// The dashboard in a real browser: `tests/e2e/browser/dashboard.cjs` (playwright-core driving
/// Debian's chromium) signs in through the CLI's link, sees the gate and the live cost, is
/// refused a POST without the CSRF token, clicks Approve and sees the next stage start.
/// `CT_SCREENSHOTS=DIR` keeps its screenshots (README's come from here).
#[tokio::test(flavor = "multi_thread")]
async fn in_a_real_browser_the_dashboard_signs_in_shows_the_gate_and_approves() {
    let (stack, _project, id) = waiting_at_the_gate().await;
    let key_file = write_secret(stack.dir.path(), "link.key", &[42u8; 32]);
    let (_gateway, port) = stack.spawn_gateway(&["--link-key-file", &key_file]);
    let gateway_url = format!("http://127.0.0.1:{port}");
    let issued = stack.cli(&["ui", "--link-key-file", &key_file, "--gateway-url", &gateway_url, "--json"]);
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let login = issued.json()["url"].as_str().unwrap().to_owned();

    let root = workspace_root();
    let playwright = root.join(".tools/npm/node_modules/playwright-core");
    assert!(playwright.exists(), "playwright-core is missing: run scripts/install-tools.sh");
    let mut browser = std::process::Command::new("node");
    browser
        .arg(root.join("tests/e2e/browser/dashboard.cjs"))
        .args([&login, &id, STAGE])
        .env("PLAYWRIGHT_CORE", &playwright)
        .env("CHROMIUM_BIN", tool("chromium"));
    if let Some(dir) = std::env::var_os("CT_SCREENSHOTS") {
        browser.arg(dir);
    }
    let out = browser.output().expect("node runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser saw something wrong:\n{stderr}\n{}", stack.logs());
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("what the browser saw, as JSON");
    assert_eq!(seen["next_stage"], "streaming", "{seen}");
    let status = stack.wait_for_status(&id, "the approval", |s| s.stages[1].approved_by.is_some());
    assert_eq!(status.stages[1].approval_comment.as_deref(), Some("approved from the browser"));
}

/// A gateway killed and started again keeps nothing that matters: links and buttons are
/// signed, not remembered, so they work through the new process; and a click it decided
/// before, sent again to the new one (whose replay memory is empty), decides nothing twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_killed_and_restarted_decides_nothing_twice_and_loses_nothing() {
    let (stack, _project, id) = waiting_at_the_gate().await;
    let setup = slack_setup(&stack, "U123");
    let SlackSetup { key, signing, receiver_url, responses, .. } = &setup;
    let next = || responses.recv_timeout(Duration::from_secs(60)).expect("the gateway posts to the response_url");
    let run = run_of(&stack, &id);
    let click =
        String::from_utf8(click_with("U123", Verdict::Approve, &button(key, &id, &run, Verdict::Approve, now() + 600)))
            .unwrap()
            .replace("RESPONSE_URL", &percent(receiver_url))
            .into_bytes();
    let ts = now();
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
        ("X-Slack-Request-Timestamp", ts.to_string()),
        ("X-Slack-Signature", slack::signature(signing, ts, &click)),
    ];

    // The first gateway dies before anything reaches it; the next one takes the click.
    let (mut first, _) = setup.spawn(&stack);
    first.kill_hard();
    let (mut second, port) = setup.spawn(&stack);
    let (status, _) = http(port, "POST", "/slack/interactions", &headers, &click);
    assert_eq!(status, 200);
    assert!(next()["text"].as_str().unwrap().contains("approved by <@U123>"));
    stack.wait_for_status(&id, "the approval", |s| s.stages[1].approved_by.is_some());

    // Killed after deciding; the same click and a link for the same gate reach a new process.
    second.kill_hard();
    let (_third, port) = setup.spawn(&stack);
    let (status, _) = http(port, "POST", "/slack/interactions", &headers, &click);
    assert_eq!(status, 200, "a new process has no memory of the request");
    assert!(next()["text"].as_str().unwrap().starts_with("Nothing was decided"), "but the gate decides once");
    let link = token(key, &id, &run, Verdict::Approve, now() + 600);
    let form = [("Content-Type", "application/x-www-form-urlencoded".to_owned())];
    let (status, page) = http(port, "POST", &format!("/decide/{link}"), &form, b"");
    assert_eq!(status, 409, "{page}");
    assert_eq!(stack.event_counts(&id).get("approval.granted").copied(), Some(1), "decided once");
}
