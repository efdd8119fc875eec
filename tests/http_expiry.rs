//! Sessions expire on the injected clock: a request after the idle (or absolute) timeout gets
//! 404, and `EngineState::handle_timeout` ends the streams and calls of expired sessions.

mod common;
mod support_http;

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use support_http::*;

const IDLE: Duration = Duration::from_secs(60);

fn idle_harness() -> Harness {
    harness().sessions(|b| b.idle_timeout(IDLE)).build()
}

/// Only requests count as use (`activity_holds(false)`): open streams and running calls do not
/// keep a session alive, so expiry can end them. (By default they do: see `tests/liveness.rs`.)
fn requests_only_harness() -> Harness {
    harness().sessions(|b| b.idle_timeout(IDLE).activity_holds(false)).build()
}

on_every_runtime! {
    async fn an_idle_session_expires() {
        let h = idle_harness();
        let client = h.connect(V2025_11_25);
        assert_eq!(h.state.next_deadline(), Some(common::at(IDLE)));
        h.clock.advance(Duration::from_secs(59));
        h.assert_works(&client);
        assert_eq!(h.state.next_deadline(), Some(common::at(Duration::from_secs(119))), "use moves the deadline");
        h.clock.advance(Duration::from_secs(59));
        h.assert_works(&client);
        h.clock.advance(IDLE);
        expect_session_not_found(h.send(client.post(&request(1, "ping", None))));
        let snapshot = h.snapshot();
        assert_eq!(snapshot.sessions, 0);
        assert_eq!(snapshot.metrics.sessions_expired, 1);
        assert_eq!(h.state.next_deadline(), None);
        expect_session_not_found(h.send(client.get()));
        expect_session_not_found(h.send(client.delete()));
        assert_eq!(h.snapshot(), snapshot);
        // A new session is possible right away.
        let fresh = h.connect(V2025_11_25);
        h.assert_works(&fresh);
    }

    async fn a_busy_session_still_expires_at_its_absolute_timeout() {
        let h = harness().sessions(|b| b.idle_timeout(IDLE).absolute_timeout(Duration::from_secs(150))).build();
        let client = h.connect(V2025_11_25);
        for _ in 0..2 {
            h.clock.advance(Duration::from_secs(50));
            h.assert_works(&client);
        }
        h.clock.advance(Duration::from_secs(50));
        expect_session_not_found(h.send(client.post(&request(1, "ping", None))));
        assert_eq!(h.state.metrics().sessions_expired, 1);
    }

    async fn handle_timeout_ends_the_streams_of_expired_sessions() {
        let h = requests_only_harness();
        let doomed = h.connect(V2025_11_25);
        let kept = h.connect(V2025_11_25);
        let mut standalone = expect_sse(h.send(doomed.get()));
        let mut call = expect_sse(h.send(doomed.post(&tool_call(1, "until_cancelled", json!({})))));
        let mut kept_standalone = expect_sse(h.send(kept.get()));
        for stream in [&mut standalone, &mut call, &mut kept_standalone] {
            assert_eq!(h.read(stream).len(), 1);
        }
        assert_eq!(h.seen.take(), ["started, cancelled=false"]);

        h.clock.advance(Duration::from_secs(30));
        h.assert_works(&kept);
        h.clock.advance(Duration::from_secs(30));
        // Time alone changes nothing until the host calls in.
        assert_eq!(h.read(&mut standalone), []);
        assert!(!standalone.ended);
        assert_eq!(h.state.next_deadline(), Some(common::at(IDLE)));

        h.run(h.state.handle_timeout());
        assert_eq!(h.read(&mut standalone), []);
        assert!(standalone.ended, "the expired session's GET stream ends");
        assert_eq!(h.read(&mut call), [], "the call is not answered");
        assert!(call.ended, "the expired session's POST stream ends");
        assert_eq!(h.seen.take(), ["woke, cancelled=true"]);
        assert_eq!(h.read(&mut kept_standalone), []);
        assert!(!kept_standalone.ended, "the other session's stream stays open");

        let snapshot = h.snapshot();
        assert_eq!(snapshot.sessions, 1);
        assert_eq!(snapshot.metrics.sessions_expired, 1);
        assert_eq!(h.state.next_deadline(), Some(common::at(Duration::from_secs(90))));
        // Early and repeated calls do nothing.
        h.run(h.state.handle_timeout());
        assert_eq!(h.snapshot(), snapshot);
        expect_session_not_found(h.send(doomed.post(&request(2, "ping", None))));
        assert_eq!(h.snapshot(), snapshot, "a session already expired is not counted twice");
        h.assert_works(&kept);
        let response = h.send(kept.post(&tool_call(3, "notify_session", json!({ "data": "alive" }))));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(3, "notified"));
        assert_eq!(h.read(&mut kept_standalone).len(), 1);
    }

    async fn a_request_that_finds_its_session_expired_ends_its_streams() {
        let h = requests_only_harness();
        let client = h.connect(V2025_11_25);
        let mut standalone = expect_sse(h.send(client.get()));
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "until_cancelled", json!({})))));
        h.read(&mut standalone);
        h.read(&mut call);
        h.seen.take();
        // With activity holds off, an open stream is not use: the session still expires.
        h.clock.advance(IDLE);
        expect_session_not_found(h.send(client.post(&request(2, "ping", None))));
        assert_eq!(h.read(&mut standalone), []);
        assert!(standalone.ended);
        assert_eq!(h.read(&mut call), []);
        assert!(call.ended);
        assert_eq!(h.seen.take(), ["woke, cancelled=true"]);
        assert_eq!(h.snapshot().metrics.sessions_expired, 1);
        // The sweep that comes later finds nothing more to do.
        h.run(h.state.handle_timeout());
        assert_eq!(h.snapshot().metrics.sessions_expired, 1);
    }

    async fn a_call_waiting_for_the_client_ends_when_its_session_expires() {
        let h = requests_only_harness();
        let client = h.connect_with(V2025_11_25, json!({ "sampling": {} }), None);
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "sample", json!({})))));
        let frames = h.read(&mut call);
        assert_eq!(frames.len(), 2, "{frames:?}");
        let asked = frames[1].json();
        h.clock.advance(IDLE);
        h.run(h.state.handle_timeout());
        assert_eq!(h.read(&mut call), []);
        assert!(call.ended);
        // The client's late answer finds no session.
        let answer = json!({ "jsonrpc": "2.0", "id": asked["id"], "result": { "role": "assistant", "content": { "type": "text", "text": "late" } } });
        expect_session_not_found(h.send(client.post(&answer)));
    }

    async fn a_call_that_expires_its_own_session_still_gets_its_answer() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let response = h.send(client.post(&tool_call(7, "expire_everything", json!({}))));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(7, "expired"), "answered, not dropped");
        assert_eq!(h.snapshot().sessions, 0);
        let after = h.send(client.post(&tool_call(8, "echo", json!({ "text": "x" }))));
        assert_eq!(after.status(), StatusCode::NOT_FOUND);
    }
}
