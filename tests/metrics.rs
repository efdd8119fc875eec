//! The metrics snapshot counts what happened.

mod common;

use std::time::Duration;

use common::*;
use mcp_session::{EventId, MetricsSnapshot, Resume, StreamId, SubscribeOptions};

on_every_runtime! {
    async fn every_counter_moves_with_its_event() {
        let clock = clock();
        let sessions = builder(&clock).replay_capacity(2).build::<()>();
        let a = used(&sessions, owner("t")).await;
        let b = used(&sessions, owner("t")).await;
        let _c = used(&sessions, owner("t")).await;
        sessions.remove(b).await.unwrap();
        for n in 1..=5 {
            sessions.publish(a, StreamId::STANDALONE, msg(n)).await.unwrap();
        }
        let from = Resume::After(EventId::message(StreamId::STANDALONE, 1));
        let mut sub = sessions.subscribe(a, StreamId::STANDALONE, from, SubscribeOptions::default()).await.unwrap();
        drain(&mut sub); // lagged 2, then 4 and 5
        for n in 6..=9 {
            sessions.publish(a, StreamId::STANDALONE, msg(n)).await.unwrap();
        }
        drain(&mut sub); // live lag: 6 and 7 dropped
        drop(sub);
        clock.advance(Duration::from_secs(30 * 60));
        sessions.handle_timeout().await;
        let m: MetricsSnapshot = sessions.metrics();
        assert_eq!(
            (m.active_sessions, m.sessions_created, m.sessions_expired, m.sessions_deleted),
            (0, 3, 2, 1)
        );
        assert_eq!(
            (m.events_published, m.replays_served, m.events_reported_lost, m.subscribers_lagged),
            (9, 1, 4, 1)
        );
    }
}
