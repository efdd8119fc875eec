//! The change-event bridge: tenant routing, filtering, and its lifetime.

mod common;

use common::*;
use mcp_session::{Bridge, ChangeEvent, Resume, StreamId, StreamItem, SubscribeOptions};

fn change(kind: &str, tenant: &str, ts_ms: u64) -> ChangeEvent {
    ChangeEvent { kind: kind.into(), reason: "test".into(), tenant_id: tenant.into(), ts_ms }
}

fn topics(items: &[StreamItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            StreamItem::Event(event) => {
                let v: serde_json::Value = serde_json::from_slice(event.payload()).unwrap();
                assert_eq!(v["method"], "notifications/message");
                Some(format!("{}@{}", v["params"]["data"].as_str().unwrap(), v["params"]["details"]["ts_ms"]))
            }
            _ => None,
        })
        .collect()
}

on_every_runtime! {
    async fn events_reach_only_their_tenant_and_pass_the_filter() {
        let clock = clock();
        // per-session state: whether the session accepts `info` logs
        let sessions = builder(&clock).build::<bool>();
        let listening = sessions.create(owner("acme"), true).await.unwrap();
        let quiet = sessions.create(owner("acme"), false).await.unwrap();
        let other = sessions.create(owner("globex"), true).await.unwrap();
        let bridge = Bridge::new("memory");
        let told = bridge.forward(&sessions, &change("episode", "acme", 1), None, |accepts: &bool| *accepts).await;
        assert_eq!(told, 1);
        for (id, expected) in [(listening, vec!["memories_updated@1".to_string()]), (quiet, vec![]), (other, vec![])] {
            let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
            assert_eq!(topics(&drain(&mut get)), expected);
        }
    }

    async fn run_forwards_until_the_source_closes_and_skips_a_lagging_source() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = used(&sessions, owner("acme")).await;
        let mut get = sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        let (mut tx, rx) = async_broadcast::broadcast(2);
        tx.set_overflow(true);
        // 4 events into a source of capacity 2: the bridge's receiver lags by 2
        for (ts, kind) in [(1, "episode"), (2, "chunk"), (3, "triple"), (4, "tenant")] {
            tx.try_broadcast(change(kind, "acme", ts)).unwrap();
        }
        drop(tx);
        Bridge::new("memory").run(&sessions, rx, |_: &()| true).await; // returns: the source closed
        assert_eq!(topics(&drain(&mut get)), vec!["graph_updated@3", "tenant_updated@4"]);
    }

    async fn a_removed_session_hears_nothing_more() {
        let clock = clock();
        let sessions = engine(&clock);
        let gone = used(&sessions, owner("acme")).await;
        let stays = used(&sessions, owner("acme")).await;
        sessions.remove(gone).await.unwrap();
        let told = Bridge::new("m").forward(&sessions, &change("cluster", "acme", 9), None, |_: &()| true).await;
        assert_eq!(told, 1);
        let mut get = sessions.subscribe(stays, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        assert_eq!(topics(&drain(&mut get)), vec!["consolidation_updated@9"]);
        assert!(sessions.subscribe(gone, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.is_err());
    }
}
