//! Counters an operator exports.

use std::sync::atomic::{AtomicU64, Ordering};

/// A consistent-enough snapshot of the engine's counters (each counter is read atomically; the
/// set is not read under one lock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Sessions held now.
    pub active_sessions: u64,
    /// Sessions created since start.
    pub sessions_created: u64,
    /// Sessions removed because they expired (lazily on lookup or by the periodic expiry).
    pub sessions_expired: u64,
    /// Sessions ended by request (DELETE).
    pub sessions_deleted: u64,
    /// Messages published to any stream.
    pub events_published: u64,
    /// Resumes that replayed at least one event.
    pub replays_served: u64,
    /// Events reported lost to clients in `lagged` notices (resume too old, or live lag).
    pub events_reported_lost: u64,
    /// Times a live subscriber fell behind the fan-out and lost events.
    pub subscribers_lagged: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    created: AtomicU64,
    expired: AtomicU64,
    deleted: AtomicU64,
    published: AtomicU64,
    replays: AtomicU64,
    lost: AtomicU64,
    lagged: AtomicU64,
}

impl Counters {
    pub(crate) fn session_created(&self) {
        self.created.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sessions_expired(&self, count: u64) {
        self.expired.fetch_add(count, Ordering::Relaxed);
    }

    pub(crate) fn session_deleted(&self) {
        self.deleted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn event_published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn replay_served(&self) {
        self.replays.fetch_add(1, Ordering::Relaxed);
    }

    /// Events a resume could no longer replay (the log had dropped them).
    pub(crate) fn report_lost(&self, count: u64) {
        tracing::debug!(lost = count, "events lost: the replay log no longer holds them");
        self.lost.fetch_add(count, Ordering::Relaxed);
    }

    /// Events a reader lost by falling a whole window behind.
    pub(crate) fn subscriber_lagged(&self, lost: u64) {
        tracing::debug!(lost, "events lost: a reader fell a window behind");
        self.lagged.fetch_add(1, Ordering::Relaxed);
        self.lost.fetch_add(lost, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, active_sessions: u64) -> MetricsSnapshot {
        MetricsSnapshot {
            active_sessions,
            sessions_created: self.created.load(Ordering::Relaxed),
            sessions_expired: self.expired.load(Ordering::Relaxed),
            sessions_deleted: self.deleted.load(Ordering::Relaxed),
            events_published: self.published.load(Ordering::Relaxed),
            replays_served: self.replays.load(Ordering::Relaxed),
            events_reported_lost: self.lost.load(Ordering::Relaxed),
            subscribers_lagged: self.lagged.load(Ordering::Relaxed),
        }
    }
}
