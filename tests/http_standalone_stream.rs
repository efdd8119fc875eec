//! The session's GET stream carries what is not about any request; `Last-Event-ID` resumes
//! exactly the stream it names (a POST's included) with only that stream's events; DELETE ends
//! the session and every stream it had open.

mod common;
mod support_http;

use http::StatusCode;
use serde_json::{json, Value};
use support_http::*;

fn session_notice(data: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": "notifications/message", "params": { "level": "info", "data": data } })
}

fn notify(h: &Harness, client: &Client, id: i64, data: Value) {
    let response = h.send(client.post(&tool_call(id, "notify_session", json!({ "data": data }))));
    assert_eq!(expect_json(response, StatusCode::OK), text_result(id, "notified"));
}

fn updated(uri: &str) -> Value {
    json!({ "jsonrpc": "2.0", "method": "notifications/resources/updated", "params": { "uri": uri } })
}

on_every_runtime! {
    async fn the_standalone_stream_receives_session_notifications() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut standalone = expect_sse(h.send(client.get()));
        let frames = h.read(&mut standalone);
        assert_eq!(frames.len(), 1);
        assert_priming(&frames[0], 0, RETRY_MS);

        notify(&h, &client, 1, json!("a"));
        notify(&h, &client, 2, json!("b"));
        let frames = h.read(&mut standalone);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_message(&frames[0], 0, 1, &session_notice(json!("a")));
        assert_message(&frames[1], 0, 2, &session_notice(json!("b")));
        assert!(!standalone.ended);

        // Published while nobody listens: the next connection gets it, and nothing twice.
        drop(standalone);
        notify(&h, &client, 3, json!("c"));
        let mut standalone = expect_sse(h.send(client.get()));
        let frames = h.read(&mut standalone);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_priming_after(&frames[0], 0, 2, RETRY_MS);
        assert_message(&frames[1], 0, 3, &session_notice(json!("c")));

        // Another session's notifications stay there.
        let other = h.connect(V2025_11_25);
        notify(&h, &other, 4, json!("elsewhere"));
        assert_eq!(h.read(&mut standalone), []);
    }

    async fn resource_updates_reach_subscribed_sessions() {
        let h = harness().build();
        let watcher = h.connect(V2025_11_25);
        let bystander = h.connect(V2025_11_25);
        let subscribe = request(1, "resources/subscribe", Some(json!({ "uri": WATCHED })));
        assert_eq!(expect_json(h.send(watcher.post(&subscribe)), StatusCode::OK), json!({ "jsonrpc": "2.0", "id": 1, "result": {} }));
        let mut watching = expect_sse(h.send(watcher.get()));
        let mut idle = expect_sse(h.send(bystander.get()));
        h.read(&mut watching);
        h.read(&mut idle);

        assert_eq!(h.run(h.state.notify_resource_updated(WATCHED)), 1);
        let frames = h.read(&mut watching);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_message(&frames[0], 0, 1, &updated(WATCHED));
        assert_eq!(h.read(&mut idle), []);
        assert_eq!(h.run(h.state.notify_resource_updated("test://other")), 0);

        let unsubscribe = request(2, "resources/unsubscribe", Some(json!({ "uri": WATCHED })));
        assert_eq!(expect_json(h.send(watcher.post(&unsubscribe)), StatusCode::OK), json!({ "jsonrpc": "2.0", "id": 2, "result": {} }));
        assert_eq!(h.run(h.state.notify_resource_updated(WATCHED)), 0);
        assert_eq!(h.read(&mut watching), []);

        let unknown = request(3, "resources/subscribe", Some(json!({ "uri": "test://missing" })));
        let expected = json!({
            "jsonrpc": "2.0",
            "id": 3,
            "error": { "code": -32002, "message": "Resource not found: test://missing", "data": { "uri": "test://missing" } },
        });
        assert_eq!(expect_json(h.send(watcher.post(&unknown)), StatusCode::OK), expected);
    }

    async fn last_event_id_resumes_exactly_that_stream() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        // Stream 1: four log messages and the result.
        let mut first = expect_sse(h.send(client.post(&tool_call(1, "log_levels", json!({})))));
        let first = h.read_to_end(&mut first);
        assert_eq!(first.len(), 6, "{first:?}");
        // The standalone stream, with nobody listening.
        notify(&h, &client, 2, json!("s1"));
        notify(&h, &client, 3, json!("s2"));
        // Stream 2.
        let mut second = expect_sse(h.send(client.post(&tool_call(4, "log_once", json!({})))));
        assert_eq!(h.read_to_end(&mut second).len(), 3);

        let replays = h.state.metrics().replays_served;
        let mut resumed = expect_sse(h.send(client.get().last_event_id("1-2")));
        let frames = h.read_to_end(&mut resumed);
        assert_eq!(frames.len(), 4, "{frames:?}");
        assert_priming_after(&frames[0], 1, 2, RETRY_MS);
        assert_eq!(frames[1..], first[3..]);
        assert_eq!(h.state.metrics().replays_served, replays + 1);

        // From the priming id: the whole stream.
        let priming = first[0].id.clone().unwrap();
        let mut resumed = expect_sse(h.send(client.get().last_event_id(&priming)));
        let frames = h.read_to_end(&mut resumed);
        assert_eq!(frames[1..], first[1..]);

        // From its last message: nothing more, and the stream is over.
        let mut resumed = expect_sse(h.send(client.get().last_event_id("2-2")));
        let frames = h.read_to_end(&mut resumed);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_priming_after(&frames[0], 2, 2, RETRY_MS);

        // The standalone stream resumes too, and stays open for what comes next.
        let mut standalone = expect_sse(h.send(client.get().last_event_id("0-1")));
        let frames = h.read(&mut standalone);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_priming_after(&frames[0], 0, 1, RETRY_MS);
        assert_message(&frames[1], 0, 2, &session_notice(json!("s2")));
        assert!(!standalone.ended);
        notify(&h, &client, 5, json!("s3"));
        let frames = h.read(&mut standalone);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_message(&frames[0], 0, 3, &session_notice(json!("s3")));

        // Resuming replaces the connection the client lost.
        let mut again = expect_sse(h.send(client.get().last_event_id("0-3")));
        assert_eq!(h.read(&mut standalone), []);
        assert!(standalone.ended, "the replaced connection ends");
        assert_eq!(h.read(&mut again).len(), 1);
    }

    async fn a_running_call_resumes_on_get() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "wait_then_log", json!({})))));
        let frames = h.read(&mut call);
        assert_priming(&frames[0], 1, RETRY_MS);
        let priming = frames[0].id.clone().unwrap();
        drop(call); // the connection drops; the call goes on
        let mut resumed = expect_sse(h.send(client.get().last_event_id(&priming)));
        let frames = h.read(&mut resumed);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_priming(&frames[0], 1, RETRY_MS);
        assert!(!resumed.ended);
        h.latch.open();
        let frames = h.read_to_end(&mut resumed);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_message(&frames[0], 1, 1, &log_message("info", json!("late")));
        assert_message(&frames[1], 1, 2, &text_result(1, "waited"));
    }

    async fn resuming_a_call_replaces_its_post_connection() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "wait_then_log", json!({})))));
        let priming = h.read(&mut call)[0].id.clone().unwrap();
        let mut resumed = expect_sse(h.send(client.get().last_event_id(&priming)));
        assert_eq!(h.read(&mut call), []);
        assert!(call.ended, "the connection the client gave up on ends");
        h.latch.open();
        let frames = h.read_to_end(&mut resumed);
        assert_eq!(messages(&frames), [log_message("info", json!("late")), text_result(1, "waited")]);
    }

    async fn an_idle_standalone_stream_gets_heartbeats() {
        let h = harness().sessions(|b| b.keep_alive(Some(std::time::Duration::from_secs(15)))).build();
        let client = h.connect(V2025_11_25);
        let mut standalone = expect_sse(h.send(client.get()));
        assert_priming(&h.read(&mut standalone)[0], 0, RETRY_MS);
        h.run(h.state.handle_timeout()); // the store hears of the hold
        assert_eq!(h.state.next_deadline(), Some(common::at(std::time::Duration::from_secs(15))));
        h.clock.advance(std::time::Duration::from_secs(15));
        h.run(h.state.handle_timeout());
        let frames = h.read(&mut standalone);
        assert_eq!(frames.len(), 1, "{frames:?}");
        let beat = &frames[0];
        assert_eq!((beat.event.as_deref(), beat.retry, beat.data.as_str()), (None, None, ""), "{beat:?}");
        let id = beat.event_id();
        assert_eq!((id.stream().number(), id.seq(), id.is_marker()), (0, 0, true));
        // A heartbeat id is a resume point like any other.
        drop(standalone);
        notify(&h, &client, 1, json!("after"));
        let mut resumed = expect_sse(h.send(client.get().last_event_id(beat.id.as_deref().unwrap())));
        assert_eq!(messages(&h.read(&mut resumed)), [session_notice(json!("after"))]);
    }

    async fn resuming_works_without_priming_on_older_sessions() {
        let h = harness().build();
        let client = h.connect(V2025_06_18);
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "log_levels", json!({})))));
        let all = h.read_to_end(&mut call);
        assert_eq!(all.len(), 5, "{all:?}");
        let mut resumed = expect_sse(h.send(client.get().last_event_id("1-3")));
        assert_eq!(h.read_to_end(&mut resumed), all[3..]);
    }

    async fn delete_ends_the_session_and_its_streams() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut standalone = expect_sse(h.send(client.get()));
        let mut waiting = expect_sse(h.send(client.post(&tool_call(1, "until_cancelled", json!({})))));
        h.read(&mut standalone);
        h.read(&mut waiting);
        assert_eq!(h.seen.take(), ["started, cancelled=false"]);

        expect_empty(h.send(client.delete()), StatusCode::OK);
        assert_eq!(h.read(&mut standalone), []);
        assert!(standalone.ended);
        assert_eq!(h.read(&mut waiting), [], "no answer on a deleted session");
        assert!(waiting.ended);
        assert_eq!(h.seen.take(), ["woke, cancelled=true"]);

        let snapshot = h.snapshot();
        assert_eq!(snapshot.sessions, 0);
        assert_eq!(snapshot.metrics.sessions_deleted, 1);
        assert_eq!(snapshot.metrics.active_sessions, 0);
        expect_session_not_found(h.send(client.post(&request(2, "ping", None))));
        expect_session_not_found(h.send(client.get()));
        expect_session_not_found(h.send(client.get().last_event_id("1-0")));
        expect_session_not_found(h.send(client.delete()));
        assert_eq!(h.snapshot(), snapshot);
    }
}
