//! Spans for what a workflow does between its activities: one per stage (or iteration, or
//! feature), inside the workflow's own span, so a trace shows which activity served which stage.
//!
//! Replay-safe through the Temporal SDK's plugin: while a workflow task runs, span ids come from
//! the workflow's deterministic randomness, and spans started while history is replayed are
//! never exported, so a restarted worker adds no duplicates.

/// The span of one stage of a workflow of `kind`.
pub(super) fn stage(kind: &str, name: &str, index: usize) -> tracing::Span {
    tracing::info_span!(
        "stage",
        otel.name = %format!("stage {name}"),
        otel.status_code = tracing::field::Empty,
        ct.workflow.kind = %kind,
        ct.stage.name = %name,
        ct.stage.index = index,
        ct.stage.outcome = tracing::field::Empty,
        ct.approval.verdict = tracing::field::Empty,
        ct.approval.decided_by = tracing::field::Empty,
    )
}

/// Says on the current (stage) span how its gate was decided, and by whom when known.
pub(super) fn record_decision(verdict: &str, decided_by: Option<&str>) {
    let span = tracing::Span::current();
    span.record("ct.approval.verdict", verdict);
    if let Some(who) = decided_by {
        span.record("ct.approval.decided_by", who);
    }
}

/// Says on `span` how its stage ended: `completed`, or the reason it did not.
pub(super) fn record_outcome(span: &tracing::Span, outcome: Result<(), &str>) {
    match outcome {
        Ok(()) => span.record("ct.stage.outcome", "completed"),
        Err(why) => span.record("ct.stage.outcome", why).record("otel.status_code", "ERROR"),
    };
}

/// The trace the workflow's spans are in and the workflow span's `traceparent`, for `status`.
pub(super) fn trace() -> (Option<String>, Option<String>) {
    (ct_telemetry::propagate::current_trace_id(), ct_telemetry::propagate::current_traceparent())
}
