//! Requests in flight in both directions: the client's (so `notifications/cancelled` can reach
//! them) and the server's own requests to the client (so the POSTed response reaches the
//! handler waiting for it).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

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
    pub(crate) fn cancel(&self, by_client: bool) {
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

/// Requests in flight of one session, both directions.
#[derive(Debug, Default)]
struct SessionRequests {
    /// The server's requests to the client, by id, with the handler waiting for each answer.
    awaiting: HashMap<Id, oneshot::Sender<Result<Value, ErrorObject>>>,
    /// The client's requests being answered, by id.
    running: HashMap<Id, Arc<Cancellation>>,
}

impl SessionRequests {
    fn is_empty(&self) -> bool {
        self.awaiting.is_empty() && self.running.is_empty()
    }
}

/// Why a client request could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartError {
    /// A request with the same id is still running in this session: JSON-RPC ids must be unique
    /// among a session's requests in flight, or cancellation and answers would reach the wrong one.
    Duplicate,
    /// The session runs as many requests as it may.
    TooMany,
}

/// A client's answer to a request of the server's: its result or its error.
pub(crate) type Answer = Result<Value, ErrorObject>;

/// Indexed by session first, so that ending a session costs O(its own requests).
#[derive(Debug, Default)]
pub(crate) struct ClientRequests {
    next_id: AtomicI64,
    /// The replica's name, when others share its sessions: ids are then `"<node>.<n>"`, so the
    /// answer to one names the replica that waits for it.
    node: OnceLock<Arc<str>>,
    sessions: Mutex<HashMap<SessionId, SessionRequests>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a couple of map operations: a panic cannot leave it half done.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ClientRequests {
    /// A fresh id for a request to the client; unique in the process, hence in every session,
    /// and among replicas once [`ClientRequests::name_ids_after`] named this one.
    pub(crate) fn next_id(&self) -> Id {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        match self.node.get() {
            Some(node) => Id::String(format!("{node}.{n}").into()),
            None => Id::Number(n),
        }
    }

    /// Makes ids `"<node>.<n>"` from now on (see [`crate::bus::Bus::node`]).
    pub(crate) fn name_ids_after(&self, node: &str) {
        let _ = self.node.set(node.into());
    }

    pub(crate) fn expect(&self, session: SessionId, id: Id) -> oneshot::Receiver<Result<Value, ErrorObject>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.sessions).entry(session).or_default().awaiting.insert(id, tx);
        rx
    }

    pub(crate) fn forget(&self, session: SessionId, id: &Id) {
        let mut sessions = lock(&self.sessions);
        if let Some(requests) = sessions.get_mut(&session) {
            requests.awaiting.remove(id);
            if requests.is_empty() {
                sessions.remove(&session);
            }
        }
    }

    /// Hands the client's response to the waiting handler; gives it back if nobody here waits
    /// for it (another replica's handler may).
    pub(crate) fn resolve(&self, session: SessionId, id: Id, outcome: Answer) -> Result<(), (Id, Answer)> {
        let waiting = {
            let mut sessions = lock(&self.sessions);
            let Some(requests) = sessions.get_mut(&session) else { return Err((id, outcome)) };
            let waiting = requests.awaiting.remove(&id);
            if requests.is_empty() {
                sessions.remove(&session);
            }
            waiting
        };
        match waiting {
            Some(tx) => tx.send(outcome).map_err(|outcome| (id, outcome)),
            None => Err((id, outcome)),
        }
    }

    /// Registers a client request as running, unless its id is already running in the session
    /// or the session runs `limit` requests already.
    pub(crate) fn start(&self, session: SessionId, id: Id, limit: usize) -> Result<Arc<Cancellation>, StartError> {
        let mut sessions = lock(&self.sessions);
        let requests = sessions.entry(session).or_default();
        if requests.running.contains_key(&id) {
            return Err(StartError::Duplicate);
        }
        if requests.running.len() >= limit {
            if requests.is_empty() {
                sessions.remove(&session);
            }
            return Err(StartError::TooMany);
        }
        let cancellation = Arc::new(Cancellation::default());
        requests.running.insert(id, cancellation.clone());
        Ok(cancellation)
    }

    /// How many client requests the session runs now.
    pub(crate) fn running(&self, session: SessionId) -> usize {
        lock(&self.sessions).get(&session).map_or(0, |r| r.running.len())
    }

    pub(crate) fn end(&self, session: SessionId, id: &Id) {
        let mut sessions = lock(&self.sessions);
        if let Some(requests) = sessions.get_mut(&session) {
            requests.running.remove(id);
            if requests.is_empty() {
                sessions.remove(&session);
            }
        }
    }

    /// `notifications/cancelled`: true if the request was still running.
    pub(crate) fn cancel(&self, session: SessionId, id: Id) -> bool {
        let running = lock(&self.sessions).get(&session).and_then(|r| r.running.get(&id).cloned());
        running.map(|c| c.cancel(true)).is_some()
    }

    /// The session ended: cancel its running requests and fail its pending client requests.
    pub(crate) fn end_session(&self, session: SessionId) {
        let Some(requests) = lock(&self.sessions).remove(&session) else { return };
        // Dropping the senders fails the handlers waiting for an answer.
        drop(requests.awaiting);
        for cancellation in requests.running.into_values() {
            cancellation.cancel(false);
        }
    }

    /// Whether anything of `session` is in flight.
    pub(crate) fn knows(&self, session: SessionId) -> bool {
        lock(&self.sessions).contains_key(&session)
    }

    /// `(client requests running, server requests awaiting an answer)`, over all sessions.
    pub(crate) fn len(&self) -> (usize, usize) {
        let sessions = lock(&self.sessions);
        sessions.values().fold((0, 0), |(r, a), s| (r + s.running.len(), a + s.awaiting.len()))
    }
}

/// A client request registered as running; ends its registration however the call ends
/// (answered, cancelled, or its future dropped with the connection).
pub(crate) struct Running {
    clients: Arc<ClientRequests>,
    session: SessionId,
    id: Id,
    cancellation: Arc<Cancellation>,
}

impl Running {
    pub(crate) fn start(
        clients: &Arc<ClientRequests>,
        session: SessionId,
        id: Id,
        limit: usize,
    ) -> Result<Self, StartError> {
        let cancellation = clients.start(session, id.clone(), limit)?;
        Ok(Self { clients: clients.clone(), session, id, cancellation })
    }

    pub(crate) fn cancellation(&self) -> &Arc<Cancellation> {
        &self.cancellation
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.clients.end(self.session, &self.id);
    }
}
