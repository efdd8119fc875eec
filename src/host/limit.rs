//! A count of open connections with a ceiling, shared by the worker threads: a worker takes a
//! place before it accepts, so at the ceiling nobody accepts and new connections wait in the
//! listen backlog. The same count tells a draining worker when its connections are gone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use event_listener::Event;

/// Open connections, at most `max`.
#[derive(Debug)]
pub(crate) struct ConnectionLimit {
    open: AtomicUsize,
    max: usize,
    /// Notified whenever a place is given back.
    released: Event,
}

/// One place under a [`ConnectionLimit`], given back when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    limit: Arc<ConnectionLimit>,
}

impl ConnectionLimit {
    /// A limit of `max` places (at least one).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { open: AtomicUsize::new(0), max: max.max(1), released: Event::new() })
    }

    /// A count with no ceiling: [`ConnectionLimit::acquire`] never waits.
    pub(crate) fn unbounded() -> Arc<Self> {
        Self::new(usize::MAX)
    }

    /// Waits for a free place and takes it.
    pub(crate) async fn acquire(self: &Arc<Self>) -> ConnectionPermit {
        loop {
            if let Some(permit) = self.try_acquire() {
                return permit;
            }
            // Listen before the second look, so a release between the two is not missed.
            let released = self.released.listen();
            if let Some(permit) = self.try_acquire() {
                return permit;
            }
            released.await;
        }
    }

    /// Takes a free place, if there is one.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<ConnectionPermit> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < self.max).then_some(open + 1))
            .ok()
            .map(|_| ConnectionPermit { limit: self.clone() })
    }

    /// Waits until every place has been given back.
    pub(crate) async fn until_all_released(&self) {
        loop {
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            let released = self.released.listen();
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            released.await;
        }
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.limit.open.fetch_sub(1, Ordering::AcqRel);
        // Everyone: the few workers waiting to accept and whoever waits for the count to drain.
        self.limit.released.notify(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll};

    use futures_util::task::noop_waker_ref;

    use super::*;

    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(noop_waker_ref()))
    }

    #[test]
    fn a_full_limit_makes_acquire_wait_until_a_place_is_released() {
        let limit = ConnectionLimit::new(2);
        let first = limit.try_acquire().expect("a place");
        let _second = limit.try_acquire().expect("a place");
        assert!(limit.try_acquire().is_none());
        let mut third = pin!(limit.acquire());
        assert!(poll_once(third.as_mut()).is_pending());
        drop(first);
        assert!(poll_once(third.as_mut()).is_ready());
    }

    #[test]
    fn the_drain_waits_for_the_last_place() {
        let limit = ConnectionLimit::unbounded();
        let permits: Vec<_> = (0..3).map(|_| limit.try_acquire().expect("no ceiling")).collect();
        let mut drained = pin!(limit.until_all_released());
        assert!(poll_once(drained.as_mut()).is_pending());
        drop(permits);
        assert!(poll_once(drained.as_mut()).is_ready());
    }
}
