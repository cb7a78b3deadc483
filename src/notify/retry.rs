//! When a delivery that failed is tried again: exponential backoff with jitter, within
//! the retry horizon counted from the event. Pure, so the schedule is unit-tested.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt (`[notify] retry_delay`).
    pub first: Duration,
    /// How long after its event a delivery is still tried (`[notify] retry_horizon`).
    pub horizon: Duration,
}

impl Backoff {
    /// When to try again after attempt number `attempt` (1 for the first) failed at
    /// `now`, for a delivery of an event at `created`; None once that is past the
    /// horizon. `jitter` (0 to 1, random) takes up to half the wait off, so that
    /// receivers coming back are not hit by every delivery at once.
    pub fn next(
        &self,
        attempt: u32,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let doublings = attempt.saturating_sub(1).min(30);
        let delay = self
            .first
            .saturating_mul(1u32 << doublings)
            .min(MAX_DELAY.max(self.first));
        let delay = delay.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 2.0);
        let at = now.checked_add_signed(chrono::Duration::from_std(delay).ok()?)?;
        let end = created.checked_add_signed(chrono::Duration::from_std(self.horizon).ok()?)?;
        (at <= end).then_some(at)
    }
}

/// A random number from 0 to 1 for [`Backoff::next`]; 0.5 if the OS has none to give.
pub fn jitter() -> f64 {
    getrandom::u32().map_or(0.5, |n| f64::from(n) / f64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_an_hour_less_the_jitter_and_stop_at_the_horizon() {
        let b = Backoff {
            first: Duration::from_secs(5),
            horizon: Duration::from_secs(24 * 3600),
        };
        let t0 = crate::store::rules::now_millis();
        let wait = |attempt, jitter| (b.next(attempt, t0, t0, jitter).unwrap() - t0).num_seconds();
        assert_eq!(wait(1, 0.0), 5);
        assert_eq!(wait(2, 0.0), 10);
        assert_eq!(wait(3, 0.0), 20);
        assert_eq!(wait(3, 1.0), 10);
        assert_eq!(wait(20, 0.0), 3600);
        assert_eq!(wait(u32::MAX, 0.0), 3600);
        // Past the horizon: no more attempts.
        let late = t0 + chrono::Duration::hours(24);
        assert_eq!(b.next(1, t0, late, 0.0), None);
        let j = jitter();
        assert!((0.0..=1.0).contains(&j));
    }
}
