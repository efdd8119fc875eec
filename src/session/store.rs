//! The storage seam: where sessions and their replay logs live.

use bytes::Bytes;

use super::id::SessionId;
use super::owner::{Owner, TenantId};
use super::record::SessionRecord;
use crate::clock::Timestamp;
use crate::jsonrpc::Id;
use crate::stream::{AheadOfStream, Event, LogLimits, Replay, StreamId};

/// Persistent session state: records, the expiry index, and the per-stream replay logs.
///
/// The engine calls these methods; it keeps only what cannot be persisted (live subscribers,
/// waiting handlers) itself. Every method is `async` so that a remote store (a Durable Object's
/// storage, Redis) can back it; futures need not be `Send`, so the same trait works on
/// single-threaded wasm. [`MemoryStore`](super::MemoryStore) is the default.
///
/// A store owns the expiry rules ([`ExpiryPolicy`](super::ExpiryPolicy)) and admission caps it
/// was built with: it is the one place that sees every session.
///
/// The engine over a store of your choosing; here the in-memory one with tighter limits:
///
/// ```
/// use std::sync::Arc;
///
/// use mcp_session::session::{MemoryStore, StorePolicy};
/// use mcp_session::{Owner, Sessions, SessionsConfig, SystemClock};
///
/// let mut policy = StorePolicy::default();
/// policy.max_sessions = Some(2);
/// policy.retained_bytes = 16 << 20;
/// let store: MemoryStore<()> = MemoryStore::new(policy);
/// let sessions = Sessions::with_store(store, Arc::new(SystemClock), SessionsConfig::default());
///
/// # futures::executor::block_on(async {
/// sessions.create(Owner::anonymous(), ()).await.unwrap();
/// sessions.create(Owner::anonymous(), ()).await.unwrap();
/// assert!(sessions.create(Owner::anonymous(), ()).await.is_err(), "the store's cap holds");
/// # });
/// ```
#[allow(async_fn_in_trait)] // deliberately no `Send` bound: wasm stores hold JS values
pub trait Store<D> {
    /// Adds a session. Fails if the id exists or a cap is reached; nothing changes then.
    async fn create(&self, record: SessionRecord<D>) -> Result<(), CreateError>;

    /// Returns the session if it exists, is not expired at `now` and belongs to `owner`, and
    /// marks it used at `now` (refreshing the idle timeout, and ending the initialization
    /// timeout). An expired session is removed. A session of another owner is left untouched.
    async fn lookup(&self, id: SessionId, owner: &Owner, now: Timestamp) -> Result<SessionRecord<D>, LookupError>;

    /// Changes a session's application state.
    ///
    /// `change` may run more than once, each time on the freshest state: a store shared by
    /// several processes applies it optimistically and retries when another process changed the
    /// state in between. It must therefore be a pure function of the state it is given.
    async fn update<F: FnMut(&mut D)>(&self, id: SessionId, change: F) -> Result<(), LookupError>;

    /// Removes a session and its logs. Returns whether it existed.
    async fn remove(&self, id: SessionId) -> Result<bool, StoreUnavailable>;

    /// Allocates a new request stream in the session.
    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError>;

    /// Allocates a new request stream that will answer `requests` (the JSON-RPC ids of the
    /// requests whose responses it carries). A store shared by processes records who produces
    /// the stream, so that if that process dies another can end the stream with one error for
    /// each request; a store of one process needs neither, and this is [`Store::open_stream`].
    async fn open_stream_answering(&self, id: SessionId, requests: &[Id]) -> Result<StreamId, StreamError> {
        let _ = requests;
        self.open_stream(id).await
    }

    /// Appends a message to a stream's replay log (the standalone stream's log is created on
    /// first use) and returns it with its assigned id. To stay within its limits the store drops
    /// the oldest retained events, of this log or (under a budget shared by many logs) of others;
    /// sequence numbers stay dense, so a resume reports exactly what was dropped.
    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<Event, StreamError>;

    /// Marks a stream as complete: its final message has been appended.
    async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError>;

    /// The events of a stream after message `after`.
    async fn replay(&self, id: SessionId, stream: StreamId, after: u64) -> Result<Replay, ReplayError>;

    /// Says whether something in this process holds the session: an attached stream or a running
    /// call. While held, only the absolute timeout runs; when released, the idle timeout starts
    /// from `at`. The engine calls it only when its own count goes from 0 to 1 and back, in
    /// order; a call it could not see through (the request telling it was dropped) it makes
    /// again, so a repeat must change nothing. An unknown session is ignored.
    async fn set_held(&self, id: SessionId, held: bool, at: Timestamp) -> Result<(), StoreUnavailable>;

    /// Removes every session whose deadline is at or before `now`; returns their ids.
    /// Costs O(expired · log n): the store keeps deadlines ordered. A store may index a bound
    /// that touches leave behind instead of the deadline itself (Redis does: a touch then writes
    /// less); a sweep also costs it O(log n) for each session touched since its bound was set.
    async fn expire(&self, now: Timestamp) -> Result<Vec<SessionId>, StoreUnavailable>;

    /// When the engine should next call [`Store::expire`]: the earliest deadline of any session,
    /// if there is a session. It may be early, never late. A store shared by several processes
    /// answers from what it last saw and never later than its next sweep, because sessions
    /// other processes create are not known here; a lookup still checks the true deadline.
    fn next_deadline(&self) -> Option<Timestamp>;

    /// The sessions of `tenant` with their application state, for fan-out to a tenant. Does not
    /// touch them.
    async fn sessions_of(&self, tenant: &TenantId) -> Result<Vec<(SessionId, D)>, StoreUnavailable>;

    /// How much each stream's replay log retains. The engine sizes a live subscriber's window
    /// to match, so that a subscriber lags exactly when the log would have dropped its events.
    fn log_limits(&self) -> LogLimits;

    /// Whether other processes write this store too, producing streams this one may resume (a
    /// request stream not opened here is then live while a subscriber reads it, fed by
    /// doorbells). `false` for a store of one process, where such a stream's producer is gone.
    fn is_shared(&self) -> bool {
        false
    }

    /// Bytes of retained events held in this process (0 for a store that keeps them elsewhere).
    fn retained_bytes(&self) -> usize {
        0
    }

    /// Number of sessions held (expired ones not yet removed included). A shared store answers
    /// with the count it last saw.
    fn len(&self) -> usize;

    /// Whether the store holds no session.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The store could not be reached or refused to write (a remote store's outage, its memory
/// limit). Nothing is known about the session: it may well exist. The HTTP engine answers 503
/// with `Retry-After`, never 404, so a client keeps its session and tries again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("session store unavailable")]
pub struct StoreUnavailable;

/// Why a session could not be created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// A session with this id exists.
    #[error("session id already in use")]
    Duplicate,
    /// The store holds its maximum number of sessions.
    #[error("session limit reached ({limit} sessions)")]
    TooManySessions {
        /// The configured cap.
        limit: usize,
    },
    /// The tenant holds its maximum number of sessions.
    #[error("session limit of tenant {tenant} reached ({limit} sessions)")]
    TooManySessionsForTenant {
        /// The tenant that is full.
        tenant: TenantId,
        /// The configured per-tenant cap.
        limit: usize,
    },
    /// The store is unavailable; see [`StoreUnavailable`].
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// Why a session lookup failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The session expired; it has now been removed.
    #[error("session expired")]
    Expired,
    /// The session exists but belongs to another tenant or principal. It was not touched.
    #[error("session belongs to another owner")]
    Forbidden,
    /// No such session (never created, deleted, or expired and already removed).
    #[error("unknown session")]
    Unknown,
    /// The store is unavailable; see [`StoreUnavailable`].
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// Why a stream operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The stream was finished; nothing more can be published to it.
    #[error("stream {0} is finished")]
    Finished(StreamId),
    /// The session has as many open request streams as it may hold.
    #[error("too many open streams in this session (limit {limit})")]
    TooManyStreams {
        /// The configured cap.
        limit: usize,
    },
    /// No such session.
    #[error("unknown session")]
    UnknownSession,
    /// The session has no such stream (never opened, or its log was dropped to make room).
    #[error("unknown stream {0}")]
    UnknownStream(StreamId),
    /// The store is unavailable; see [`StoreUnavailable`].
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// Why a replay failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The position is after the stream's latest message.
    #[error(transparent)]
    Ahead(#[from] AheadOfStream),
    /// No such session.
    #[error("unknown session")]
    UnknownSession,
    /// The session has no such stream (never opened, or its log was dropped to make room).
    #[error("unknown stream {0}")]
    UnknownStream(StreamId),
    /// The store is unavailable; see [`StoreUnavailable`].
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}
