//! W3C trace context (`traceparent`, `tracestate`) in and out of whatever carries it between
//! processes: gRPC metadata, NATS headers, a child process's environment.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Puts `context` into `carrier`; nothing when it holds no valid span.
pub fn inject(context: &Context, carrier: &mut dyn Injector) {
    TraceContextPropagator::new().inject_context(context, carrier);
}

/// The remote parent `carrier` names, or an empty context when it names none (or garbage).
pub fn extract(carrier: &dyn Extractor) -> Context {
    TraceContextPropagator::new().extract(carrier)
}

/// The trace id of the current context (the innermost entered span, or what a Temporal
/// interceptor made current) as 32 hex digits; `None` outside any trace.
pub fn current_trace_id() -> Option<String> {
    trace_id_of(&Context::current())
}

/// The W3C `traceparent` of the current context, `None` outside any trace.
pub fn current_traceparent() -> Option<String> {
    let mut carrier = std::collections::HashMap::new();
    inject(&Context::current(), &mut carrier);
    carrier.remove("traceparent")
}

/// The remote span a W3C `traceparent` names; an empty context for garbage.
pub fn from_traceparent(traceparent: &str) -> Context {
    extract(&std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]))
}

/// Makes `span` a child of the span `traceparent` names (nothing when it names none).
pub fn set_remote_parent(span: &tracing::Span, traceparent: &str) {
    let parent = from_traceparent(traceparent);
    if trace_id_of(&parent).is_some() {
        let _ = span.set_parent(parent);
    }
}

/// The trace id `span` is in (32 hex digits), `None` when it is not exported.
pub fn trace_id_of_span(span: &tracing::Span) -> Option<String> {
    trace_id_of(&span.context())
}

/// The trace id of `context` as 32 hex digits, `None` when it holds no valid span.
pub fn trace_id_of(context: &Context) -> Option<String> {
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// The `traceparent` (and `tracestate`, when there is one) of the current span, as the
/// environment variables `TRACEPARENT`/`TRACESTATE` a child process reads.
pub fn current_as_env() -> Vec<(&'static str, String)> {
    let mut fields = Fields::default();
    inject(&Context::current(), &mut fields);
    fields.0
}

#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Injector for Fields {
    fn set(&mut self, key: &str, value: String) {
        let name = match key {
            "traceparent" => "TRACEPARENT",
            "tracestate" if !value.is_empty() => "TRACESTATE",
            _ => return,
        };
        self.0.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    #[test]
    fn a_context_goes_out_and_comes_back_with_the_same_ids() {
        let remote = SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(0x00f0_67aa_0ba9_02b7),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let mut carrier = HashMap::new();
        inject(&Context::new().with_remote_span_context(remote), &mut carrier);
        assert_eq!(carrier["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let back = extract(&carrier);
        assert_eq!(trace_id_of(&back).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }

    #[test]
    fn garbage_and_absence_give_no_parent() {
        assert_eq!(trace_id_of(&extract(&HashMap::new())), None);
        let garbage = HashMap::from([("traceparent".to_owned(), "00-not-a-trace-01".to_owned())]);
        assert_eq!(trace_id_of(&extract(&garbage)), None);
        assert!(current_as_env().is_empty(), "no span, nothing to hand a child");
    }
}
