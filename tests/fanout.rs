//! Live delivery: exact lag counts, pacing a fast producer, one subscriber per stream, and
//! subscribe-then-snapshot with nothing seen twice or never.
//!
//! Invariants 1 and 2 (exact lag counts; bounded live windows).

mod common;

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use futures::{FutureExt, StreamExt};
use mcp_session::session::StorePolicy;
use mcp_session::{Resume, Sessions, SessionsConfig, StreamId, StreamItem, SubscribeError, SubscribeOptions};

fn events(items: &[StreamItem]) -> Vec<u64> {
    items.iter().filter_map(n_of).collect()
}

on_every_runtime! {
    async fn a_slow_subscriber_lags_with_the_exact_count_then_continues() {
        let clock = clock();
        let sessions = builder(&clock).replay_capacity(8).build::<()>();
        let id = used(&sessions, owner("t")).await;
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        for n in 1..=20 {
            sessions.publish(id, StreamId::STANDALONE, msg(n)).await.unwrap();
        }
        let items = drain(&mut get);
        assert_eq!(items[0], StreamItem::Lagged { dropped: 12 });
        assert_eq!(events(&items[1..]), (13..=20).collect::<Vec<_>>());
        sessions.publish(id, StreamId::STANDALONE, msg(21)).await.unwrap();
        assert_eq!(events(&drain(&mut get)), vec![21]);
        let metrics = sessions.metrics();
        assert_eq!((metrics.subscribers_lagged, metrics.events_reported_lost), (1, 12));
    }

    async fn the_live_window_grows_to_the_replay_capacity_before_anyone_lags() {
        let clock = clock();
        let sessions = engine(&clock); // default capacity 256
        let id = used(&sessions, owner("t")).await;
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        for n in 1..=256 {
            sessions.publish(id, StreamId::STANDALONE, msg(n)).await.unwrap();
        }
        assert_eq!(events(&drain(&mut get)), (1..=256).collect::<Vec<_>>(), "256 fit without loss");
        for n in 257..=600 {
            sessions.publish(id, StreamId::STANDALONE, msg(n)).await.unwrap();
        }
        let items = drain(&mut get);
        assert_eq!(items[0], StreamItem::Lagged { dropped: 600 - 256 - 256 });
        assert_eq!(events(&items[1..]), (345..=600).collect::<Vec<_>>());
    }

    async fn send_waits_for_a_full_subscriber_and_never_loses() {
        let clock = clock();
        let sessions = builder(&clock).replay_capacity(4).build::<()>();
        let id = used(&sessions, owner("t")).await;
        let mut post = sessions.open_stream(id, false).await.unwrap();
        let stream = post.stream();
        for n in 1..=4 {
            sessions.send(id, stream, msg(n)).await.unwrap();
        }
        assert!(sessions.send(id, stream, msg(5)).now_or_never().is_none(), "a full window makes send wait");
        let produce = async {
            for n in 5..=50 {
                sessions.send(id, stream, msg(n)).await.unwrap();
            }
            sessions.finish(id, stream).await.unwrap();
        };
        let consume = async {
            let mut seen = Vec::new();
            while let Some(item) = post.next().await {
                assert!(!matches!(item, StreamItem::Lagged { .. }), "paced, never lagged");
                seen.extend(n_of(&item));
            }
            seen
        };
        let ((), seen) = futures::join!(produce, consume);
        assert_eq!(seen, (1..=50).collect::<Vec<_>>());
    }

    async fn a_loss_reported_by_the_replay_is_not_reported_again_live() {
        // Regression (found by the simulation): everything after the resume position was dropped
        // from the log, the replay said so, and the next live event reported the gap again.
        let clock = clock();
        let small = mcp_session::stream::event_cost(msg(1).len());
        let sessions = builder(&clock).max_stream_bytes(2 * small).build::<()>();
        let id = used(&sessions, owner("t")).await;
        let post = sessions.open_stream(id, false).await.unwrap();
        let stream = post.stream();
        drop(post);
        sessions.publish(id, stream, msg(1)).await.unwrap();
        let huge = Bytes::from(format!(r#"{{"n":2,"pad":"{}"}}"#, "x".repeat(4 * small)));
        sessions.publish(id, stream, huge).await.unwrap(); // too big to keep: the log is now empty
        let from = mcp_session::EventId::message(stream, 0);
        let mut resumed = sessions.subscribe(id, stream, Resume::After(from), SubscribeOptions::default()).await.unwrap();
        sessions.publish(id, stream, msg(3)).await.unwrap();
        let items = drain(&mut resumed);
        assert_eq!(items, vec![StreamItem::Lagged { dropped: 2 }, items[1].clone()], "{items:?}");
        assert_eq!(events(&items[1..]), vec![3], "then the live event, with no second notice");
    }

    async fn send_does_not_wait_when_nobody_listens() {
        let clock = clock();
        let sessions = builder(&clock).replay_capacity(4).build::<()>();
        let id = used(&sessions, owner("t")).await;
        let post = sessions.open_stream(id, false).await.unwrap();
        let stream = post.stream();
        drop(post);
        for n in 1..=10 {
            assert!(sessions.send(id, stream, msg(n)).now_or_never().is_some(), "event {n}");
        }
        let mut resumed = sessions.subscribe(id, stream, Resume::After(mcp_session::EventId::message(stream, 0)), SubscribeOptions::default()).await.unwrap();
        let items = drain(&mut resumed);
        assert_eq!(items[0], StreamItem::Lagged { dropped: 6 });
        assert_eq!(events(&items[1..]), vec![7, 8, 9, 10]);
    }

    async fn a_second_subscriber_takes_over_or_is_refused_when_exclusive() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let exclusive = SubscribeOptions { init: false, exclusive: true };
        let mut first = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, exclusive).await.unwrap();
        let refused = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, exclusive).await;
        assert_eq!(refused.unwrap_err(), SubscribeError::Busy);
        assert!(!has_ended(&mut first));
        let mut second = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        assert!(has_ended(&mut first), "replaced");
        sessions.publish(id, StreamId::STANDALONE, msg(1)).await.unwrap();
        assert_eq!(events(&drain(&mut second)), vec![1]);
        drop(second);
        assert!(sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, exclusive).await.is_ok(), "free again");
    }

    async fn disconnect_ends_the_connection_but_not_the_stream() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let mut post = sessions.open_stream(id, true).await.unwrap();
        let stream = post.stream();
        let init = drain(&mut post)[0].id().unwrap();
        assert!(sessions.disconnect(id, stream));
        assert!(has_ended(&mut post));
        sessions.send(id, stream, msg(1)).await.unwrap();
        sessions.finish(id, stream).await.unwrap();
        let mut resumed = sessions.subscribe(id, stream, Resume::After(init), SubscribeOptions::default()).await.unwrap();
        assert_eq!(events(&drain(&mut resumed)), vec![1]);
        assert!(has_ended(&mut resumed));
    }

    async fn ending_a_session_ends_its_subscribers() {
        let clock = clock();
        let sessions = engine(&clock);
        let deleted = used(&sessions, owner("t")).await;
        let expired = used(&sessions, owner("t")).await;
        let mut a = sessions.subscribe(deleted, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        let mut b = sessions.open_stream(expired, false).await.unwrap();
        sessions.remove(deleted).await.unwrap();
        assert!(has_ended(&mut a));
        assert!(!has_ended(&mut b));
        // The attached stream holds its session, so it takes the absolute timeout to end it.
        clock.advance(std::time::Duration::from_secs(30 * 60));
        sessions.handle_timeout().await;
        assert!(!has_ended(&mut b));
        clock.advance(std::time::Duration::from_secs(4 * 3600));
        sessions.handle_timeout().await;
        assert!(has_ended(&mut b));
    }

    async fn an_event_published_during_the_connect_is_seen_exactly_once() {
        // The moment between "attached to the live stream" and "read the log" that
        // subscribe-then-snapshot exists for: one more event lands in the middle.
        let clock = clock();
        let config = SessionsConfig::default().ids(mcp_session::SessionIdGenerator::seeded(1));
        let store = HookedStore::new(StorePolicy::default());
        let sessions = Rc::new(Sessions::with_store(store, Arc::new(clock.clone()), config));
        let id = used(&*sessions, owner("t")).await;

        sessions.publish(id, StreamId::STANDALONE, msg(1)).await.unwrap(); // before: log only
        let racer = Rc::downgrade(&sessions);
        *sessions.store().before_replay.borrow_mut() = Some(Box::new(move || {
            let sessions = racer.upgrade().expect("alive");
            let published = sessions.publish(id, StreamId::STANDALONE, msg(2)).now_or_never(); // during: both
            published.expect("the memory store never waits").unwrap();
        }));
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        sessions.publish(id, StreamId::STANDALONE, msg(3)).await.unwrap(); // after: live only
        assert_eq!(events(&drain(&mut get)), vec![1, 2, 3]);
    }
}
