//! Counters an operator exports: the live layer's ([`MetricsSnapshot`]) and the front door's
//! (refusals and request latency). Each is a relaxed atomic bumped where the event happens;
//! nothing is aggregated until someone reads them (see `crate::prometheus`).

// Without an exporter the counters are bumped but never read.
#[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
mod latency;
#[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
mod refusals;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::session::SessionId;
use crate::stream::StreamId;

pub(crate) use self::latency::Latency;
#[cfg(feature = "prometheus")]
pub(crate) use self::latency::{LatencySnapshot, BOUNDS_MS};
#[cfg(feature = "prometheus")]
pub(crate) use self::refusals::RefusalsSnapshot;
pub(crate) use self::refusals::{Refusals, SessionRefusal};

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
    /// Events handed to subscribers from a replay log rather than live: a resume's, or those of
    /// a stream published before its subscriber attached.
    pub events_replayed: u64,
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
    replayed: AtomicU64,
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

    /// A subscriber was handed `events` from the log (at least one).
    pub(crate) fn replay_served(&self, events: u64) {
        self.replays.fetch_add(1, Ordering::Relaxed);
        self.replayed.fetch_add(events, Ordering::Relaxed);
    }

    /// Events a resume of `stream` could no longer replay (the log had dropped them).
    pub(crate) fn report_lost(&self, session: SessionId, stream: StreamId, count: u64) {
        tracing::info!(session = %session, stream = stream.number(), lost = count, cause = "replay", "events lost");
        self.lost.fetch_add(count, Ordering::Relaxed);
    }

    /// Events a reader of `stream` lost by falling a whole window behind.
    pub(crate) fn subscriber_lagged(&self, session: SessionId, stream: StreamId, lost: u64) {
        tracing::info!(session = %session, stream = stream.number(), lost, cause = "lag", "events lost");
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
            events_replayed: self.replayed.load(Ordering::Relaxed),
            events_reported_lost: self.lost.load(Ordering::Relaxed),
            subscribers_lagged: self.lagged.load(Ordering::Relaxed),
        }
    }
}

/// The front door's counters, beside the live layer's.
#[derive(Debug, Default)]
pub(crate) struct FrontCounters {
    /// Time from a request's arrival at [`Engine::handle`](crate::Engine::handle) to its
    /// response head.
    pub(crate) latency: Latency,
    pub(crate) refusals: Refusals,
}
