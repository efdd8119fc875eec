//! Keep-alive heartbeats on attached streams: cadence, ids, and what stops them.

mod common;

use std::time::Duration;

use common::*;
use mcp_session::{EventId, Resume, StreamId, StreamItem, SubscribeOptions};

const SECOND: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn heartbeats(items: &[StreamItem]) -> Vec<EventId> {
    items
        .iter()
        .filter_map(|item| match item {
            StreamItem::Heartbeat(id) => Some(*id),
            _ => None,
        })
        .collect()
}

on_every_runtime! {
    async fn heartbeats_follow_the_keep_alive_cadence_exactly() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        assert_eq!(sessions.next_deadline(), Some(at(15 * SECOND)), "a hold needs no early wake-up");

        for period in 1..=4u32 {
            clock.advance(15 * SECOND - MS);
            sessions.handle_timeout().await;
            assert!(heartbeats(&drain(&mut get)).is_empty(), "period {period}: 1 ms early");
            clock.advance(MS);
            assert_eq!(sessions.next_deadline(), Some(at(period * 15 * SECOND)));
            sessions.handle_timeout().await;
            assert_eq!(heartbeats(&drain(&mut get)).len(), 1, "period {period}: on time");
        }
    }

    async fn a_late_timeout_fires_once_and_keeps_the_cadence() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        clock.advance(50 * SECOND);
        sessions.handle_timeout().await;
        assert_eq!(heartbeats(&drain(&mut get)).len(), 1);
        assert_eq!(sessions.next_deadline(), Some(at(60 * SECOND)));
    }

    async fn heartbeat_ids_resume_exactly_after_the_last_message() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        sessions.publish(id, StreamId::STANDALONE, msg(1)).await.unwrap();
        sessions.publish(id, StreamId::STANDALONE, msg(2)).await.unwrap();
        clock.advance(15 * SECOND);
        sessions.handle_timeout().await;
        let items = drain(&mut get);
        let beat = heartbeats(&items)[0];
        assert!(beat.is_marker());
        assert_eq!(beat.seq(), 2);
        assert!(beat > EventId::message(StreamId::STANDALONE, 2), "ids keep increasing");

        // resuming from the heartbeat replays exactly what came after message 2
        drop(get);
        sessions.publish(id, StreamId::STANDALONE, msg(3)).await.unwrap();
        let mut resumed = sessions.subscribe(id, StreamId::STANDALONE, Resume::After(beat), SubscribeOptions::default()).await.unwrap();
        let replayed: Vec<u64> = drain(&mut resumed).iter().filter_map(n_of).collect();
        assert_eq!(replayed, vec![3]);
    }

    async fn heartbeat_ids_are_unique_even_without_messages_between() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let options = SubscribeOptions { init: true, exclusive: false };
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, options).await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.extend(drain(&mut get).iter().filter_map(StreamItem::id));
            clock.advance(15 * SECOND);
            sessions.handle_timeout().await;
        }
        ids.extend(drain(&mut get).iter().filter_map(StreamItem::id));
        assert_eq!(ids.len(), 6, "init and five heartbeats");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    async fn dropping_the_subscriber_stops_its_heartbeats() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        sessions.handle_timeout().await;
        assert_eq!(sessions.next_deadline(), Some(at(15 * SECOND)));
        clock.advance(5 * SECOND);
        drop(get);
        sessions.handle_timeout().await;
        assert_eq!(
            sessions.next_deadline(),
            Some(at(5 * SECOND + 30 * 60 * SECOND)),
            "only the session's expiry remains, idle from the moment the stream closed"
        );
    }

    async fn no_heartbeats_when_keep_alive_is_off() {
        let clock = clock();
        let sessions = builder(&clock).keep_alive(None).build::<()>();
        let id = used(&sessions, owner("t")).await;
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        clock.advance(60 * SECOND);
        sessions.handle_timeout().await;
        assert!(drain(&mut get).is_empty());
        assert_eq!(
            sessions.next_deadline(),
            Some(at(4 * 3600 * SECOND)),
            "the attached stream holds the session: only its absolute timeout is scheduled"
        );
    }

    async fn request_streams_get_heartbeats_too() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("t")).await;
        let mut post = sessions.open_stream(id, true).await.unwrap();
        let first = drain(&mut post);
        assert!(matches!(first.as_slice(), [StreamItem::Init(_)]), "{first:?}");
        clock.advance(15 * SECOND);
        sessions.handle_timeout().await;
        let beats = heartbeats(&drain(&mut post));
        assert_eq!(beats.len(), 1);
        assert_eq!(beats[0].stream(), post.stream());
    }
}
