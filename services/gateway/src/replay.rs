//! Slack requests already taken. A signed request stays within its five minutes for a while,
//! so the same request sent again (a replay of a captured one) would verify; it is known by
//! its signature and refused before it does anything. Entries leave once their request would
//! be refused as too old anyway, and the set is bounded: when it is full, requests are turned
//! away until old entries leave, rather than forgetting one that could still be replayed.

use std::collections::HashMap;
use std::sync::Mutex;

use ct_approvals::slack::{MAX_SKEW_SECS, Verified};

/// The most requests remembered: far more clicks than five minutes of people bring.
const MAX_REMEMBERED: usize = 10_000;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The first time: go on.
    New,
    /// The same request came before.
    Replayed,
    /// Too many recent requests to tell.
    Full,
}

#[derive(Default)]
pub(crate) struct SeenRequests {
    /// Signature → when its request says it was sent.
    seen: Mutex<HashMap<Vec<u8>, i64>>,
}

impl SeenRequests {
    /// Records `request` and says whether it came before.
    pub(crate) fn record(&self, request: &Verified, now_unix: i64) -> Seen {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.contains_key(&request.tag) {
            return Seen::Replayed;
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, sent| now_unix - *sent <= MAX_SKEW_SECS);
            if seen.len() >= MAX_REMEMBERED {
                return Seen::Full;
            }
        }
        seen.insert(request.tag.clone(), request.sent_unix);
        Seen::New
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(tag: u8, sent_unix: i64) -> Verified {
        Verified { sent_unix, tag: vec![tag; 32] }
    }

    #[test]
    fn a_request_is_new_once_and_a_replay_after() {
        let seen = SeenRequests::default();
        assert_eq!(seen.record(&request(1, 100), 100), Seen::New);
        assert_eq!(seen.record(&request(2, 100), 100), Seen::New);
        assert_eq!(seen.record(&request(1, 100), 200), Seen::Replayed);
    }

    #[test]
    fn when_full_only_requests_too_old_to_verify_are_forgotten() {
        let seen = SeenRequests::default();
        for i in 0..MAX_REMEMBERED {
            let tag = (i as u64).to_be_bytes().repeat(4);
            assert_eq!(seen.record(&Verified { sent_unix: 0, tag }, 0), Seen::New);
        }
        assert_eq!(seen.record(&request(0xff, 10), 10), Seen::Full, "all still replayable");
        assert_eq!(seen.record(&request(0xff, MAX_SKEW_SECS + 1), MAX_SKEW_SECS + 1), Seen::New);
        let first = Verified { sent_unix: 0, tag: 0u64.to_be_bytes().repeat(4) };
        assert_eq!(seen.record(&first, MAX_SKEW_SECS + 1), Seen::New, "forgotten once too old to verify");
    }
}
