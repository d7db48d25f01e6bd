//! NATS subjects of events: `ct.events.<workflow token>.<type>`, e.g.
//! `ct.events.develop-demo.stage.completed`.
//!
//! A workflow id is free text to Temporal, but in a subject `.` splits tokens,
//! `*` and `>` are wildcards and whitespace is forbidden. So the id becomes
//! one token by percent-encoding: ASCII letters, digits, `-` and `_` stay as
//! they are, every other byte of its UTF-8 becomes `%XX` (upper-case hex).
//! `%` is itself encoded, so the mapping is one-to-one and any client can
//! compute it; the empty id, which Temporal never issues, becomes `%`.

use crate::event::{CloudEvent, EventType};

/// Every event subject starts with this.
pub const EVENTS_PREFIX: &str = "ct.events";

/// Subject filter for all events (what the stream captures).
pub const ALL_EVENTS: &str = "ct.events.>";

/// The workflow id as one subject token.
pub fn workflow_token(workflow_id: &str) -> String {
    if workflow_id.is_empty() {
        return "%".to_owned();
    }
    let mut token = String::with_capacity(workflow_id.len());
    for byte in workflow_id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            token.push(char::from(byte));
        } else {
            token.push_str(&format!("%{byte:02X}"));
        }
    }
    token
}

/// The subject one event is published on.
pub fn event_subject(workflow_id: &str, kind: EventType) -> String {
    format!("{EVENTS_PREFIX}.{}.{}", workflow_token(workflow_id), kind.as_str())
}

impl CloudEvent {
    /// The NATS subject the event is published on.
    pub fn nats_subject(&self) -> String {
        event_subject(self.workflow_id(), self.event_type())
    }
}

/// Subscribes to every event of one workflow (`claude-temporal watch ID`).
pub fn workflow_filter(workflow_id: &str) -> String {
    format!("{EVENTS_PREFIX}.{}.>", workflow_token(workflow_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_stay_readable() {
        assert_eq!(
            event_subject("develop-textstats_42", EventType::StageCompleted),
            "ct.events.develop-textstats_42.stage.completed"
        );
        assert_eq!(workflow_filter("w1"), "ct.events.w1.>");
    }

    #[test]
    fn characters_that_break_subjects_are_escaped() {
        assert_eq!(workflow_token("a.b*c>d e\tf"), "a%2Eb%2Ac%3Ed%20e%09f");
        assert_eq!(workflow_token("50%"), "50%25");
        assert_eq!(workflow_token("ü"), "%C3%BC");
        assert_eq!(workflow_token(""), "%");
    }

    #[test]
    fn distinct_ids_never_share_a_token() {
        let ids = ["a.b", "a%2Eb", "a_b", "a-b", "a b", "", "%"];
        let tokens: std::collections::HashSet<_> = ids.iter().map(|id| workflow_token(id)).collect();
        assert_eq!(tokens.len(), ids.len());
    }
}
