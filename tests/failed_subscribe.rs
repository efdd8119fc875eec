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
use mcp_session::{EventId, Resume, SessionId, Sessions, SessionsConfig, StreamId, SubscribeError, SubscribeOptions};

type Hooked = Rc<Sessions<(), HookedStore>>;

/// Sessions over a [`HookedStore`], with ids drawn from `seed`.
fn hooked(seed: u64) -> Hooked {
    let config = SessionsConfig::default().ids(mcp_session::SessionIdGenerator::seeded(seed));
    Rc::new(Sessions::with_store(HookedStore::new(StorePolicy::default()), Arc::new(clock()), config))
}

/// A store hook that ends session `id`, as a DELETE on another connection landing then would.
fn removal(sessions: &Hooked, id: SessionId) -> Option<Box<dyn FnOnce()>> {
    let remover = Rc::downgrade(sessions);
    Some(Box::new(move || {
        let sessions = remover.upgrade().expect("alive");
        assert_eq!(sessions.remove(id).now_or_never(), Some(Ok(true)), "the memory store never waits");
    }))
}

/// Nothing of session `id` is live, and nothing at all is.
fn assert_nothing_live(sessions: &Hooked, id: SessionId, why: &str) {
    assert!(!sessions.is_live(id), "{why}");
    let census = sessions.census();
    assert_eq!((census.live_sessions, census.live_streams, census.subscribers, census.activity), (0, 0, 0, 0));
}

on_every_runtime! {
    async fn a_session_ended_during_the_subscribe_leaves_nothing_live() {
        // The session ends while the subscription reads its log: the moment a DELETE on another
        // connection can land.
        let sessions = hooked(3);
        let id = used(&*sessions, owner("t")).await;
        *sessions.store().before_replay.borrow_mut() = removal(&sessions, id);
        let refused = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await;
        assert_eq!(refused.unwrap_err(), SubscribeError::Replay(ReplayError::UnknownSession));
        assert_nothing_live(&sessions, id, "nothing of the ended session is left live");
    }

    async fn a_subscribe_dropped_while_an_ended_session_s_log_is_read_leaves_nothing_live() {
        // The session ends between the GET's lookup and its attach, and the client hangs up
        // while the store's reply to the log read is on its way: nothing would end the
        // standalone stream the attach made live, the session's removal being already past.
        let sessions = hooked(4);
        let id = used(&*sessions, owner("t")).await;
        // Ended after the lookup, which the caller (the GET) made before subscribing.
        assert!(sessions.remove(id).await.unwrap());
        sessions.store().stall_replay.set(true);
        let subscribe = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default());
        assert!(subscribe.now_or_never().is_none(), "the log read never answers");
        assert_nothing_live(&sessions, id, "the dropped subscribe took back the stream it made live");
    }

    async fn a_request_stream_dropped_while_its_session_s_end_is_checked_leaves_nothing_live() {
        // The session ends while the store opens a call's stream (another replica's DELETE),
        // and the call goes (its client hung up) while the store is asked whether the session
        // survived.
        let sessions = hooked(5);
        let id = used(&*sessions, owner("t")).await;
        *sessions.store().after_open_stream.borrow_mut() = removal(&sessions, id);
        sessions.store().stall_replay.set(true);
        assert!(sessions.open_stream(id, false).now_or_never().is_none(), "the check never answers");
        assert_nothing_live(&sessions, id, "the dropped open took back the stream it made live");
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
