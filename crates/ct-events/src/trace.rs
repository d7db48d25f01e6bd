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

#[cfg(test)]
mod tests {
    use super::*;

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
