//! Time as a dependency, so expiry logic (secret TTLs, token lifetimes, lockouts) is tested by
//! moving a clock rather than by sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Monotonic time, for intervals.
    fn now(&self) -> Instant;
    /// Wall-clock time in whole seconds since the Unix epoch, for timestamps and token claims.
    fn unix_seconds(&self) -> i64;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_seconds(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    start_unix: i64,
    offset_ms: Arc<AtomicU64>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self { start: Instant::now(), start_unix: SystemClock.unix_seconds(), offset_ms: Arc::default() }
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.offset()
    }

    fn unix_seconds(&self) -> i64 {
        self.start_unix + self.offset().as_secs() as i64
    }
}
