//! Refusals counted by kind: `initialize` requests that got no session, by reason, and every
//! answer with an error status, by status.

use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;

/// Why an `initialize` got no session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SessionRefusal {
    /// The cap on sessions in total (503).
    SessionLimit,
    /// The store could not be reached (503).
    StoreUnavailable,
    /// The cap on one tenant's sessions (429).
    TenantSessionLimit,
}

impl SessionRefusal {
    pub(crate) const ALL: [Self; 3] = [Self::SessionLimit, Self::StoreUnavailable, Self::TenantSessionLimit];

    /// The label value: Prometheus' snake case.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::SessionLimit => "session_limit",
            Self::StoreUnavailable => "store_unavailable",
            Self::TenantSessionLimit => "tenant_session_limit",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The error statuses counted: every 4xx and 5xx.
const FIRST: u16 = 400;
const STATUSES: usize = 200;

/// Refusal counters, one relaxed atomic addition per refusal.
#[derive(Debug)]
pub(crate) struct Refusals {
    sessions: [AtomicU64; SessionRefusal::ALL.len()],
    statuses: [AtomicU64; STATUSES],
}

impl Default for Refusals {
    fn default() -> Self {
        Self { sessions: Default::default(), statuses: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

/// What [`Refusals`] held when read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RefusalsSnapshot {
    /// Every reason, in [`SessionRefusal::ALL`] order, with its count (zero included).
    pub(crate) sessions: Vec<(SessionRefusal, u64)>,
    /// The statuses answered at least once, in ascending order.
    pub(crate) statuses: Vec<(StatusCode, u64)>,
}

impl Refusals {
    pub(crate) fn session_refused(&self, reason: SessionRefusal) {
        self.sessions[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an answer with `status` if it is an error (4xx, 5xx); other statuses are not
    /// refusals.
    pub(crate) fn answered(&self, status: StatusCode) {
        if let Some(counter) = status.as_u16().checked_sub(FIRST).and_then(|i| self.statuses.get(usize::from(i))) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> RefusalsSnapshot {
        let sessions = SessionRefusal::ALL.map(|r| (r, self.sessions[r.index()].load(Ordering::Relaxed))).to_vec();
        let statuses = (FIRST..)
            .zip(&self.statuses)
            .filter_map(|(code, counter)| {
                let count = counter.load(Ordering::Relaxed);
                let status = StatusCode::from_u16(code).ok()?;
                (count > 0).then_some((status, count))
            })
            .collect();
        RefusalsSnapshot { sessions, statuses }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_error_statuses_are_refusals() {
        let refusals = Refusals::default();
        for status in [StatusCode::OK, StatusCode::ACCEPTED, StatusCode::NOT_FOUND, StatusCode::NOT_FOUND] {
            refusals.answered(status);
        }
        refusals.answered(StatusCode::SERVICE_UNAVAILABLE);
        refusals.answered(StatusCode::from_u16(599).unwrap());
        let snapshot = refusals.snapshot();
        let expected =
            [(StatusCode::NOT_FOUND, 2), (StatusCode::SERVICE_UNAVAILABLE, 1), (StatusCode::from_u16(599).unwrap(), 1)];
        assert_eq!(snapshot.statuses, expected);
    }

    #[test]
    fn every_reason_is_reported_even_at_zero() {
        let refusals = Refusals::default();
        refusals.session_refused(SessionRefusal::TenantSessionLimit);
        let snapshot = refusals.snapshot();
        assert_eq!(
            snapshot.sessions,
            [
                (SessionRefusal::SessionLimit, 0),
                (SessionRefusal::StoreUnavailable, 0),
                (SessionRefusal::TenantSessionLimit, 1)
            ]
        );
    }
}
