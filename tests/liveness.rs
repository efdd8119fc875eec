//! What keeps a session alive. A session is idle only while nothing holds it: an open stream
//! (GET, or a POST's SSE reply) or a running call holds it, and its idle timeout starts when the
//! last of them ends. The absolute timeout ends a session however busy. A session never used
//! after `initialize` expires after the short initialization timeout.
//!
//! Invariant 7 of the crate docs.

mod common;
mod support_http;

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use mcp_session::StreamId;
use serde_json::json;
use support_http::*;

const IDLE: Duration = Duration::from_secs(60);
const MS: Duration = Duration::from_millis(1);

fn harness_idle() -> Harness {
    harness().sessions(|b| b.idle_timeout(IDLE)).build()
}

/// Moves time in steps, running the timers after each as a host would.
fn pass(h: &Harness, total: Duration, step: Duration) {
    let mut left = total;
    while left > Duration::ZERO {
        let now = step.min(left);
        h.clock.advance(now);
        h.run(h.state.handle_timeout());
        left -= now;
    }
}

on_every_runtime! {
    async fn a_client_that_only_listens_keeps_its_session() {
        let h = harness_idle();
        let client = h.connect(V2025_11_25);
        let mut standalone = expect_sse(h.send(client.get()));
        h.read(&mut standalone);
        pass(&h, 10 * IDLE, Duration::from_secs(7));
        assert_eq!(h.snapshot().sessions, 1, "ten idle timeouts later the listener still has its session");
        let note = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"still here"}}"#);
        h.run(h.state.sessions().publish(client.session_id(), StreamId::STANDALONE, note)).unwrap();
        assert_eq!(messages(&h.read(&mut standalone))[0]["params"]["data"], json!("still here"));

        // The idle timeout starts when the stream closes.
        drop(standalone);
        pass(&h, IDLE - MS, IDLE - MS);
        assert_eq!(h.snapshot().sessions, 1);
        pass(&h, MS, MS);
        assert_eq!(h.snapshot().sessions, 0, "expired exactly one idle timeout after the stream closed");
        expect_session_not_found(h.send(client.post(&request(2, "ping", None))));
    }

    async fn a_long_call_outlives_the_idle_timeout_and_delivers_its_result() {
        let h = harness_idle();
        let client = h.connect(V2025_11_25);
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "wait", json!({})))));
        let priming = h.read(&mut call)[0].id.clone().unwrap();
        drop(call); // even with nobody connected: the running call holds the session
        pass(&h, 5 * IDLE, Duration::from_secs(13));
        assert_eq!(h.snapshot().sessions, 1);
        h.latch.open();
        h.pump();
        let mut resumed = expect_sse(h.send(client.get().last_event_id(&priming)));
        assert_eq!(messages(&h.read_to_end(&mut resumed)), [text_result(1, "waited")]);
        pass(&h, IDLE - MS, IDLE - MS);
        assert_eq!(h.snapshot().sessions, 1);
        pass(&h, MS, MS);
        assert_eq!(h.snapshot().sessions, 0);
    }

    async fn the_absolute_timeout_ends_a_held_session() {
        let h = harness().sessions(|b| b.idle_timeout(IDLE).absolute_timeout(Duration::from_secs(150))).build();
        let client = h.connect(V2025_11_25);
        let mut standalone = expect_sse(h.send(client.get()));
        h.read(&mut standalone);
        pass(&h, Duration::from_secs(150) - MS, Duration::from_secs(10));
        assert!(!standalone.ended);
        pass(&h, MS, MS);
        assert_eq!(h.read(&mut standalone), []);
        assert!(standalone.ended, "the stream ends with its session");
        expect_session_not_found(h.send(client.get()));
    }

    async fn a_bare_initialize_expires_after_the_initialization_timeout_and_frees_the_cap() {
        let h = harness().sessions(|b| b.max_sessions(3)).build();
        let real = h.connect(V2025_11_25); // initialize + notifications/initialized: used
        for id in 0..2 {
            let response = h.send(post(&initialize(id, V2025_11_25, json!({}))));
            assert_eq!(response.status(), StatusCode::OK);
        }
        let refused = h.send(post(&initialize(9, V2025_11_25, json!({}))));
        expect_refusal(refused, StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable: session limit reached");
        pass(&h, Duration::from_secs(60) - MS, Duration::from_secs(60) - MS);
        assert_eq!(h.snapshot().sessions, 3);
        pass(&h, MS, MS);
        assert_eq!(h.snapshot().sessions, 1, "the two bare sessions went, the used one stayed");
        h.assert_works(&real);
        let late = h.connect(V2025_11_25);
        h.assert_works(&late);
    }

    async fn any_request_after_initialize_counts_as_use() {
        let h = harness().build();
        let response = h.send(post(&initialize(1, V2025_11_25, json!({}))));
        let id = response.headers().get(mcp_session::http::headers::MCP_SESSION_ID).unwrap().to_str().unwrap().to_owned();
        let client = Client { id, version: V2025_11_25.into(), owner: None };
        h.assert_works(&client); // a ping, without notifications/initialized
        pass(&h, Duration::from_secs(120), Duration::from_secs(30));
        h.assert_works(&client);
    }
}
