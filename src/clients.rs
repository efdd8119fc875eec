//! Requests in flight in both directions: the client's (so `notifications/cancelled` can reach
//! them) and the server's own requests to the client (so the POSTed response reaches the
//! handler waiting for it).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use event_listener::Event as Notify;
use futures_channel::oneshot;
use hashbrown::HashMap;
use serde_json::Value;

use crate::jsonrpc::{ErrorObject, Id};
use crate::session::SessionId;

/// Cancellation of one request, observable by its handler.
///
/// Two things cancel a request: the client (`notifications/cancelled`), after which the spec
/// says no response is sent, and the end of its session, after which the handler should stop
/// but an answer it still produces is delivered if the connection can carry it.
#[derive(Debug, Default)]
pub(crate) struct Cancellation {
    cancelled: AtomicBool,
    by_client: AtomicBool,
    notify: Notify,
}

impl Cancellation {
    fn cancel(&self, by_client: bool) {
        if by_client {
            self.by_client.store(true, Ordering::Release);
        }
        self.cancelled.store(true, Ordering::Release);
        self.notify.notify(usize::MAX);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Whether the client cancelled the request (its response must not be sent).
    pub(crate) fn is_cancelled_by_client(&self) -> bool {
        self.by_client.load(Ordering::Acquire)
    }

    pub(crate) async fn cancelled(&self) {
        loop {
            if self.is_cancelled() {
                return;
            }
            let listener = self.notify.listen();
            if self.is_cancelled() {
                return;
            }
            listener.await;
        }
    }
}

type Key = (SessionId, Id);

#[derive(Debug, Default)]
pub(crate) struct ClientRequests {
    next_id: AtomicI64,
    awaiting: Mutex<HashMap<Key, oneshot::Sender<Result<Value, ErrorObject>>>>,
    inflight: Mutex<HashMap<Key, Arc<Cancellation>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a single map operation: a panic cannot leave it half done.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ClientRequests {
    /// A fresh id for a request to the client; unique in the process, hence in every session.
    pub(crate) fn next_id(&self) -> Id {
        Id::Number(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    pub(crate) fn expect(&self, session: SessionId, id: Id) -> oneshot::Receiver<Result<Value, ErrorObject>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.awaiting).insert((session, id), tx);
        rx
    }

    pub(crate) fn forget(&self, session: SessionId, id: &Id) {
        lock(&self.awaiting).remove(&(session, id.clone()));
    }

    /// Hands the client's response to the waiting handler; false if nobody waits for it.
    pub(crate) fn resolve(&self, session: SessionId, id: Id, outcome: Result<Value, ErrorObject>) -> bool {
        let waiting = lock(&self.awaiting).remove(&(session, id));
        waiting.is_some_and(|tx| tx.send(outcome).is_ok())
    }

    pub(crate) fn start(&self, session: SessionId, id: Id) -> Arc<Cancellation> {
        let cancellation = Arc::new(Cancellation::default());
        lock(&self.inflight).insert((session, id), cancellation.clone());
        cancellation
    }

    pub(crate) fn end(&self, session: SessionId, id: &Id) {
        lock(&self.inflight).remove(&(session, id.clone()));
    }

    /// `notifications/cancelled`: true if the request was still running.
    pub(crate) fn cancel(&self, session: SessionId, id: Id) -> bool {
        let running = lock(&self.inflight).get(&(session, id)).cloned();
        running.map(|c| c.cancel(true)).is_some()
    }

    /// The session ended: cancel its running requests and fail its pending client requests.
    pub(crate) fn end_session(&self, session: SessionId) {
        lock(&self.awaiting).retain(|(s, _), _| *s != session);
        let cancelled: Vec<_> = {
            let mut inflight = lock(&self.inflight);
            let keys: Vec<Key> = inflight.keys().filter(|(s, _)| *s == session).cloned().collect();
            keys.into_iter().filter_map(|k| inflight.remove(&k)).collect()
        };
        for c in cancelled {
            c.cancel(false);
        }
    }
}
