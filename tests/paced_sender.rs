//! A sender paced by its reader (`Sessions::send`) is judged by the subscriber attached now and
//! woken whenever that may have changed: a reader replaced by a resume, any reader leaving.
//!
//! Regression: a replaced reader that the client had abandoned (neither read nor dropped) still
//! counted towards "full", and leaving woke senders only if the leaver was the current reader,
//! so a handler stayed parked until its session ended.
//!
//! Invariant 8 of the crate docs (paced senders).

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;

/// A waker that remembers being woken.
#[derive(Default)]
struct Woken(AtomicBool);

impl futures::task::ArcWake for Woken {
    fn wake_by_ref(this: &std::sync::Arc<Self>) {
        this.0.store(true, Ordering::SeqCst);
    }
}
use futures::{FutureExt, StreamExt};
use mcp_session::{EventId, Resume, StreamId, SubscribeOptions};

on_every_runtime! {
    async fn a_resume_wakes_a_sender_parked_by_the_replaced_reader() {
        let clock = clock();
        let sessions = builder(&clock).replay_capacity(4).build::<()>();
        let id = used(&sessions, owner("t")).await;
        let abandoned = sessions.open_stream(id, false).await.unwrap();
        let stream = abandoned.stream();
        let mut produce = Box::pin(async {
            for n in 1..=20 {
                sessions.send(id, stream, msg(n)).await.unwrap();
            }
            sessions.finish(id, stream).await.unwrap();
        });
        assert!(futures::poll!(&mut produce).is_pending(), "four sent, then the window is full");

        // The client resumes on a new connection; the old one is neither read nor dropped.
        let from = EventId::message(stream, 2);
        let mut resumed = sessions.subscribe(id, stream, Resume::After(from), SubscribeOptions::default()).await.unwrap();
        let mut seen = Vec::new();
        let mut done = false;
        loop {
            done = done || futures::poll!(&mut produce).is_ready();
            let items = drain(&mut resumed);
            assert!(items.iter().all(|i| n_of(i).is_some()), "paced: nothing lost, {items:?}");
            seen.extend(items.iter().filter_map(n_of));
            if done && items.is_empty() {
                break;
            }
            assert!(seen.len() <= 20, "the loop ends");
        }
        assert_eq!(seen, (3..=20).collect::<Vec<_>>());
        assert!(has_ended(&mut resumed));
        drop(abandoned);
    }

    async fn a_reader_leaving_wakes_the_sender_even_if_it_was_not_current() {
        let clock = clock();
        let sessions = builder(&clock).replay_capacity(4).build::<()>();
        let id = used(&sessions, owner("t")).await;
        let first = sessions.open_stream(id, false).await.unwrap();
        let stream = first.stream();
        let mut produce = Box::pin(async {
            for n in 1..=10 {
                sessions.send(id, stream, msg(n)).await.unwrap();
            }
        });
        assert!(futures::poll!(&mut produce).is_pending());
        let second = sessions.subscribe(id, stream, Resume::After(EventId::message(stream, 0)), SubscribeOptions::default()).await.unwrap();
        assert!(futures::poll!(&mut produce).is_pending(), "the new reader's window fills too");
        drop(first); // not current: its leaving must still wake the sender, which re-judges
        assert!(futures::poll!(&mut produce).is_pending(), "the current reader is still full");
        drop(second); // nobody reads now: sends go to the log without waiting
        assert!(futures::poll!(&mut produce).is_ready());
        let mut later = sessions.subscribe(id, stream, Resume::After(EventId::message(stream, 6)), SubscribeOptions::default()).await.unwrap();
        assert_eq!(drain(&mut later).iter().filter_map(n_of).collect::<Vec<_>>(), vec![7, 8, 9, 10]);
    }

    async fn a_kicked_reader_never_holds_a_sender_back() {
        let clock = clock();
        let sessions = builder(&clock).replay_capacity(2).build::<()>();
        let id = used(&sessions, owner("t")).await;
        let mut post = sessions.open_stream(id, false).await.unwrap();
        let stream = post.stream();
        for n in 1..=2 {
            sessions.send(id, stream, msg(n)).await.unwrap();
        }
        assert!(sessions.send(id, stream, msg(3)).now_or_never().is_none(), "full");
        assert!(sessions.disconnect(id, stream), "the server ends the connection (SSE polling)");
        assert!(sessions.send(id, stream, msg(3)).now_or_never().is_some(), "a kicked reader counts for nothing");
        assert!(post.next().now_or_never() == Some(None), "and it ends");
    }

    async fn events_the_replay_covered_free_their_room_when_skipped() {
        use std::rc::Rc;
        use mcp_session::session::StorePolicy;
        use mcp_session::{Sessions, SessionsConfig};

        // Regression (found by the simulation): events published while a subscriber connected
        // reach both its window and its replay; taking the window's copies (skipped, already
        // yielded) freed room without waking the sender waiting for it.
        let clock = clock();
        let mut policy = StorePolicy::default();
        policy.log.events = 2;
        let config = SessionsConfig::default().ids(mcp_session::SessionIdGenerator::seeded(5));
        let sessions = Rc::new(Sessions::with_store(HookedStore::new(policy), std::sync::Arc::new(clock.clone()), config));
        let id = used(&*sessions, owner("t")).await;
        let post = sessions.open_stream(id, false).await.unwrap();
        let stream = post.stream();
        drop(post);
        sessions.publish(id, stream, msg(1)).await.unwrap();
        let racer = Rc::downgrade(&sessions);
        *sessions.store().before_replay.borrow_mut() = Some(Box::new(move || {
            let sessions = racer.upgrade().expect("alive");
            for n in 2..=3 {
                sessions.publish(id, stream, msg(n)).now_or_never().expect("the memory store never waits").unwrap();
            }
        }));
        let mut resumed = sessions.subscribe(id, stream, Resume::After(EventId::message(stream, 0)), SubscribeOptions::default()).await.unwrap();
        let mut send = Box::pin(sessions.send(id, stream, msg(4)));
        let woken = std::sync::Arc::new(Woken::default());
        let waker = futures::task::waker(woken.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        // The replay comes first (the lagged notice, 2, 3); the window still holds its own copies.
        let mut first = Vec::new();
        for _ in 0..3 {
            first.push(resumed.next().now_or_never().flatten().expect("a replayed item"));
        }
        assert!(send.as_mut().poll(&mut cx).is_pending(), "the window's copies of 2 and 3 fill it");
        // Taking the copies (skipped: already yielded) frees the room: the sender must hear of it.
        first.extend(drain(&mut resumed));
        assert!(woken.0.swap(false, Ordering::SeqCst), "the sender was never woken");
        assert!(send.as_mut().poll(&mut cx).is_ready());
        first.extend(drain(&mut resumed));
        let items: Vec<_> = first.into_iter().chain(drain(&mut resumed)).collect();
        assert_eq!(items[0], mcp_session::StreamItem::Lagged { dropped: 1 });
        assert_eq!(items[1..].iter().filter_map(n_of).collect::<Vec<_>>(), vec![2, 3, 4]);
    }

    async fn a_resume_with_nothing_to_replay_still_wakes_the_parked_sender() {
        // The sender waits on a reader the client abandoned; the events in that reader's window
        // are no longer in the log (another session's traffic pushed them out of the shared
        // budget), so the resume replays nothing and yields no event that could wake anyone.
        // Only the replacement itself can tell the sender to look again.
        let clock = clock();
        let cost = mcp_session::stream::event_cost(msg(1).len());
        let sessions = builder(&clock).replay_capacity(2).retained_bytes(2 * cost).build::<()>();
        let id = used(&sessions, owner("t")).await;
        let other = used(&sessions, owner("t")).await;
        let abandoned = sessions.open_stream(id, false).await.unwrap();
        let stream = abandoned.stream();
        let mut send = Box::pin(async {
            for n in 1..=3 {
                sessions.send(id, stream, msg(n)).await.unwrap();
            }
        });
        let woken = std::sync::Arc::new(Woken::default());
        let waker = futures::task::waker(woken.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(send.as_mut().poll(&mut cx).is_pending(), "1 and 2 fill the abandoned reader's window");
        for n in 10..12 {
            sessions.publish(other, StreamId::STANDALONE, msg(n)).await.unwrap();
        }
        let from = EventId::message(stream, 0);
        let mut resumed = sessions.subscribe(id, stream, Resume::After(from), SubscribeOptions::default()).await.unwrap();
        assert_eq!(drain(&mut resumed), vec![mcp_session::StreamItem::Lagged { dropped: 2 }]);
        assert!(woken.0.swap(false, Ordering::SeqCst), "the replacement woke the sender");
        assert!(send.as_mut().poll(&mut cx).is_ready());
        assert_eq!(drain(&mut resumed).iter().filter_map(n_of).collect::<Vec<_>>(), vec![3]);
        drop(abandoned);
    }
}
