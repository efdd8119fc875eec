//! A subscription that cannot be completed leaves nothing live behind.
//!
//! Regression: attaching made the standalone stream live before the log was read; when the read
//! failed (the session ended meanwhile, or the position is ahead of the stream), or never
//! finished because the request went (its client hung up while a remote store answered), the
//! live entry stayed for good. The same for a call's stream opened as its session ended.
//!
//! Invariant 8 of the crate docs (nothing left of an ended session).

mod common;

use std::rc::Rc;
use std::sync::Arc;

use common::*;
use futures::FutureExt;
use mcp_session::session::{ReplayError, StorePolicy};
use mcp_session::{EventId, Resume, Sessions, SessionsConfig, StreamId, SubscribeError, SubscribeOptions};

on_every_runtime! {
    async fn a_session_ended_during_the_subscribe_leaves_nothing_live() {
        // The session ends while the subscription reads its log: the moment a DELETE on another
        // connection can land.
        let clock = clock();
        let config = SessionsConfig::default().ids(mcp_session::SessionIdGenerator::seeded(3));
        let sessions = Rc::new(Sessions::with_store(HookedStore::new(StorePolicy::default()), Arc::new(clock.clone()), config));
        let id = used(&*sessions, owner("t")).await;
        let remover = Rc::downgrade(&sessions);
        *sessions.store().before_replay.borrow_mut() = Some(Box::new(move || {
            let sessions = remover.upgrade().expect("alive");
            assert_eq!(sessions.remove(id).now_or_never(), Some(Ok(true)), "the memory store never waits");
        }));
        let refused = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await;
        assert_eq!(refused.unwrap_err(), SubscribeError::Replay(ReplayError::UnknownSession));
        assert!(!sessions.is_live(id), "nothing of the ended session is left live");
        let census = sessions.census();
        assert_eq!((census.live_sessions, census.live_streams, census.subscribers, census.activity), (0, 0, 0, 0));
    }

    async fn a_subscribe_dropped_while_an_ended_session_s_log_is_read_leaves_nothing_live() {
        // The session ends between the GET's lookup and its attach, and the client hangs up
        // while the store's reply to the log read is on its way: nothing would end the
        // standalone stream the attach made live, the session's removal being already past.
        let clock = clock();
        let config = SessionsConfig::default().ids(mcp_session::SessionIdGenerator::seeded(4));
        let sessions = Rc::new(Sessions::with_store(HookedStore::new(StorePolicy::default()), Arc::new(clock.clone()), config));
        let id = used(&*sessions, owner("t")).await;
        // Ended after the lookup, which the caller (the GET) made before subscribing.
        assert!(sessions.remove(id).await.unwrap());
        sessions.store().stall_replay.set(true);
        let subscribe = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default());
        assert!(subscribe.now_or_never().is_none(), "the log read never answers");
        assert!(!sessions.is_live(id), "the dropped subscribe took back the stream it made live");
        let census = sessions.census();
        assert_eq!((census.live_sessions, census.live_streams, census.subscribers, census.activity), (0, 0, 0, 0));
    }

    async fn a_request_stream_dropped_while_its_session_s_end_is_checked_leaves_nothing_live() {
        // The session ends while the store opens a call's stream (another replica's DELETE),
        // and the call goes (its client hung up) while the store is asked whether the session
        // survived.
        let clock = clock();
        let config = SessionsConfig::default().ids(mcp_session::SessionIdGenerator::seeded(5));
        let sessions = Rc::new(Sessions::with_store(HookedStore::new(StorePolicy::default()), Arc::new(clock.clone()), config));
        let id = used(&*sessions, owner("t")).await;
        let remover = Rc::downgrade(&sessions);
        *sessions.store().after_open_stream.borrow_mut() = Some(Box::new(move || {
            let sessions = remover.upgrade().expect("alive");
            assert_eq!(sessions.remove(id).now_or_never(), Some(Ok(true)), "the memory store never waits");
        }));
        sessions.store().stall_replay.set(true);
        assert!(sessions.open_stream(id, false).now_or_never().is_none(), "the check never answers");
        assert!(!sessions.is_live(id), "the dropped open took back the stream it made live");
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
        sessions.remove(id).await.unwrap();
        assert!(!sessions.is_live(id));
    }
}
