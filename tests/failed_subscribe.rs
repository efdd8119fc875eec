//! A subscription that cannot be completed leaves nothing live behind.
//!
//! Regression: attaching made the standalone stream live before the log was read; when the read
//! failed (the session ended meanwhile, or the position is ahead of the stream) the live entry
//! stayed for good.
//!
//! Invariant 8 of the crate docs (nothing left of an ended session).

mod common;

use std::cell::{Cell, OnceCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use mcp_session::session::{
    CreateError, LookupError, MemoryStore, ReplayError, SessionRecord, Store, StorePolicy, StreamError,
};
use mcp_session::stream::{Event, LogLimits, Replay};
use mcp_session::{
    EventId, Owner, Resume, SessionId, Sessions, SessionsConfig, StreamId, SubscribeError, SubscribeOptions, TenantId,
    Timestamp,
};

/// A store that ends the session while a subscription reads its log: the moment a DELETE on
/// another connection can land.
struct EndingStore {
    inner: MemoryStore<()>,
    engine: OnceCell<Weak<Sessions<(), EndingStore>>>,
    end_during_replay: Cell<bool>,
}

impl Store<()> for EndingStore {
    async fn create(&self, record: SessionRecord<()>) -> Result<(), CreateError> {
        self.inner.create(record).await
    }
    async fn lookup(&self, id: SessionId, owner: &Owner, now: Timestamp) -> Result<SessionRecord<()>, LookupError> {
        self.inner.lookup(id, owner, now).await
    }
    async fn update<F: FnOnce(&mut ())>(&self, id: SessionId, change: F) -> Result<(), LookupError> {
        self.inner.update(id, change).await
    }
    async fn remove(&self, id: SessionId) -> bool {
        self.inner.remove(id).await
    }
    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError> {
        self.inner.open_stream(id).await
    }
    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<Event, StreamError> {
        self.inner.append(id, stream, payload).await
    }
    async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError> {
        self.inner.finish(id, stream).await
    }
    async fn replay(&self, id: SessionId, stream: StreamId, after: u64) -> Result<Replay, ReplayError> {
        if self.end_during_replay.replace(false) {
            let engine = self.engine.get().and_then(Weak::upgrade).expect("engine set");
            assert!(engine.remove(id).await);
        }
        self.inner.replay(id, stream, after).await
    }
    async fn set_held(&self, id: SessionId, held: bool, at: Timestamp) {
        self.inner.set_held(id, held, at).await
    }
    async fn expire(&self, now: Timestamp) -> Vec<SessionId> {
        self.inner.expire(now).await
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        self.inner.next_deadline()
    }
    async fn sessions_of(&self, tenant: &TenantId) -> Vec<(SessionId, ())> {
        self.inner.sessions_of(tenant).await
    }
    fn log_limits(&self) -> LogLimits {
        self.inner.log_limits()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
}

on_every_runtime! {
    async fn a_session_ended_during_the_subscribe_leaves_nothing_live() {
        let clock = clock();
        let store = EndingStore {
            inner: MemoryStore::new(StorePolicy::default()),
            engine: OnceCell::new(),
            end_during_replay: Cell::new(false),
        };
        let config = SessionsConfig { ids: mcp_session::SessionIdGenerator::seeded(3), ..SessionsConfig::default() };
        let sessions = Rc::new(Sessions::with_store(store, Arc::new(clock.clone()), config));
        sessions.store().engine.set(Rc::downgrade(&sessions)).ok();
        let id = used(&*sessions, owner("t")).await;

        sessions.store().end_during_replay.set(true);
        let refused = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await;
        assert_eq!(refused.unwrap_err(), SubscribeError::Replay(ReplayError::UnknownSession));
        assert!(!sessions.is_live(id), "nothing of the ended session is left live");
        let census = sessions.census();
        assert_eq!((census.live_sessions, census.live_streams, census.subscribers, census.activity), (0, 0, 0, 0));
    }

    async fn a_resume_ahead_of_the_stream_leaves_nothing_live() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let ahead = EventId::message(StreamId::STANDALONE, 5);
        let refused = sessions.subscribe(id, StreamId::STANDALONE, Resume::After(ahead), SubscribeOptions::default()).await;
        assert!(matches!(refused, Err(SubscribeError::Replay(ReplayError::Ahead(_)))));
        assert!(!sessions.is_live(id), "the failed attach made the stream live and took it back");
        // A stream that was live before stays live (its delivery watermark matters).
        let get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        drop(get);
        assert!(sessions.subscribe(id, StreamId::STANDALONE, Resume::After(ahead), SubscribeOptions::default()).await.is_err());
        assert_eq!(sessions.census().live_streams, 1);
        assert_eq!(sessions.census().subscribers, 0);
        sessions.remove(id).await;
        assert!(!sessions.is_live(id));
    }
}
