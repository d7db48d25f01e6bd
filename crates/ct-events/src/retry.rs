//! Waiting between attempts while NATS is unreachable.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

const FIRST: Duration = Duration::from_millis(100);
const CEILING: Duration = Duration::from_secs(2);
/// Failures after which the wait is at its ceiling.
const TO_CEILING: u32 = 6;

/// 100 ms doubling to a 2 s ceiling: quick after a blip, gentle during an outage. `failures`
/// counts the failures so far, this one included.
pub(crate) fn backoff(failures: u32) -> Duration {
    let nth = failures.clamp(1, TO_CEILING) - 1;
    let mut waits = ExponentialBuilder::new().with_min_delay(FIRST).with_max_delay(CEILING).without_max_times().build();
    waits.nth(nth as usize).unwrap_or(CEILING)
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
        // Whole milliseconds: the factor is applied in floating point.
        let millis = |failures| backoff(failures).as_millis();
        assert_eq!([1, 2, 5, 6, 60].map(millis), [100, 200, 1600, 2000, 2000]);
    }
}
