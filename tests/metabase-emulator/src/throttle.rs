//! Login throttling of §5: per username (10 / hour) and per client IP (50 / hour), waits of
//! `15 s × over^1.5` after the last attempt.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::state::Attempt;

/// Attempts remembered for one hour.
const WINDOW_SECS: i64 = 3600;
/// Base delay once over the threshold.
const BASE_DELAY_SECS: f64 = 15.0;

pub const USERNAME_THRESHOLD: usize = 10;
pub const IP_THRESHOLD: usize = 50;

/// Seconds the caller must still wait, if throttled, before another attempt for `key`.
///
/// Attempts in the last hour are counted, the current one included; once that exceeds `threshold`
/// the attempt must come `15 × (count + 1 − threshold)^1.5` seconds after the most recent one, and
/// the wait is reported rounded to whole seconds. Callers record throttled attempts too, so with
/// 10 failures the 11th is told 15 s and the 12th, right after, `round(15 × 2^1.5) = 42` s (§5).
pub fn wait_seconds(
    attempts: &mut HashMap<String, Vec<Attempt>>,
    key: &str,
    threshold: usize,
    now: OffsetDateTime,
) -> Option<i64> {
    let list = attempts.entry(key.to_string()).or_default();
    list.retain(|a| (now - a.at).whole_seconds() < WINDOW_SECS);
    if list.len() < threshold {
        return None;
    }
    let over = (list.len() + 1 - threshold) as f64;
    let delay = BASE_DELAY_SECS * over.powf(1.5);
    let last = list.iter().map(|a| a.at).max()?;
    let elapsed = (now - last).as_seconds_f64();
    let remaining = delay - elapsed;
    (remaining > 0.0).then_some(remaining.round() as i64)
}

/// Record an attempt for `key` at `now`.
pub fn record(attempts: &mut HashMap<String, Vec<Attempt>>, key: &str, now: OffsetDateTime) {
    attempts.entry(key.to_string()).or_default().push(Attempt { at: now });
}

/// The `errors.username` message of a throttled login (§5).
pub fn message(seconds: i64) -> String {
    format!("Too many attempts! You must wait {seconds} seconds before trying again.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eleventh_attempt_waits_fifteen_and_twelfth_forty_two() {
        let mut attempts = HashMap::new();
        let now = OffsetDateTime::now_utc();
        for _ in 0..10 {
            assert_eq!(wait_seconds(&mut attempts, "u", 10, now), None);
            record(&mut attempts, "u", now);
        }
        assert_eq!(wait_seconds(&mut attempts, "u", 10, now), Some(15));
        record(&mut attempts, "u", now);
        assert_eq!(wait_seconds(&mut attempts, "u", 10, now), Some(42));
        let later = now + time::Duration::seconds(3601);
        assert_eq!(wait_seconds(&mut attempts, "u", 10, later), None);
    }
}
