//! The request latency histogram: fixed buckets bumped with atomics, read when scraped.
//!
//! Time comes from the engine's injected clock, whose resolution is a millisecond: a request
//! answered within the millisecond it arrived counts as 0 ms, and the bounds are whole
//! milliseconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The buckets' upper bounds (inclusive), in milliseconds: 1 ms to 10 s.
pub(crate) const BOUNDS_MS: [u64; 13] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/// Requests by time to their response head. Two relaxed atomic additions per observation.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; BOUNDS_MS.len() + 1],
    sum_ms: AtomicU64,
}

/// What [`Latency`] held when read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LatencySnapshot {
    /// Observations per bucket of [`BOUNDS_MS`] (not cumulative), then those above every bound.
    pub(crate) buckets: [u64; BOUNDS_MS.len() + 1],
    /// The observations' total, in milliseconds.
    pub(crate) sum_ms: u64,
}

impl LatencySnapshot {
    /// Observations in all.
    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

impl Latency {
    pub(crate) fn observe(&self, elapsed: Duration) {
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        // Most requests fall in the first bucket, so a scan from the bottom beats a search.
        let bucket = BOUNDS_MS.iter().position(|&bound| ms <= bound).unwrap_or(BOUNDS_MS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum_ms: self.sum_ms.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_observation_lands_in_the_lowest_bucket_that_holds_it() {
        let latency = Latency::default();
        for ms in [0, 1, 2, 3, 10_000, 10_001, u64::MAX] {
            latency.observe(Duration::from_millis(ms));
        }
        let snapshot = latency.snapshot();
        assert_eq!(snapshot.buckets[0], 2, "0 and 1 ms");
        assert_eq!(snapshot.buckets[1], 1, "2 ms");
        assert_eq!(snapshot.buckets[2], 1, "3 ms");
        assert_eq!(snapshot.buckets[BOUNDS_MS.len() - 1], 1, "10 s");
        assert_eq!(snapshot.buckets[BOUNDS_MS.len()], 2, "above 10 s");
        assert_eq!(snapshot.count(), 7);
    }
}
