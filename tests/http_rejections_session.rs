//! Requests refused for their session: a missing, unknown, malformed, deleted, expired or
//! foreign `Mcp-Session-Id`, an `initialize` that carries one, a second standalone stream, a bad
//! `Last-Event-ID`, and the session and stream limits. Each gets one precise status, and leaves
//! every other session and counter alone.

mod common;
mod support_http;

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use support_http::*;

const MISSING_SESSION: &str = "Bad Request: Mcp-Session-Id header is required";

on_every_runtime! {
    async fn a_non_initialize_post_without_session_id_is_400() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let messages = [
            request(1, "ping", None),
            tool_call(2, "echo", json!({ "text": "hi" })),
            notification("notifications/initialized", None),
            json!({ "jsonrpc": "2.0", "id": 3, "result": {} }),
        ];
        for message in messages {
            let before = h.snapshot();
            let request = client.post(&message).remove("mcp-session-id");
            expect_refusal(h.send(request), StatusCode::BAD_REQUEST, MISSING_SESSION);
            h.assert_unchanged(&before, &client);
        }
        let before = h.snapshot();
        expect_refusal(h.send(client.get().remove("mcp-session-id")), StatusCode::BAD_REQUEST, MISSING_SESSION);
        expect_refusal(h.send(client.delete().remove("mcp-session-id")), StatusCode::BAD_REQUEST, MISSING_SESSION);
        h.assert_unchanged(&before, &client);
    }

    async fn an_unknown_or_malformed_session_id_is_404() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let unknown = [
            "0123456789abcdef0123456789abcdef",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdef0123456789abcde",
            "not-a-session",
            "",
            " ",
        ];
        for id in unknown {
            assert_ne!(id, client.id);
            let before = h.snapshot();
            expect_session_not_found(h.send(client.post(&request(1, "ping", None)).session(id)));
            expect_session_not_found(h.send(client.post(&notification("notifications/initialized", None)).session(id)));
            expect_session_not_found(h.send(client.get().session(id)));
            expect_session_not_found(h.send(client.delete().session(id)));
            h.assert_unchanged(&before, &client);
        }
        // Upper case is not the id that was issued.
        let shouted = client.id.to_uppercase();
        assert_ne!(shouted, client.id);
        expect_session_not_found(h.send(client.post(&request(1, "ping", None)).session(&shouted)));
        h.assert_works(&client);
    }

    async fn a_deleted_session_is_404() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let doomed = h.connect(V2025_11_25);
        expect_empty(h.send(doomed.delete()), StatusCode::OK);
        assert_eq!(h.state.metrics().sessions_deleted, 1);
        let before = h.snapshot();
        assert_eq!(before.sessions, 1);
        expect_session_not_found(h.send(doomed.post(&request(1, "ping", None))));
        expect_session_not_found(h.send(doomed.get()));
        expect_session_not_found(h.send(doomed.delete()));
        h.assert_unchanged(&before, &client);
    }

    async fn an_expired_session_is_404() {
        let h = harness().sessions(|b| b.idle_timeout(Duration::from_secs(60))).build();
        let client = h.connect(V2025_11_25);
        let doomed = h.connect(V2025_11_25);
        h.clock.advance(Duration::from_secs(30));
        h.assert_works(&client);
        h.clock.advance(Duration::from_secs(30));
        // `doomed` was last used 60 s ago: expired, found out on use.
        expect_session_not_found(h.send(doomed.post(&request(1, "ping", None))));
        let after = h.snapshot();
        assert_eq!(after.sessions, 1);
        assert_eq!(after.metrics.sessions_expired, 1);
        expect_session_not_found(h.send(doomed.get()));
        expect_session_not_found(h.send(doomed.delete()));
        h.assert_unchanged(&after, &client);
    }

    async fn a_session_of_another_owner_is_404() {
        let h = harness().build();
        let client = h.connect_with(V2025_11_25, json!({}), Some(("acme", "alice")));
        let before = h.snapshot();
        for (tenant, user) in [("acme", "mallory"), ("evil", "alice")] {
            let ping = client.post(&request(1, "ping", None)).owner(tenant, user);
            expect_session_not_found(h.send(ping));
            expect_session_not_found(h.send(client.get().owner(tenant, user)));
            expect_session_not_found(h.send(client.delete().owner(tenant, user)));
        }
        expect_session_not_found(h.send(client.post(&request(1, "ping", None)).remove("x-tenant").remove("x-user")));
        h.assert_unchanged(&before, &client);
    }

    async fn an_initialize_carrying_a_session_id_is_400() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        for id in [client.id.as_str(), "0123456789abcdef0123456789abcdef", "garbage"] {
            let before = h.snapshot();
            let init = post(&initialize(1, V2025_11_25, json!({}))).session(id);
            let refused = "Bad Request: initialize must not carry Mcp-Session-Id";
            expect_refusal(h.send(init), StatusCode::BAD_REQUEST, refused);
            h.assert_unchanged(&before, &client);
        }
    }

    async fn a_second_standalone_stream_is_409() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut first = expect_sse(h.send(client.get()));
        assert_priming(&h.read(&mut first)[0], 0, RETRY_MS);
        let before = h.snapshot();
        let refused = "Conflict: only one standalone SSE stream per session";
        expect_refusal(h.send(client.get()), StatusCode::CONFLICT, refused);
        h.assert_unchanged(&before, &client);
        // The first stream is untouched and still delivers.
        let response = h.send(client.post(&tool_call(2, "notify_session", json!({ "data": "still here" }))));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(2, "notified"));
        let frames = h.read(&mut first);
        assert!(!first.ended);
        assert_eq!(frames.len(), 1, "{frames:?}");
        let notice = json!({ "jsonrpc": "2.0", "method": "notifications/message", "params": { "level": "info", "data": "still here" } });
        assert_message(&frames[0], 0, 1, &notice);
        // Once the first stream is gone, a new one may open; it starts after what was delivered.
        drop(first);
        let mut second = expect_sse(h.send(client.get()));
        let frames = h.read(&mut second);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_priming_after(&frames[0], 0, 1, RETRY_MS);
    }

    async fn a_bad_last_event_id_is_400() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let malformed = "Bad Request: malformed Last-Event-ID";
        for id in ["", "abc", "1", "-1", "1-", "1-2.0", "1-+2", "0-1.2.3", "4294967296-1"] {
            let before = h.snapshot();
            expect_refusal(h.send(client.get().last_event_id(id)), StatusCode::BAD_REQUEST, malformed);
            h.assert_unchanged(&before, &client);
        }
        let before = h.snapshot();
        let unknown = "Bad Request: Last-Event-ID names a stream this session no longer has";
        expect_refusal(h.send(client.get().last_event_id("7-1")), StatusCode::BAD_REQUEST, unknown);
        let ahead = "Bad Request: Last-Event-ID is ahead of its stream";
        expect_refusal(h.send(client.get().last_event_id("0-5")), StatusCode::BAD_REQUEST, ahead);
        h.assert_unchanged(&before, &client);
    }

    async fn the_session_limit_is_503() {
        let h = harness().sessions(|b| b.max_sessions(2)).build();
        let first = h.connect(V2025_11_25);
        let second = h.connect(V2025_06_18);
        let before = h.snapshot();
        let refused = "Service Unavailable: session limit reached";
        expect_refusal(h.send(post(&initialize(1, V2025_11_25, json!({})))), StatusCode::SERVICE_UNAVAILABLE, refused);
        let other_tenant = post(&initialize(1, V2025_11_25, json!({}))).owner("acme", "alice");
        expect_refusal(h.send(other_tenant), StatusCode::SERVICE_UNAVAILABLE, refused);
        h.assert_unchanged(&before, &first);
        h.assert_works(&second);
        // A freed place can be taken again.
        expect_empty(h.send(first.delete()), StatusCode::OK);
        let third = h.connect(V2025_11_25);
        h.assert_works(&third);
    }

    async fn the_per_tenant_limit_is_429() {
        let h = harness().sessions(|b| b.max_sessions_per_tenant(1)).build();
        let alice = h.connect_with(V2025_11_25, json!({}), Some(("acme", "alice")));
        let before = h.snapshot();
        let refused = "Too Many Requests: session limit of this tenant reached";
        for user in ["bob", "alice"] {
            let init = post(&initialize(1, V2025_11_25, json!({}))).owner("acme", user);
            expect_refusal(h.send(init), StatusCode::TOO_MANY_REQUESTS, refused);
        }
        h.assert_unchanged(&before, &alice);
        // Other tenants have their own allowance.
        let eve = h.connect_with(V2025_11_25, json!({}), Some(("evil", "eve")));
        let anonymous = h.connect(V2025_11_25);
        h.assert_works(&eve);
        h.assert_works(&anonymous);
        assert_eq!(h.snapshot().sessions, 3);
    }

    async fn the_stream_limit_is_429() {
        let h = harness().sessions(|b| b.max_streams_per_session(2)).build();
        let client = h.connect(V2025_11_25);
        let mut one = expect_sse(h.send(client.post(&tool_call(1, "wait", json!({})))));
        let mut two = expect_sse(h.send(client.post(&tool_call(2, "wait", json!({})))));
        let before = h.snapshot();
        let refused = "Too Many Requests: this session has too many open streams";
        expect_refusal(h.send(client.post(&tool_call(3, "wait", json!({})))), StatusCode::TOO_MANY_REQUESTS, refused);
        h.assert_unchanged(&before, &client);
        h.latch.open();
        let one = h.read_to_end(&mut one);
        let two = h.read_to_end(&mut two);
        assert_eq!(messages(&one), [text_result(1, "waited")]);
        assert_eq!(messages(&two), [text_result(2, "waited")]);
        // Finished streams make room.
        let mut three = expect_sse(h.send(client.post(&tool_call(3, "log_once", json!({})))));
        assert_eq!(messages(&h.read_to_end(&mut three)), [log_message("info", json!("hello")), text_result(3, "logged once")]);
    }
}
