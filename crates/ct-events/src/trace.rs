//! W3C trace context carried in NATS headers, so one workflow stays one trace
//! across the processes that publish and consume its events.

use async_nats::HeaderMap;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The `traceparent` / `tracestate` pair of the span an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The context of one event of one workflow run: every event of the run
    /// shares a trace id derived from the run, so a consumer (or a tracing
    /// backend) sees the workflow as one trace; each event is its own span.
    /// Derived, not random, so a replayed or retried publish carries the same ids.
    pub fn for_workflow(workflow_id: &str, run_id: &str, event_id: &str) -> Self {
        let run = format!("{workflow_id}\u{0}{run_id}");
        let trace_high = fnv1a(0xcbf2_9ce4_8422_2325, run.as_bytes());
        let trace_low = fnv1a(0x8422_2325_cbf2_9ce4, run.as_bytes());
        // An all-zero id is invalid in W3C trace context.
        let span = fnv1a(0xcbf2_9ce4_8422_2325, event_id.as_bytes()).max(1);
        Self {
            traceparent: format!("00-{trace_high:016x}{trace_low:016x}-{span:016x}-01"),
            tracestate: None,
        }
    }

    /// Reads the pair from a message's headers; `None` without `traceparent`.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let traceparent = headers.get(TRACEPARENT)?.as_str().to_owned();
        let tracestate = headers
            .get(TRACESTATE)
            .map(|value| value.as_str().to_owned())
            .filter(|value| !value.is_empty());
        Some(Self {
            traceparent,
            tracestate,
        })
    }

    pub(crate) fn insert_into(&self, headers: &mut HeaderMap) {
        headers.insert(TRACEPARENT, self.traceparent.as_str());
        if let Some(tracestate) = &self.tracestate {
            headers.insert(TRACESTATE, tracestate.as_str());
        }
    }
}

/// 64-bit FNV-1a from `seed`: stable across builds and platforms, unlike std's hashers.
fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_one_run_share_a_trace_and_differ_in_span() {
        let first = TraceContext::for_workflow("wf", "run-1", "event-1").traceparent;
        let second = TraceContext::for_workflow("wf", "run-1", "event-2").traceparent;
        let other_run = TraceContext::for_workflow("wf", "run-2", "event-1").traceparent;
        let parts = |tp: &str| tp.split('-').map(str::to_owned).collect::<Vec<_>>();
        let (a, b, c) = (parts(&first), parts(&second), parts(&other_run));
        assert_eq!(a.len(), 4);
        assert_eq!((a[0].as_str(), a[1].len(), a[2].len(), a[3].as_str()), ("00", 32, 16, "01"));
        assert_eq!(a[1], b[1], "one trace per run");
        assert_ne!(a[2], b[2], "one span per event");
        assert_ne!(a[1], c[1]);
        assert_eq!(first, TraceContext::for_workflow("wf", "run-1", "event-1").traceparent);
    }

    #[test]
    fn the_pair_round_trips_through_headers() {
        let context = TraceContext {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            tracestate: Some("vendor=1".into()),
        };
        let mut headers = HeaderMap::new();
        context.insert_into(&mut headers);
        assert_eq!(TraceContext::from_headers(&headers), Some(context));
        assert_eq!(TraceContext::from_headers(&HeaderMap::new()), None);
    }
}
