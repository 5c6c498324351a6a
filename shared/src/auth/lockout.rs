//! The login lockout rule, as pure functions over a small counter so it is tested without a table.
//!
//! 10 failed logins within 15 minutes lock the account for 1 minute; each further lock doubles
//! (2, 4, 8 … minutes) up to 1 hour. A successful login after the lock has expired deletes the
//! counter, and an idle counter is forgotten after a day (its TTL), which also resets the growth.

use serde::{Deserialize, Serialize};

pub const MAX_FAILURES: u32 = 10;
pub const WINDOW_SECONDS: i64 = 15 * 60;
pub const FIRST_LOCK_SECONDS: i64 = 60;
pub const MAX_LOCK_SECONDS: i64 = 60 * 60;
/// How long an idle counter is kept: the lock growth resets after a quiet day.
pub const FORGET_AFTER_SECONDS: i64 = 24 * 60 * 60;

/// Failed-login state of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Attempts {
    /// Failures in the current window.
    pub failures: u32,
    /// When the current window's first failure happened (epoch seconds).
    pub window_start: i64,
    /// How many times the account has been locked (drives the doubling).
    pub locks: u32,
    /// Locked until this time (epoch seconds), if locked.
    pub locked_until: Option<i64>,
}

impl Attempts {
    /// Seconds left on an active lock at `now`, if any.
    pub fn locked_for(&self, now: i64) -> Option<u64> {
        self.locked_until.filter(|until| *until > now).map(|until| (until - now).unsigned_abs())
    }

    /// The state after one more failure at `now`.
    #[must_use]
    pub fn after_failure(self, now: i64) -> Self {
        let mut next = self;
        if next.failures == 0 || now - next.window_start >= WINDOW_SECONDS {
            next.failures = 0;
            next.window_start = now;
        }
        next.failures += 1;
        if next.failures >= MAX_FAILURES {
            next.locked_until = Some(now + lock_seconds(next.locks));
            next.locks = next.locks.saturating_add(1);
            next.failures = 0;
        }
        next
    }

    /// When the stored counter may be deleted by the table's TTL.
    pub fn expires_at(&self, now: i64) -> i64 {
        self.locked_until.unwrap_or(now).max(now) + FORGET_AFTER_SECONDS
    }
}

/// The length of the lock after `previous_locks` earlier ones: 1 minute, doubling, capped.
pub fn lock_seconds(previous_locks: u32) -> i64 {
    let factor = 1i64.checked_shl(previous_locks.min(32)).unwrap_or(i64::MAX);
    FIRST_LOCK_SECONDS.saturating_mul(factor).min(MAX_LOCK_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(mut attempts: Attempts, times: u32, now: i64) -> Attempts {
        for _ in 0..times {
            attempts = attempts.after_failure(now);
        }
        attempts
    }

    #[test]
    fn ten_failures_within_the_window_lock_for_a_minute() {
        let now = 1_000_000;
        let nine = fail(Attempts::default(), 9, now);
        assert_eq!(nine.locked_for(now), None);
        let ten = nine.after_failure(now + 60);
        assert_eq!(ten.locked_for(now + 60), Some(60));
        assert_eq!(ten.locked_for(now + 119), Some(1));
        assert_eq!(ten.locked_for(now + 120), None);
        assert_eq!((ten.failures, ten.locks), (0, 1));
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let start = 1_000_000;
        let nine = fail(Attempts::default(), 9, start);
        let later = nine.after_failure(start + WINDOW_SECONDS);
        assert_eq!((later.failures, later.locked_until), (1, None), "a new window began");
    }

    #[test]
    fn locks_double_and_are_capped() {
        assert_eq!((0..8).map(lock_seconds).collect::<Vec<_>>(), [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(lock_seconds(u32::MAX), MAX_LOCK_SECONDS);
        let now = 1_000_000;
        let first = fail(Attempts::default(), 10, now);
        let second = fail(first, 10, now + 61);
        assert_eq!(second.locked_for(now + 61), Some(120));
        assert_eq!(second.locks, 2);
    }

    #[test]
    fn idle_counters_expire_a_day_after_their_last_lock() {
        let now = 1_000_000;
        assert_eq!(Attempts::default().expires_at(now), now + FORGET_AFTER_SECONDS);
        let locked = fail(Attempts::default(), 10, now);
        assert_eq!(locked.expires_at(now), now + 60 + FORGET_AFTER_SECONDS);
    }
}
