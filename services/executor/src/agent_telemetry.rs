//! The agent CLI's own telemetry, joined to the run's trace: when the executor exports spans,
//! the CLI is told to export its own to the same collector (`CLAUDE_CODE_ENABLE_TELEMETRY`,
//! traces over OTLP/gRPC), under the run's span (`TRACEPARENT`), with the workflow and stage
//! as resource attributes. Nothing else of the executor's telemetry settings reaches the agent:
//! `OTEL_EXPORTER_OTLP_HEADERS` may hold a collector's credentials.

/// The variables for one run of `run_id` (`<workflow id>/<stage>/<attempt>`), exporting to
/// `endpoint`; call it inside the run's span.
pub(crate) fn env(endpoint: &str, run_id: &str) -> Vec<(String, String)> {
    let mut parts = run_id.rsplitn(3, '/');
    let (attempt, stage, workflow) = (parts.next(), parts.next(), parts.next());
    let mut resource = vec![
        ("ct.workflow.id", workflow.unwrap_or(run_id)),
        ("ct.stage.name", stage.unwrap_or_default()),
        ("ct.attempt", attempt.unwrap_or_default()),
    ];
    resource.retain(|(_, value)| !value.is_empty());
    let resource = resource.iter().map(|(key, value)| format!("{key}={}", encode(value))).collect::<Vec<_>>();
    let mut vars: Vec<(String, String)> = [
        ("CLAUDE_CODE_ENABLE_TELEMETRY", "1"),
        // Spans (not only metrics and logs) are a beta of the CLI's telemetry.
        ("CLAUDE_CODE_ENHANCED_TELEMETRY_BETA", "1"),
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_TRACES_EXPORT_INTERVAL", "1000"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    vars.push(("OTEL_RESOURCE_ATTRIBUTES".to_owned(), resource.join(",")));
    vars.extend(ct_telemetry::propagate::current_as_env().into_iter().map(|(name, value)| (name.to_owned(), value)));
    vars
}

/// Percent-encodes what `OTEL_RESOURCE_ATTRIBUTES` reserves (its separators, `%`, spaces).
fn encode(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            ',' | '=' | '%' | ';' | '"' | '\\' => format!("%{:02X}", c as u32),
            c if c.is_whitespace() || c.is_control() => format!("%{:02X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_is_named_in_the_resource_and_reserved_characters_are_encoded() {
        let vars = env("http://127.0.0.1:4317", "dev,a=b/implement/2");
        let get = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(get("OTEL_EXPORTER_OTLP_ENDPOINT"), Some("http://127.0.0.1:4317"));
        assert_eq!(
            get("OTEL_RESOURCE_ATTRIBUTES"),
            Some("ct.workflow.id=dev%2Ca%3Db,ct.stage.name=implement,ct.attempt=2")
        );
        assert_eq!(get("TRACEPARENT"), None, "outside any span there is no parent to name");
        assert!(vars.iter().all(|(name, _)| name != "OTEL_EXPORTER_OTLP_HEADERS"));
    }
}
