//! One workflow is one OpenTelemetry trace across every process: the CLI, the worker, the
//! executor (and the agent CLI under it), the test-runner, the notifier and the metrics-sink all
//! export to a collector started here, and the spans they send must form one tree.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use ct_e2e::{Service, Stack, StackOptions, bin, example, git_project};
use ct_scripted_model::Scenario;
use ct_telemetry::testing::{OtlpReceiver, ReceivedSpan, SpanRecorder};

const SERVICES: [&str; 6] =
    ["claude-temporal", "ct-worker", "ct-executor", "ct-test-runner", "ct-notifier", "ct-metrics-sink"];
const API_KEY: &str = "e2e-test-key";
const WEBHOOK_PATH: &str = "/hooks/t0ps3cret-webhook-path";
const SLACK_PATH: &str = "/services/T000/B000/sl4cks3cret";
const WEBHOOK_SECRET: &str = "whsec_c2lnbmluZy1zM2NyZXQtZm9yLWUyZQ==";

/// Answers every request with 200 `ok`, for the notifier's webhook and Slack backends.
fn http_receiver() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 65536];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    port
}

/// Every span of `trace` whose parent is not in it, besides the one root.
fn orphans<'a>(spans: &'a [&'a ReceivedSpan]) -> Vec<&'a ReceivedSpan> {
    let ids: HashSet<&str> = spans.iter().map(|span| span.span_id.as_str()).collect();
    spans
        .iter()
        .copied()
        .filter(|span| !span.parent_span_id.is_empty() && !ids.contains(span.parent_span_id.as_str()))
        .collect()
}

fn in_trace<'a>(spans: &'a [ReceivedSpan], trace_id: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|span| span.trace_id == trace_id).collect()
}

fn summary(spans: &[&ReceivedSpan]) -> String {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for span in spans {
        *counts.entry((span.service.clone(), span.name.clone())).or_default() += 1;
    }
    counts.iter().map(|((service, name), n)| format!("{service}: {name} ×{n}")).collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_develop_workflow_is_one_trace_across_every_process() {
    let recorder = SpanRecorder::install("ct-e2e");
    let collector = OtlpReceiver::start().await.expect("OTLP receiver");
    let otel = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), collector.endpoint().to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned()),
    ];
    let scenario = Scenario::from_file(&example("scenarios/develop-textstats.json")).expect("scenario");
    let mut options = StackOptions::new(scenario);
    options.env = otel.clone();
    let stack = Stack::start(options).await;

    let hooks = http_receiver();
    let control_token = std::fs::read_to_string(&stack.control_token_file).expect("control token");
    let mut notifier_cmd = Command::new(bin("ct-notifier"));
    notifier_cmd
        .args(["--nats-url", &stack.nats.url(), "--types", "webhook,slack"])
        .env("NOTIFICATION_WEBHOOK_URL", format!("http://127.0.0.1:{hooks}{WEBHOOK_PATH}"))
        .env("NOTIFICATION_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("SLACK_WEBHOOK_URL", format!("http://127.0.0.1:{hooks}{SLACK_PATH}"))
        .envs(otel.clone());
    let mut notifier = Service::spawn("notifier", notifier_cmd, &stack.dir.path().join("notifier.log"));
    let mut sink_cmd = Command::new(bin("ct-metrics-sink"));
    sink_cmd
        .args(["--nats-url", &stack.nats.url(), "--listen", "127.0.0.1:0"])
        .arg("--metrics-file")
        .arg(stack.dir.path().join("metrics.jsonl"))
        .envs(otel.clone());
    let mut sink = Service::spawn("metrics-sink", sink_cmd, &stack.dir.path().join("metrics-sink.log"));

    let project = git_project(&example("textstats"));
    let start = stack.cli(&["start", project.path().to_str().unwrap(), "--features", "word counts", "--json"]);
    assert_eq!(start.code, 0, "{}", start.stderr);
    let started = start.json();
    let id = started["workflow_id"].as_str().unwrap().to_owned();
    let trace_id = started["trace_id"].as_str().unwrap_or_else(|| panic!("no trace id: {started}")).to_owned();
    assert_eq!(trace_id.len(), 32, "{trace_id}");

    let waiting = stack.wait_for_status(&id, "approval gate", |s| s.awaiting_approval.is_some());
    assert_eq!(waiting.trace_id.as_deref(), Some(trace_id.as_str()), "status names the trace the start began");
    let approve = stack.cli(&["approve", &id]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let result = stack.cli(&["result", &id, "--json"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, stack.logs());
    // The control API carries the caller's span in its metadata.
    let fleet = stack.cli(&["fleet", "--json"]);
    assert_eq!(fleet.code, 0, "{}", fleet.stderr);
    let human = stack.cli(&["status", &id]);
    assert!(human.stdout.contains(&format!("trace     {trace_id}")), "{}", human.stdout);

    // The trace is whole once every process has sent its part and every parent has arrived.
    let spans = collector
        .wait_for(Duration::from_secs(60), |spans| {
            let trace: Vec<&ReceivedSpan> = spans.iter().filter(|span| span.trace_id == trace_id).collect();
            let services: BTreeSet<&str> = trace.iter().map(|span| span.service.as_str()).collect();
            SERVICES.iter().all(|service| services.contains(service))
                && orphans(&trace).is_empty()
                && trace.iter().any(|span| span.name == "RunWorkflow:DevelopWorkflow")
        })
        .await;
    assert!(!notifier.has_exited() && !sink.has_exited(), "a subscriber died:{}", stack.logs());
    let trace = in_trace(&spans, &trace_id);
    let services: BTreeSet<&str> = trace.iter().map(|span| span.service.as_str()).collect();
    for service in SERVICES {
        assert!(services.contains(service), "no span from {service} in the trace:\n{}", summary(&trace));
    }
    assert!(orphans(&trace).is_empty(), "spans whose parent is not in the trace: {:#?}", orphans(&trace));
    let roots: Vec<&&ReceivedSpan> = trace.iter().filter(|span| span.parent_span_id.is_empty()).collect();
    assert_eq!(roots.len(), 1, "one root: {roots:#?}");
    assert_eq!((roots[0].service.as_str(), roots[0].name.as_str()), ("claude-temporal", "claude-temporal start"));

    // The workflow's work is in its trace and nowhere else.
    let work = ["RunActivity:", "invoke_agent", "execute_tool", "run_tests", "stage ", "publish", "process", "notify "];
    let elsewhere: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|span| span.trace_id != trace_id && work.iter().any(|prefix| span.name.starts_with(prefix)))
        .collect();
    assert!(elsewhere.is_empty(), "workflow work outside its trace: {elsewhere:#?}");
    let named = |name: &'static str| trace.iter().copied().filter(move |span| span.name == name);
    let stages: Vec<&ReceivedSpan> = trace.iter().copied().filter(|span| span.name.starts_with("stage ")).collect();
    assert_eq!(stages.len(), 6, "{}", summary(&trace));
    assert!(named("claude-temporal approve").count() == 1, "the approval is in the trace:\n{}", summary(&trace));
    let decided: Vec<&&ReceivedSpan> =
        stages.iter().filter(|span| span.attribute("ct.approval.verdict") == Some("approved")).collect();
    assert_eq!(decided.len(), 1, "the gated stage's span says it was approved:\n{}", summary(&trace));
    assert!(
        decided[0].attribute("ct.approval.decided_by").is_some_and(|who| who.ends_with("(claude-temporal CLI)")),
        "and by whom: {:#?}",
        decided[0]
    );

    // Each agent run is an invoke_agent span with what the CLI reported it used.
    let agents: Vec<&ReceivedSpan> = named("invoke_agent claude-code").collect();
    let reported: Vec<(String, String)> = stack
        .reported_results()
        .iter()
        .map(|result| (result["usage"]["input_tokens"].to_string(), result["usage"]["output_tokens"].to_string()))
        .collect();
    assert_eq!(agents.len(), reported.len(), "one agent span per run:\n{}", summary(&trace));
    let mut on_spans: Vec<(String, String)> = agents
        .iter()
        .map(|span| {
            assert_eq!(span.attribute("gen_ai.provider.name"), Some("anthropic"));
            assert_eq!(span.attribute("gen_ai.operation.name"), Some("invoke_agent"));
            assert!(span.attribute("ct.agent.cost_usd").is_some(), "{span:#?}");
            let tokens =
                |key: &str| span.attribute(key).unwrap_or_else(|| panic!("{key} missing: {span:#?}")).to_owned();
            (tokens("gen_ai.usage.input_tokens"), tokens("gen_ai.usage.output_tokens"))
        })
        .collect();
    let mut reported = reported;
    on_spans.sort();
    reported.sort();
    assert_eq!(on_spans, reported, "the agent spans carry the tokens the CLI reported");
    let agent_ids: HashSet<&str> = agents.iter().map(|span| span.span_id.as_str()).collect();
    let tools: Vec<&ReceivedSpan> =
        trace.iter().copied().filter(|span| span.name.starts_with("execute_tool ")).collect();
    assert!(!tools.is_empty(), "tool uses are spans:\n{}", summary(&trace));
    assert!(
        tools.iter().all(|tool| agent_ids.contains(tool.parent_span_id.as_str())),
        "tool spans are children of their run"
    );
    let tests: Vec<&ReceivedSpan> = named("run_tests").collect();
    assert!(!tests.is_empty() && tests.iter().all(|span| span.attribute("ct.tests.passed").is_some()), "{tests:#?}");
    let deliveries: Vec<&ReceivedSpan> =
        trace.iter().copied().filter(|span| span.name.starts_with("notify ")).collect();
    assert!(
        deliveries.iter().any(|span| span.attribute("ct.notify.backend") == Some("webhook")
            && span.attribute("ct.notify.outcome") == Some("delivered")),
        "{deliveries:#?}"
    );
    // Claude Code (2.1.331) exports its own spans: one interaction per run, under its run's span.
    let claude_code: Vec<&ReceivedSpan> = trace.iter().copied().filter(|span| span.service == "claude-code").collect();
    let interactions: Vec<&&ReceivedSpan> =
        claude_code.iter().filter(|span| span.name == "claude_code.interaction").collect();
    assert_eq!(interactions.len(), agents.len(), "{}", summary(&trace));
    assert!(interactions.iter().all(|span| agent_ids.contains(span.parent_span_id.as_str())), "{interactions:#?}");
    assert!(
        interactions.iter().all(|span| span.resource.get("ct.workflow.id") == Some(&id)),
        "the executor names the workflow in the agent CLI's resource: {interactions:#?}"
    );
    eprintln!(
        "trace {trace_id}: {} spans from {} processes; {} from the agent CLI itself",
        trace.len(),
        services.len(),
        claude_code.len()
    );

    let served: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|span| span.service == "ct-executor" && span.name == "claude_temporal.control.v1.Control/Describe")
        .collect();
    assert!(!served.is_empty(), "the executor's control API has a span per call");
    for server in &served {
        let caller = spans.iter().find(|span| span.span_id == server.parent_span_id);
        let caller = caller.unwrap_or_else(|| panic!("the caller's span is missing: {server:#?}"));
        assert_eq!(caller.service, "claude-temporal");
        assert_eq!(caller.trace_id, server.trace_id);
        assert_eq!(caller.attribute("rpc.system"), Some("grpc"));
        assert_eq!(caller.attribute("rpc.method"), Some("Describe"));
        assert_eq!(caller.attribute("rpc.grpc.status_code"), Some("0"));
    }

    // Nothing secret in any span of any trace.
    let secrets = [API_KEY, WEBHOOK_PATH, SLACK_PATH, WEBHOOK_SECRET, control_token.trim()];
    for span in &spans {
        let texts = std::iter::once(&span.name).chain(span.attributes.keys()).chain(span.attributes.values());
        for text in texts {
            for secret in secrets {
                assert!(!text.contains(secret), "a secret in span {span:#?}");
            }
        }
    }

    // Replaying the workflow's history (as a restarted worker would) emits no span; the
    // recorder does see this process's spans, or the check would prove nothing.
    drop(tracing::info_span!(target: "ct_e2e", "before replay"));
    let before = recorder.names();
    assert!(before.iter().any(|name| name == "before replay"), "the recorder records: {before:?}");
    stack.replay(&id).await;
    let replayed: Vec<String> = recorder.names().into_iter().skip(before.len()).collect();
    assert!(replayed.is_empty(), "replay exported spans: {replayed:?}");
}

/// Runs the CLI's `config show` with debug logs and `vars`, outside any stack.
fn config_show(vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(bin("claude-temporal"));
    command.args(["config", "show", "--json"]).env("RUST_LOG", "debug");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OTEL_")) {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied()).output().expect("claude-temporal runs")
}

fn telemetry_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| line.contains("OTLP") || line.contains("OTEL_") || line.contains("span"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn without_an_endpoint_telemetry_says_one_debug_line_and_a_bad_setting_one_error() {
    let quiet = config_show(&[]);
    assert!(quiet.status.success(), "{}", String::from_utf8_lossy(&quiet.stderr));
    let said = telemetry_lines(&quiet.stderr);
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(said[0].contains("DEBUG") && said[0].contains("not exported"), "{said:#?}");

    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    let unsupported = config_show(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]);
    assert!(unsupported.status.success(), "a telemetry setting never stops the command");
    let said = telemetry_lines(&unsupported.stderr);
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(said[0].contains("ERROR") && said[0].contains("gRPC only") && said[0].contains("4317"), "{said:#?}");
}
