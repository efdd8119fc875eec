//! The core engine: sessions, their streams, and the timers that govern both.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use event_listener::EventListener;

use crate::clock::{Clock, MonotonicNow, SystemClock, Timestamp};
use crate::coop;
use crate::jsonrpc::Id;
use crate::metrics::MetricsSnapshot;
use crate::session::{
    CreateError, ExpiryPolicy, LookupError, MemoryStore, Owner, ReplayError, SessionId, SessionIdGenerator,
    SessionRecord, Store, StorePolicy, StoreUnavailable, StreamError, TenantId,
};
use crate::stream::{EventId, StreamId};
use hub::{Delivery, Hold, Hub, HubCensus, Transition, Unconfirmed};

mod hub;
mod subscription;

pub use subscription::Subscription;

/// Sessions, their resumable event streams, and expiry — driven by an injected clock.
///
/// This is the runtime-free core every host drives. It never spawns a task and never reads the
/// operating system's clock; it keeps no timer of its own. Instead:
///
/// - after any call, [`Sessions::next_deadline`] says when the engine next needs attention
///   (a session expiring or a stream's keep-alive falling due);
/// - the host sleeps until then — or until [`Sessions::deadline_changed`] fires because an
///   earlier deadline appeared — and calls [`Sessions::handle_timeout`].
///
/// Early or spurious calls to `handle_timeout` are harmless no-ops.
///
/// `D` is the application's per-session state, kept in the [`Store`] with the session record.
/// Share the engine between tasks and threads behind an `Arc`.
///
/// A call's response stream, a reader that drops, and its resume with `Last-Event-ID`: nothing
/// is lost and nothing comes twice. No runtime is involved; any executor polls these futures.
///
/// ```
/// use bytes::Bytes;
/// use futures::StreamExt;
/// use mcp_session::{Owner, Resume, Sessions, StreamItem, SubscribeOptions};
///
/// # futures::executor::block_on(async {
/// let sessions = Sessions::builder().keep_alive(None).build();
/// let owner = Owner::anonymous();
/// let id = sessions.create(owner.clone(), ()).await?;
/// let mut reader = sessions.open_stream(id, false).await?; // a POST's SSE reply
/// let stream = reader.stream();
///
/// let first = sessions.publish(id, stream, Bytes::from_static(b"one")).await?;
/// assert!(matches!(reader.next().await, Some(StreamItem::Event(e)) if e.id() == first));
/// drop(reader); // the connection is lost; the stream and its log remain
/// sessions.publish(id, stream, Bytes::from_static(b"two")).await?;
///
/// // The client reconnects with `Last-Event-ID: <first>` and gets exactly what it missed.
/// let options = SubscribeOptions::default();
/// let mut resumed = sessions.subscribe(id, stream, Resume::After(first), options).await?;
/// match resumed.next().await {
///     Some(StreamItem::Event(event)) => assert_eq!(event.payload().as_ref(), b"two"),
///     other => panic!("expected the missed event, got {other:?}"),
/// }
/// assert!(sessions.lookup(id, &owner).await.is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Sessions<D, S = MemoryStore<D>> {
    store: S,
    hub: Arc<Hub>,
    ids: Mutex<SessionIdGenerator>,
    /// Serializes telling the store about activity transitions, so it hears them in order.
    telling: async_lock::Mutex<()>,
    _data: std::marker::PhantomData<fn() -> D>,
}

impl<D, S> fmt::Debug for Sessions<D, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// Options of the engine beyond what its store enforces. [`SessionsBuilder`] sets them one by
/// one; [`Sessions::with_store`] takes them whole (change the default's fields).
#[derive(Debug)]
#[non_exhaustive]
pub struct SessionsConfig {
    /// Where new session ids come from. Default: the OS CSPRNG.
    pub ids: SessionIdGenerator,
    /// Interval of keep-alive heartbeats on an attached stream; `None` disables them.
    /// Default 15 seconds, below the idle cut-off of common proxies (Cloudflare: ~100 s).
    pub keep_alive: Option<Duration>,
    /// Whether an attached stream (a GET, a POST's SSE reply) or a running call keeps its
    /// session from going idle: the idle timeout then runs only while nothing is attached and
    /// nothing runs, and starts when the last of them ends. The absolute timeout ends a session
    /// however busy. Default `true`: a client that only listens, or waits for a long call, does
    /// not lose its session. With `false` only requests count, as in the spec's letter.
    pub activity_holds: bool,
}

setters!(SessionsConfig {
    ids: SessionIdGenerator,
    keep_alive: Option<Duration>,
    activity_holds: bool,
});

impl Default for SessionsConfig {
    fn default() -> Self {
        Self { ids: SessionIdGenerator::random(), keep_alive: Some(Duration::from_secs(15)), activity_holds: true }
    }
}

/// Builds [`Sessions`] over the in-memory store.
#[derive(Debug, Default)]
pub struct SessionsBuilder {
    policy: StorePolicy,
    config: SessionsConfig,
    clock: Option<Arc<dyn Clock>>,
}

impl SessionsBuilder {
    /// The clock; default [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Idle timeout: a session idle for this long expires. Default 30 minutes.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.policy.expiry.idle = idle;
        self
    }

    /// Absolute timeout: a session older than this expires however busy. Default 4 hours.
    pub fn absolute_timeout(mut self, absolute: Duration) -> Self {
        self.policy.expiry.absolute = absolute;
        self
    }

    /// Initialization timeout: a session not used again after `initialize` expires this soon.
    /// Default 60 seconds.
    pub fn initialization_timeout(mut self, timeout: Duration) -> Self {
        self.policy.expiry.initialization = timeout;
        self
    }

    /// Every timeout at once.
    pub fn expiry(mut self, expiry: ExpiryPolicy) -> Self {
        self.policy.expiry = expiry;
        self
    }

    /// Cap on sessions in total (`None`: no cap). Default 100,000.
    pub fn max_sessions(mut self, limit: impl Into<Option<usize>>) -> Self {
        self.policy.max_sessions = limit.into();
        self
    }

    /// Cap on sessions per tenant (`None`: no cap). Default 25,000.
    pub fn max_sessions_per_tenant(mut self, limit: impl Into<Option<usize>>) -> Self {
        self.policy.max_sessions_per_tenant = limit.into();
        self
    }

    /// Events retained per stream for replay, and a live subscriber's window. Default 256.
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.policy.log.events = capacity;
        self
    }

    /// Bytes retained per stream for replay, and a live subscriber's window. Default 8 MiB.
    pub fn max_stream_bytes(mut self, bytes: usize) -> Self {
        self.policy.log.bytes = bytes;
        self
    }

    /// Bytes of retained events across all sessions; the oldest go first beyond it. Default
    /// 64 MiB (see [`StorePolicy::retained_bytes`]).
    pub fn retained_bytes(mut self, bytes: usize) -> Self {
        self.policy.retained_bytes = bytes;
        self
    }

    /// Replay logs a session keeps (see [`StorePolicy::max_streams_per_session`]).
    pub fn max_streams_per_session(mut self, limit: usize) -> Self {
        self.policy.max_streams_per_session = limit;
        self
    }

    /// Keep-alive interval on attached streams; `None` disables heartbeats.
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.config.keep_alive = every;
        self
    }

    /// Whether attached streams and running calls keep a session from going idle (see
    /// [`SessionsConfig::activity_holds`]). Default `true`.
    pub fn activity_holds(mut self, holds: bool) -> Self {
        self.config.activity_holds = holds;
        self
    }

    /// Where session ids come from.
    pub fn ids(mut self, ids: SessionIdGenerator) -> Self {
        self.config.ids = ids;
        self
    }

    /// The engine over a fresh [`MemoryStore`].
    ///
    /// # Panics
    ///
    /// If the replay capacity is zero or fewer than 2 streams per session are allowed.
    pub fn build<D: Clone>(self) -> Sessions<D> {
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        Sessions::with_store(MemoryStore::new(self.policy), clock, self.config)
    }

    /// The store limits and expiry rules set so far, for building another store with them
    /// (see [`SessionsBuilder::build_with_store`]).
    pub fn policy(&self) -> &StorePolicy {
        &self.policy
    }

    /// The engine over `store`, with this builder's clock, ids, keep-alive and activity rules.
    /// The store enforces its own policy: build it from [`SessionsBuilder::policy`] so the limits
    /// set here apply.
    pub fn build_with_store<D, S: Store<D>>(self, store: S) -> Sessions<D, S> {
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        Sessions::with_store(store, clock, self.config)
    }
}

/// Where a subscription starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// After the event with this id (a client's `Last-Event-ID`).
    After(EventId),
    /// After the last message handed to any earlier subscriber of the stream: a new connection
    /// without `Last-Event-ID` gets what was published while nobody listened, and nothing twice.
    /// What a process handed out is known only to that process: on a log read back from
    /// storage (a restarted Durable Object), everything it holds counts as handed out, so the
    /// new connection starts live. A client that saw events resumes with `Last-Event-ID` and
    /// loses nothing either way.
    Undelivered,
}

/// Why a subscription could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The stream has a subscriber and an exclusive subscription was asked for.
    #[error("the stream already has a subscriber")]
    Busy,
    /// The resume position is not usable.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Why publishing failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The client hung up on a reply that cannot be resumed (a JSON-mode reply): nothing sent
    /// for that request can reach it any more.
    #[error("the client disconnected from a reply that cannot be resumed")]
    Disconnected,
    /// The stream or session is gone or finished.
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// Options of [`Sessions::subscribe`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Start with a [`StreamItem::Init`](crate::StreamItem::Init) (the spec's priming event).
    pub init: bool,
    /// Refuse with [`SubscribeError::Busy`] rather than replace a current subscriber.
    pub exclusive: bool,
}

impl Sessions<()> {
    /// A builder for an engine over the in-memory store.
    pub fn builder() -> SessionsBuilder {
        SessionsBuilder::default()
    }
}

impl<D, S: Store<D>> Sessions<D, S> {
    /// An engine over `store`, reading time from `clock`.
    pub fn with_store(store: S, clock: Arc<dyn Clock>, config: SessionsConfig) -> Self {
        let hub = Hub::new(MonotonicNow::new(clock), store.log_limits(), config.keep_alive, config.activity_holds);
        Self {
            store,
            hub: Arc::new(hub),
            ids: Mutex::new(config.ids),
            telling: async_lock::Mutex::new(()),
            _data: std::marker::PhantomData,
        }
    }

    /// The store behind the engine.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The engine's current time (never earlier than a time it returned before).
    pub fn now(&self) -> Timestamp {
        self.hub.now()
    }

    /// The injected clock as it reads now, for measuring durations (see [`MonotonicNow::read`]).
    pub(crate) fn read_clock(&self) -> Timestamp {
        self.hub.read_clock()
    }

    /// Creates a session for `owner` with a fresh id.
    pub async fn create(&self, owner: Owner, data: D) -> Result<SessionId, CreateError> {
        let id = self.ids.lock().unwrap_or_else(|p| p.into_inner()).next_id();
        self.create_with_id(id, owner, data).await?;
        Ok(id)
    }

    /// Creates a session with an id chosen elsewhere (a router that must know the id before it
    /// picks the engine instance, such as a worker routing to a Durable Object).
    pub async fn create_with_id(&self, id: SessionId, owner: Owner, data: D) -> Result<(), CreateError> {
        let now = self.now();
        let record = SessionRecord { id, owner, created_at: now, last_seen: now, used: false, data };
        self.store.create(record).await?;
        self.hub.counters.session_created();
        if let Some(at) = self.store.next_deadline() {
            self.hub.note_deadline(at);
        }
        Ok(())
    }

    /// The session, if it exists, has not expired and belongs to `owner`; refreshes its idle
    /// timeout. An expired session is removed (its streams end) and reported as
    /// [`LookupError::Expired`].
    pub async fn lookup(&self, id: SessionId, owner: &Owner) -> Result<SessionRecord<D>, LookupError> {
        self.tell_activity().await;
        let result = self.store.lookup(id, owner, self.now()).await;
        if matches!(result, Err(LookupError::Expired)) {
            self.hub.remove_session(id);
            self.hub.counters.sessions_expired(1);
        }
        result
    }

    /// Changes a session's application state (no ownership check: look the session up first).
    /// `change` may run more than once (see [`Store::update`]).
    pub async fn update<F: FnMut(&mut D)>(&self, id: SessionId, change: F) -> Result<(), LookupError> {
        self.store.update(id, change).await
    }

    /// Ends a session on request: its streams close and later lookups fail. Returns whether it
    /// existed. Behind an HTTP engine, end sessions with
    /// [`EngineState::end_session`](crate::EngineState::end_session), which also cancels their
    /// calls. When the store is unavailable nothing changes here: the session may live on.
    pub async fn remove(&self, id: SessionId) -> Result<bool, StoreUnavailable> {
        let existed = self.store.remove(id).await?;
        self.hub.remove_session(id);
        if existed {
            self.hub.counters.session_deleted();
        }
        Ok(existed)
    }

    /// Opens a request stream with its subscriber attached from the start, so everything
    /// published to it (before the subscriber is first polled included) reaches it in order.
    pub async fn open_stream(&self, id: SessionId, init: bool) -> Result<Subscription, StreamError> {
        self.open_stream_answering(id, init, &[]).await
    }

    /// Opens a request stream like [`Sessions::open_stream`], one that will answer `requests`
    /// (see [`Store::open_stream_answering`]).
    pub async fn open_stream_answering(
        &self,
        id: SessionId,
        init: bool,
        requests: &[Id],
    ) -> Result<Subscription, StreamError> {
        let removals = self.hub.removals();
        let stream = self.store.open_stream_answering(id, requests).await?;
        // A session removed while the store opened the stream would leave it live here for good
        // (its removal has been acted on already); so would one the store cannot vouch for now,
        // which the caller is told is unavailable, and one whose request goes away while the
        // store is asked (`Unconfirmed` abandons it as it drops).
        let live = Unconfirmed::new(self.hub.open(id, stream));
        if self.hub.removals() != removals {
            match self.store.replay(id, stream, 0).await {
                Err(ReplayError::UnknownSession) => {
                    drop(live);
                    self.hub.remove_session(id);
                    return Err(StreamError::UnknownSession);
                }
                Err(ReplayError::Unavailable(unavailable)) => return Err(StreamError::Unavailable(unavailable)),
                Ok(_) | Err(ReplayError::Ahead(_) | ReplayError::UnknownStream(_)) => {}
            }
        }
        let empty = crate::stream::Replay::default();
        Ok(Subscription::new(self.hub.clone(), id, stream, Some(live.confirm()), 0, empty, init))
    }

    /// Publishes a message to a stream without waiting: it lands in the replay log and goes to
    /// the attached subscriber, if any. A subscriber whose window is full loses the oldest
    /// undelivered event (and is told how many it lost).
    pub async fn publish(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<EventId, PublishError> {
        let event = self.store.append(id, stream, payload).await?;
        if self.hub.deliver(id, &event) == Delivery::Gap {
            // Appended before this one and not delivered yet (by another thread, or another
            // process): the log has them, in order.
            self.handle_doorbell(id, stream).await;
        }
        self.hub.counters.event_published();
        Ok(event.id())
    }

    /// Publishes like [`Sessions::publish`], but first waits while the attached subscriber has a
    /// full window of undelivered events, so a fast producer (a handler streaming progress)
    /// is paced by its client instead of overrunning it. With no subscriber attached it never
    /// waits: the client is away, and the event waits in the replay log. A subscriber that
    /// leaves or is replaced (a resume) wakes every waiting sender, which then judges by the
    /// subscriber attached now.
    pub async fn send(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<EventId, PublishError> {
        let cost = crate::stream::event_cost(payload.len());
        while let Some(room) = self.hub.room(id, stream, cost) {
            room.await;
        }
        self.publish(id, stream, payload).await
    }

    /// Publishes to the standalone stream of every session of `tenant` whose state `accept`s
    /// it, except `except`. Sessions are not touched (fan-out does not keep them alive).
    /// Returns how many sessions received the message (none when the store cannot list the
    /// tenant's sessions: change events say "refetch", and the next one repairs the miss).
    pub async fn publish_to_tenant<F>(
        &self,
        tenant: &TenantId,
        payload: Bytes,
        except: Option<SessionId>,
        accept: F,
    ) -> usize
    where
        F: Fn(&D) -> bool,
    {
        let mut delivered = 0;
        let members = match self.store.sessions_of(tenant).await {
            Ok(members) => members,
            Err(StoreUnavailable) => {
                tracing::warn!(target: "mcp_session::store", tenant = %tenant, "store unavailable: change event not fanned out");
                return 0;
            }
        };
        for (step, (id, data)) in members.into_iter().enumerate() {
            if Some(id) == except || !accept(&data) {
                continue;
            }
            if step % coop::TURN as usize == coop::TURN as usize - 1 {
                // A tenant of many sessions must not hold this thread for the whole fan-out.
                coop::yield_now().await;
            }
            if self.publish(id, StreamId::STANDALONE, payload.clone()).await.is_ok() {
                delivered += 1;
            }
        }
        delivered
    }

    /// Marks a request stream complete: once its subscriber has what was published, it ends;
    /// later resumes replay and end.
    pub async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError> {
        let result = self.store.finish(id, stream).await;
        self.hub.finish(id, stream);
        result
    }

    /// Subscribes to a stream, replaying from `from`. Subscribe-then-snapshot: the live
    /// attachment is made before the log is read, and events present in both are yielded once,
    /// so an event published during the connect is seen exactly once.
    pub async fn subscribe(
        &self,
        id: SessionId,
        stream: StreamId,
        from: Resume,
        options: SubscribeOptions,
    ) -> Result<Subscription, SubscribeError> {
        let shared = self.store.is_shared();
        // Until the log is read, the attach is not vouched for: a subscribe dropped meanwhile
        // (its client gone) takes back a stream it made live, which may be of a session that
        // ended between the caller's lookup and here.
        let live = self.hub.attach(id, stream, options.exclusive, shared).map_err(|_| SubscribeError::Busy)?;
        let live = live.map(Unconfirmed::new);
        let mut after = match from {
            Resume::After(event) => event.seq(),
            Resume::Undelivered => live.as_ref().map_or(0, |attachment| attachment.get().stream.delivered()),
        };
        let replay = loop {
            match self.store.replay(id, stream, after).await {
                Err(error) => {
                    drop(live);
                    if error == ReplayError::UnknownSession {
                        // The session ended while we attached: nothing of it may stay live.
                        self.hub.remove_session(id);
                    }
                    return Err(error.into());
                }
                // What an earlier process may have handed out is not sent again (see `Resume`).
                Ok(replay) if from == Resume::Undelivered && replay.maybe_delivered > after => {
                    after = replay.maybe_delivered;
                }
                Ok(replay) => break replay,
            }
        };
        let live = match live {
            // Nothing more comes to a finished stream: a stream this attach made live goes again.
            Some(unconfirmed) if replay.finished => {
                drop(unconfirmed);
                None
            }
            Some(unconfirmed) => {
                let attachment = unconfirmed.confirm();
                let newest = replay.events.last().map_or(after + replay.lost, |event| event.id().seq());
                attachment.me.raise_floor(newest);
                Some(attachment)
            }
            None => None,
        };
        Ok(Subscription::new(self.hub.clone(), id, stream, live, after, replay, options.init))
    }

    /// A doorbell: something appended to (or finished) the stream's log, maybe another process
    /// sharing the store. If a subscriber of the stream is attached here, reads the log after
    /// what it has and hands it the rest, in order, once; a finished log ends it. Nothing is
    /// attached: nothing to do (the log keeps the events for a resume). A store that cannot
    /// answer leaves the subscriber where it was: the next bell, or
    /// [`Sessions::resync`], reads again.
    pub async fn handle_doorbell(&self, id: SessionId, stream: StreamId) {
        let Some(after) = self.hub.fed(id, stream) else { return };
        match self.store.replay(id, stream, after).await {
            Ok(replay) => self.hub.feed(id, stream, after, replay),
            // Ended meanwhile: nothing of it may stay live.
            Err(ReplayError::UnknownSession) => self.hub.remove_session(id),
            // The log went (dropped to make room): the client reconnects and is told.
            Err(ReplayError::UnknownStream(_)) => {
                self.hub.disconnect(id, stream);
            }
            Err(ReplayError::Ahead(_) | ReplayError::Unavailable(_)) => {}
        }
    }

    /// Reads the log of every stream with a subscriber attached here, as a doorbell for each
    /// would: after doorbells may have been lost (a dropped connection to the bus).
    pub async fn resync(&self) {
        for (id, stream) in self.hub.attached() {
            self.handle_doorbell(id, stream).await;
        }
    }

    /// The streams produced by another process with a subscriber attached here (resumed here),
    /// for a check that their producer still lives.
    pub fn remote_streams(&self) -> Vec<(SessionId, StreamId)> {
        self.hub.remote_streams()
    }

    /// Ends what is live here of a session that ended elsewhere (another process deleted or
    /// expired it): its subscribers end. The store is not asked.
    pub(crate) fn end_live(&self, id: SessionId) {
        self.hub.remove_session(id);
    }

    /// Ends the current subscriber of a stream without ending the stream, so the client
    /// reconnects with `Last-Event-ID` (the spec's SSE polling). Returns whether one was attached.
    pub fn disconnect(&self, id: SessionId, stream: StreamId) -> bool {
        self.hub.disconnect(id, stream)
    }

    /// When the engine next needs [`Sessions::handle_timeout`]: the earliest session expiry,
    /// keep-alive, or activity change still to be told to the store (within a second of
    /// happening). `None` when nothing is scheduled.
    ///
    /// The value can move earlier after a call that creates a session or attaches a subscriber;
    /// [`Sessions::deadline_changed`] fires when it does. O(log n).
    #[must_use]
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.hub.arm_for_read();
        let sessions = self.store.next_deadline();
        let heartbeats = self.hub.next_heartbeat_or_tell();
        let next = match (sessions, heartbeats) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.hub.arm(next);
        next
    }

    /// Fires when a deadline earlier than the last [`Sessions::next_deadline`] answer appears.
    /// Listen before reading `next_deadline` so that no change is missed.
    pub fn deadline_changed(&self) -> EventListener {
        self.hub.deadline_changed()
    }

    /// Does the work that is due now: removes expired sessions (ending their streams) and marks
    /// due keep-alives. Returns the sessions that expired. Calling it early or twice does
    /// nothing.
    pub async fn handle_timeout(&self) -> Vec<SessionId> {
        self.tell_activity().await;
        let now = self.now();
        let expired = self.store.expire(now).await.unwrap_or_else(|StoreUnavailable| {
            // Lookups check deadlines themselves; the sweep only reclaims, and the next one will.
            tracing::warn!(target: "mcp_session::store", "store unavailable: expiry sweep skipped");
            Vec::new()
        });
        self.hub.counters.sessions_expired(expired.len() as u64);
        for &id in &expired {
            self.hub.remove_session(id);
        }
        self.hub.fire_heartbeats(now);
        expired
    }

    /// Sessions held now (expired ones are removed lazily, so call `handle_timeout` first for an
    /// exact count).
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// The engine's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.hub.counters.snapshot(self.store.len() as u64)
    }

    /// Marks the session busy until the returned guard drops: its idle timeout does not run
    /// meanwhile (when [`SessionsConfig::activity_holds`] is on). The HTTP engine holds a
    /// session for each call it runs; attached subscriptions hold it by themselves.
    pub fn hold(&self, id: SessionId) -> SessionHold {
        SessionHold(self.hub.hold(id))
    }

    /// Tells the store which sessions started or stopped being held since it last heard, in
    /// order. Runs before every decision the store makes on expiry (lookups, `handle_timeout`).
    async fn tell_activity(&self) {
        if !self.hub.has_untold() {
            // Nothing to tell; but if someone is telling now, wait for them, so that this
            // caller's decision sees what they tell.
            if let Some(_free) = self.telling.try_lock() {
                return;
            }
        }
        let _turn = self.telling.lock().await;
        // Whatever is not told yet goes back to the queue, in order, however this ends: the
        // store refusing, or the request this runs in being dropped mid-way. A hold the store
        // never heard of would let a busy session idle out, a release never heard of would keep
        // an idle one until its absolute timeout.
        let mut untold = Untold { hub: &self.hub, transitions: self.hub.take_transitions().into() };
        while let Some(&transition) = untold.transitions.front() {
            // A transition whose telling was dropped mid-way is told again: stores take a
            // repeat as the same news.
            if self.store.set_held(transition.session, transition.held, transition.at).await.is_err() {
                tracing::warn!(target: "mcp_session::store", session = %transition.session, held = transition.held, "store unavailable: activity told later");
                return;
            }
            untold.transitions.pop_front();
        }
    }

    /// What is live right now: sessions with streams or calls here, live streams, attached
    /// subscribers. For gauges and leak checks.
    pub fn census(&self) -> Census {
        let HubCensus { sessions, streams, subscribers, activity, heartbeats } = self.hub.census();
        Census {
            sessions: self.store.len(),
            live_sessions: sessions,
            live_streams: streams,
            subscribers,
            activity,
            heartbeats,
            retained_bytes: self.store.retained_bytes(),
        }
    }

    /// A count of sessions removed so far, to pass to [`Sessions::survived`].
    pub(crate) fn removals(&self) -> u64 {
        self.hub.removals()
    }

    /// Whether session `id`, looked up when [`Sessions::removals`] said `since`, still exists.
    /// Free unless some session was removed meanwhile; then the store is asked. What was
    /// registered for a request of a session that ended meanwhile must be undone, or nothing
    /// would ever end it; so must what was registered when the store cannot say (the request
    /// then fails with 503, and the session, if it lives, registers again on its next request).
    pub(crate) async fn survived(&self, id: SessionId, since: u64) -> Result<bool, StoreUnavailable> {
        if self.hub.removals() == since {
            return Ok(true);
        }
        match self.store.update(id, |_| {}).await {
            Ok(()) => Ok(true),
            Err(LookupError::Unavailable(unavailable)) => Err(unavailable),
            Err(_) => Ok(false),
        }
    }

    /// Whether anything of `id` is live in this process (streams, subscribers, holds).
    pub fn is_live(&self, id: SessionId) -> bool {
        self.hub.knows(id)
    }

    /// The sessions with anything live in this process.
    pub(crate) fn live_sessions(&self) -> Vec<SessionId> {
        self.hub.live_sessions()
    }

    /// The keep-alive interval of attached streams.
    pub(crate) fn keep_alive(&self) -> Option<Duration> {
        self.hub.keep_alive()
    }

    /// Wakes a host waiting on [`Sessions::deadline_changed`].
    pub(crate) fn wake_host(&self) {
        self.hub.wake_host();
    }
}

/// Keeps a session busy while it lives; see [`Sessions::hold`].
#[must_use = "the session is held only while the guard lives"]
pub struct SessionHold(#[allow(dead_code)] Hold);

impl fmt::Debug for SessionHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionHold")
    }
}

/// What the engine holds right now (see [`Sessions::census`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Census {
    /// Sessions in the store.
    pub sessions: usize,
    /// Sessions with something live in this process (streams, subscribers, running calls).
    pub live_sessions: usize,
    /// Streams that can take a subscriber here (standalone streams used so far, request streams
    /// not yet finished).
    pub live_streams: usize,
    /// Subscribers attached now.
    pub subscribers: usize,
    /// Attached subscribers plus running calls, over all sessions.
    pub activity: u64,
    /// Subscribers with a keep-alive scheduled.
    pub heartbeats: usize,
    /// Bytes of retained events in this process (see [`Store::retained_bytes`]).
    pub retained_bytes: usize,
}

/// The activity transitions one [`Sessions::tell_activity`] took and has not told yet: put back
/// at the head of the queue when it ends, so that they are told in order on the next try.
struct Untold<'a> {
    hub: &'a Hub,
    transitions: std::collections::VecDeque<Transition>,
}

impl Drop for Untold<'_> {
    fn drop(&mut self) {
        // The first was being told: whatever stopped it, the store may have taken it.
        if let Some(first) = self.transitions.front_mut() {
            first.sent = true;
        }
        self.hub.requeue_transitions(std::mem::take(&mut self.transitions).into());
    }
}
