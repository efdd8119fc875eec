//! `Last-Event-ID` replay: every resume position, eviction with exact loss counts, stream
//! isolation, finished streams, and the resume of a call still running.
//!
//! Invariant 1 of the crate docs (exact resumes, counted losses).

mod common;

use common::*;
use mcp_session::session::ReplayError;
use mcp_session::stream::AheadOfStream;
use mcp_session::{EventId, Resume, StreamId, StreamItem, SubscribeError, SubscribeOptions};

fn events(items: &[StreamItem]) -> Vec<u64> {
    items.iter().filter_map(n_of).collect()
}

on_every_runtime! {
    async fn resume_at_every_position_of_the_buffer() {
        let clock = clock();
        let sessions = builder(&clock).replay_capacity(8).build::<()>();
        let id = used(&sessions, owner("t")).await;
        for n in 1..=20 {
            sessions.publish(id, StreamId::STANDALONE, msg(n)).await.unwrap();
        }
        // retained: 13..=20
        for position in 0..=20u64 {
            let from = Resume::After(EventId::message(StreamId::STANDALONE, position));
            let mut sub = sessions.subscribe(id, StreamId::STANDALONE, from, SubscribeOptions::default()).await.unwrap();
            let items = drain(&mut sub);
            let lost = 12u64.saturating_sub(position);
            let expected: Vec<u64> = (position.max(12) + 1..=20).collect();
            if lost > 0 {
                assert_eq!(items[0], StreamItem::Lagged { dropped: lost }, "position {position}");
                assert_eq!(events(&items[1..]), expected, "position {position}");
            } else {
                assert_eq!(events(&items), expected, "position {position}");
                assert_eq!(items.len(), expected.len(), "position {position}: nothing but events");
            }
            // live events continue right after the replay
            drop(sub);
        }
        assert_eq!(sessions.metrics().events_reported_lost, (1..=12).sum::<u64>());
    }

    async fn init_comes_first_and_resuming_from_it_replays_everything_after() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        sessions.publish(id, StreamId::STANDALONE, msg(1)).await.unwrap();
        let options = SubscribeOptions { init: true, exclusive: false };
        let mut sub = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, options).await.unwrap();
        let items = drain(&mut sub);
        let StreamItem::Init(init) = items[0] else { panic!("{items:?}") };
        assert_eq!((init.seq(), events(&items[1..])), (0, vec![1]));
        drop(sub);
        let mut again = sessions.subscribe(id, StreamId::STANDALONE, Resume::After(init), SubscribeOptions::default()).await.unwrap();
        assert_eq!(events(&drain(&mut again)), vec![1]);
    }

    async fn a_resume_never_sees_another_streams_events() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let a = sessions.open_stream(id, false).await.unwrap();
        let b = sessions.open_stream(id, false).await.unwrap();
        let (sa, sb) = (a.stream(), b.stream());
        drop((a, b));
        for n in 1..=3 {
            sessions.publish(id, sa, msg(100 + n)).await.unwrap();
            sessions.publish(id, sb, msg(200 + n)).await.unwrap();
            sessions.publish(id, StreamId::STANDALONE, msg(n)).await.unwrap();
        }
        let resume = |stream| Resume::After(EventId::message(stream, 1));
        let mut ra = sessions.subscribe(id, sa, resume(sa), SubscribeOptions::default()).await.unwrap();
        let mut rb = sessions.subscribe(id, sb, resume(sb), SubscribeOptions::default()).await.unwrap();
        let mut rg = sessions.subscribe(id, StreamId::STANDALONE, resume(StreamId::STANDALONE), SubscribeOptions::default()).await.unwrap();
        assert_eq!(events(&drain(&mut ra)), vec![102, 103]);
        assert_eq!(events(&drain(&mut rb)), vec![202, 203]);
        assert_eq!(events(&drain(&mut rg)), vec![2, 3]);
        // and live events stay on their own stream
        sessions.publish(id, sa, msg(104)).await.unwrap();
        let live = drain(&mut ra);
        assert_eq!(events(&live), vec![104]);
        assert!(drain(&mut rb).is_empty() && drain(&mut rg).is_empty());
        // event ids name their stream
        assert_eq!(live[0].id(), Some(EventId::message(sa, 4)));
    }

    async fn a_finished_stream_replays_its_tail_then_ends() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let mut post = sessions.open_stream(id, false).await.unwrap();
        let stream = post.stream();
        for n in 1..=5 {
            sessions.send(id, stream, msg(n)).await.unwrap();
        }
        assert_eq!(events(&drain(&mut post)[..2]), vec![1, 2]);
        drop(post); // the client's connection dropped after event 2
        sessions.finish(id, stream).await.unwrap();
        let from = Resume::After(EventId::message(stream, 2));
        let mut resumed = sessions.subscribe(id, stream, from, SubscribeOptions::default()).await.unwrap();
        assert_eq!(events(&drain(&mut resumed)), vec![3, 4, 5]);
        assert!(has_ended(&mut resumed));
    }

    async fn resuming_a_call_still_running_loses_and_duplicates_nothing() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let mut post = sessions.open_stream(id, true).await.unwrap();
        let stream = post.stream();
        let mut seen = Vec::new();
        let mut last = None;
        for n in 1..=4 {
            sessions.send(id, stream, msg(n)).await.unwrap();
        }
        for item in drain(&mut post) {
            last = item.id().or(last);
            seen.extend(n_of(&item));
        }
        drop(post);
        for n in 5..=7 {
            sessions.send(id, stream, msg(n)).await.unwrap();
        }
        let mut resumed = sessions.subscribe(id, stream, Resume::After(last.unwrap()), SubscribeOptions::default()).await.unwrap();
        seen.extend(events(&drain(&mut resumed)));
        for n in 8..=9 {
            sessions.send(id, stream, msg(n)).await.unwrap();
        }
        sessions.finish(id, stream).await.unwrap();
        seen.extend(events(&drain(&mut resumed)));
        assert!(has_ended(&mut resumed));
        assert_eq!(seen, (1..=9).collect::<Vec<_>>());
    }

    async fn a_new_connection_without_last_event_id_gets_only_what_nobody_received() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        sessions.publish(id, StreamId::STANDALONE, msg(1)).await.unwrap();
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        sessions.publish(id, StreamId::STANDALONE, msg(2)).await.unwrap();
        assert_eq!(events(&drain(&mut get)), vec![1, 2], "published with no subscriber still lands in the buffer");
        drop(get);
        sessions.publish(id, StreamId::STANDALONE, msg(3)).await.unwrap();
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        assert_eq!(events(&drain(&mut get)), vec![3]);
    }

    async fn impossible_positions_are_typed_errors() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        sessions.publish(id, StreamId::STANDALONE, msg(1)).await.unwrap();
        let ahead = Resume::After(EventId::message(StreamId::STANDALONE, 5));
        let refused = sessions.subscribe(id, StreamId::STANDALONE, ahead, SubscribeOptions::default()).await.unwrap_err();
        assert_eq!(refused, SubscribeError::Replay(ReplayError::Ahead(AheadOfStream { requested: 5, latest: 1 })));
        let ghost = StreamId::new(77);
        let refused = sessions.subscribe(id, ghost, Resume::After(EventId::message(ghost, 0)), SubscribeOptions::default()).await.unwrap_err();
        assert_eq!(refused, SubscribeError::Replay(ReplayError::UnknownStream(ghost)));
        // a refused subscription leaves the stream free
        let ok = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions { init: false, exclusive: true }).await;
        assert!(ok.is_ok());
    }
}
