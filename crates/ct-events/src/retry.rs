//! Waiting between attempts while NATS is unreachable.

use std::time::Duration;

/// 100 ms doubling to a 2 s ceiling: quick after a blip, gentle during an outage.
pub(crate) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.saturating_sub(1).min(5))).min(Duration::from_secs(2))
}

/// Log the first failure and then every tenth, so a long outage is visible
/// without flooding the log.
pub(crate) fn worth_logging(failures: u32) -> bool {
    failures == 1 || failures.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_ceiling() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(1600));
        assert_eq!(backoff(6), Duration::from_secs(2));
        assert_eq!(backoff(60), Duration::from_secs(2));
    }
}
