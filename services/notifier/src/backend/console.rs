//! One line per event on stdout, for whoever runs the notifier in a terminal.

use std::io::Write;
use std::sync::Arc;

use ct_events::CloudEvent;

use super::DeliveryError;
use crate::links::ApprovalLinks;
use crate::render::notice;

pub(crate) struct Console {
    /// Approve/reject links on approval requests, when the stack signs them.
    pub(crate) links: Option<Arc<ApprovalLinks>>,
}

impl Console {
    pub(crate) fn deliver(&self, event: &CloudEvent) -> Result<(), DeliveryError> {
        let notice = notice(event);
        let mut line =
            format!("{} {:<18} {}", event.time.format("%Y-%m-%dT%H:%M:%SZ"), event.event_type().as_str(), notice.title);
        for (label, value) in &notice.facts {
            line.push_str(&format!(" | {label}: {value}"));
        }
        if let Some(next) = &notice.next_step {
            line.push_str(&format!(" | next: {next}"));
        }
        if let Some(links) = self.links.as_ref().and_then(|links| links.for_event(event)) {
            line.push_str(&format!(" | approve: {} | reject: {}", links.approve, links.reject));
        }
        line.push('\n');
        // Locked for the whole line so concurrent deliveries do not interleave.
        std::io::stdout().lock().write_all(line.as_bytes()).map_err(|err| DeliveryError::Retryable {
            reason: format!("could not write to stdout: {err}"),
            retry_after: None,
        })
    }
}
