//! W3C trace context carried in NATS headers, so one workflow stays one trace across the
//! processes that publish and consume its events, and the spans for doing so (the messaging
//! conventions' `messaging.*` attributes).

use async_nats::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::CloudEvent;

/// Puts `context` into a message's `traceparent`/`tracestate` headers.
pub fn inject(context: &Context, headers: &mut HeaderMap) {
    ct_telemetry::propagate::inject(context, &mut Headers(headers));
}

/// The publisher's span a message names, or an empty context when it names none.
pub fn extract(headers: &HeaderMap) -> Context {
    ct_telemetry::propagate::extract(&ReadHeaders(headers))
}

/// The producer span for publishing one event, a child of `parent`; a disabled span when the
/// event belongs to no trace, so that a lone publish never starts a trace of its own.
pub(crate) fn publish_span(parent: &Context, subject: &str, event_id: &str) -> tracing::Span {
    if !parent.span().span_context().is_valid() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "publish",
        otel.name = "publish ct.events",
        otel.kind = "producer",
        messaging.system = "nats",
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = %subject,
        messaging.message.id = %event_id,
        ct.publish.failures = tracing::field::Empty,
    );
    let _ = span.set_parent(parent.clone());
    span
}

/// The consumer span for one delivered event, a child of its publisher's span: what a
/// subscriber (notifier, metrics-sink) does with the event goes inside, and its logs name it.
pub fn process_span(consumer: &str, message: &async_nats::jetstream::Message, event: &CloudEvent) -> tracing::Span {
    let span = tracing::info_span!(
        "process",
        otel.name = "process ct.events",
        otel.kind = "consumer",
        messaging.system = "nats",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = %message.subject,
        messaging.consumer.group.name = %consumer,
        messaging.message.id = %event.id,
        event.kind = %event.event_type(),
        workflow_id = event.workflow_id(),
    );
    if let Some(headers) = &message.headers {
        let _ = span.set_parent(extract(headers));
    }
    span
}

struct Headers<'a>(&'a mut HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.insert(key, value.as_str());
        }
    }
}

struct ReadHeaders<'a>(&'a HeaderMap);

impl Extractor for ReadHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(async_nats::HeaderValue::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    #[test]
    fn the_context_survives_the_headers() {
        let remote = SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(0x00f0_67aa_0ba9_02b7),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("vendor", "1")]).unwrap(),
        );
        let mut headers = HeaderMap::new();
        inject(&Context::new().with_remote_span_context(remote.clone()), &mut headers);
        assert_eq!(
            headers.get("traceparent").map(|v| v.as_str()),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let back = extract(&headers);
        assert_eq!(back.span().span_context().trace_id(), remote.trace_id());
        assert_eq!(back.span().span_context().span_id(), remote.span_id());
        assert_eq!(back.span().span_context().trace_state().header(), "vendor=1");
    }

    #[test]
    fn no_context_no_headers_and_no_span() {
        let mut headers = HeaderMap::new();
        inject(&Context::new(), &mut headers);
        assert!(headers.get("traceparent").is_none());
        assert!(publish_span(&Context::new(), "ct.events.x.stage.started", "id").is_none());
    }
}
