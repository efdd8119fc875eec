//! Time as the engine sees it: an injected wall clock in whole milliseconds.
//!
//! Every decision about time (idle and absolute expiry, keep-alive cadence, priming ids) reads
//! the [`Clock`] handed to the engine at construction. Production hosts use [`SystemClock`];
//! tests use [`ManualClock`] and move time by hours in microseconds, deterministically.
//!
//! Time is wall-clock milliseconds since the Unix epoch rather than a monotonic `Instant` so that
//! a [`Timestamp`] can be persisted (a Durable Object or Redis record outlives the process that
//! wrote it) and compared by another process later.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);
    /// The latest representable instant; used as "never".
    pub const MAX: Self = Self(u64::MAX);

    /// A timestamp `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + duration`, saturating at [`Timestamp::MAX`].
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A source of wall-clock time.
///
/// The engine reads it once per operation and passes that instant down, so every decision in one
/// call sees the same time. Implementations need not be monotonic: the engine never lets its own
/// notion of "now" go backwards.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// The operating system's wall clock, through `web-time` so that it also works on
/// `wasm32-unknown-unknown` (where `std::time::SystemTime::now` panics).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use mcp_session::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_millis(1_000));
/// let handle = clock.clone();
/// handle.advance(Duration::from_secs(3600));
/// assert_eq!(clock.now(), Timestamp::from_millis(3_601_000));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self { millis: Arc::new(AtomicU64::new(start.0)) }
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the time to `to`.
    ///
    /// # Panics
    ///
    /// If `to` is earlier than the current time: a test that moves time backwards is a bug in
    /// the test, and the engine's invariants assume it never happens.
    pub fn set(&self, to: Timestamp) {
        let previous = self.millis.swap(to.0, Ordering::SeqCst);
        assert!(previous <= to.0, "ManualClock moved backwards from {previous}ms to {to}");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::SeqCst))
    }
}

/// Reads a [`Clock`] and never returns an instant earlier than one it returned before, so a
/// system clock stepped backwards (NTP) cannot make a deadline fire twice or a session revive.
#[derive(Debug)]
pub(crate) struct MonotonicNow {
    clock: Arc<dyn Clock>,
    latest: AtomicU64,
}

impl MonotonicNow {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, latest: AtomicU64::new(0) }
    }

    /// The clock as it reads now, without the bookkeeping that keeps [`MonotonicNow::now`] from
    /// going backwards: for measuring how long something took (a step back measures as zero),
    /// where a shared atomic written per call would cost more than the reading.
    pub(crate) fn read(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn now(&self) -> Timestamp {
        let read = self.clock.now().0;
        let previous = self.latest.fetch_max(read, Ordering::Relaxed);
        Timestamp(previous.max(read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_arithmetic() {
        let t = Timestamp::from_millis(10);
        assert_eq!(t.saturating_add(Duration::from_millis(5)), Timestamp::from_millis(15));
        assert_eq!(Timestamp::MAX.saturating_add(Duration::from_secs(1)), Timestamp::MAX);
        assert_eq!(t.saturating_since(Timestamp::from_millis(4)), Duration::from_millis(6));
        assert_eq!(t.saturating_since(Timestamp::from_millis(40)), Duration::ZERO);
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new(Timestamp::from_millis(1));
        let b = a.clone();
        b.advance(Duration::from_millis(9));
        assert_eq!(a.now(), Timestamp::from_millis(10));
    }

    #[test]
    #[should_panic(expected = "moved backwards")]
    fn manual_clock_refuses_to_go_backwards() {
        let clock = ManualClock::new(Timestamp::from_millis(10));
        clock.set(Timestamp::from_millis(9));
    }

    #[derive(Debug)]
    struct Steps(std::sync::Mutex<Vec<u64>>);
    impl Clock for Steps {
        fn now(&self) -> Timestamp {
            Timestamp(self.0.lock().unwrap().remove(0))
        }
    }

    #[test]
    fn monotonic_now_hides_a_clock_stepping_back() {
        let clock = Arc::new(Steps(std::sync::Mutex::new(vec![100, 50, 120])));
        let now = MonotonicNow::new(clock);
        assert_eq!(now.now().as_millis(), 100);
        assert_eq!(now.now().as_millis(), 100);
        assert_eq!(now.now().as_millis(), 120);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > Timestamp::from_millis(1_577_836_800_000));
    }
}
