//! Stateless mode: no `Mcp-Session-Id` is issued or required, GET and DELETE get 405, and every
//! POST stands alone (its stream, if any, carries no ids and cannot be resumed).

mod common;
mod support_http;

use http::{Method, StatusCode};
use mcp_session::http::headers::MCP_SESSION_ID;
use mcp_session::http::ResponseMode;
use serde_json::json;
use support_http::*;

fn stateless() -> Harness {
    harness().config(|c| c.stateless = true).build()
}

/// Frames of a stateless stream: data only.
fn assert_bare(frames: &[Frame]) {
    for frame in frames {
        assert_eq!((frame.id.as_deref(), frame.event.as_deref(), frame.retry), (None, None, None), "{frame:?}");
        assert!(!frame.data.is_empty(), "{frame:?}");
    }
}

on_every_runtime! {
    async fn initialize_issues_no_session() {
        let h = stateless();
        for version in [V2025_03_26, V2025_11_25] {
            let response = h.send(post(&initialize(1, version, json!({ "sampling": {} }))));
            assert!(response.headers().get(MCP_SESSION_ID).is_none());
            let body = expect_json(response, StatusCode::OK);
            assert_eq!(body["result"]["protocolVersion"], version);
        }
        // A session id on initialize is simply ignored.
        let response = h.send(post(&initialize(2, V2025_06_18, json!({}))).session("0123456789abcdef0123456789abcdef"));
        assert_eq!(expect_json(response, StatusCode::OK)["id"], 2);
        let snapshot = h.snapshot();
        assert_eq!(snapshot.sessions, 0);
        assert_eq!(snapshot.metrics.sessions_created, 0);
    }

    async fn get_and_delete_are_405() {
        let h = stateless();
        for request in [get(), get().session("0123456789abcdef0123456789abcdef"), delete(), delete().session("x")] {
            expect_method_not_allowed(h.send(request), "POST");
        }
        expect_method_not_allowed(h.send(post(&request(1, "ping", None)).method(Method::PUT)), "POST");
        assert_eq!(h.snapshot().sessions, 0);
    }

    async fn a_post_works_without_a_session() {
        let h = stateless();
        let before = h.snapshot();
        let response = h.send(post(&tool_call(1, "echo", json!({ "text": "hi" }))));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(1, "hi"));
        // Any session id is ignored.
        for id in ["0123456789abcdef0123456789abcdef", "garbage"] {
            let response = h.send(post(&request(2, "ping", None)).session(id));
            assert_eq!(expect_json(response, StatusCode::OK), json!({ "jsonrpc": "2.0", "id": 2, "result": {} }));
        }
        expect_empty(h.send(post(&notification("notifications/initialized", None))), StatusCode::ACCEPTED);
        expect_empty(h.send(post(&json!({ "jsonrpc": "2.0", "id": 1, "result": {} }))), StatusCode::ACCEPTED);
        // Without a session the client's capabilities are unknown, and nothing has a GET stream.
        let response = h.send(post(&tool_call(3, "sample", json!({}))));
        assert_eq!(expect_json(response, StatusCode::OK), error_result(3, "sampling failed: the client does not support sampling"));
        let response = h.send(post(&tool_call(4, "notify_session", json!({ "data": 1 }))));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(4, "notified"));
        let subscribe = request(5, "resources/subscribe", Some(json!({ "uri": WATCHED })));
        let expected = json!({ "jsonrpc": "2.0", "id": 5, "error": { "code": -32600, "message": "resource subscriptions need a session" } });
        assert_eq!(expect_json(h.send(post(&subscribe)), StatusCode::OK), expected);
        assert_eq!(h.snapshot(), before);
    }

    async fn streams_carry_no_ids() {
        let h = stateless();
        let mut stream = expect_sse(h.send(post(&tool_call(1, "log_once", json!({}))).version(V2025_11_25)));
        let frames = h.read_to_end(&mut stream);
        assert_bare(&frames);
        assert_eq!(messages(&frames), [log_message("info", json!("hello")), text_result(1, "logged once")]);

        let mut stream = expect_sse(h.send(post(&tool_call(2, "wait", json!({})))));
        assert_eq!(h.read(&mut stream), []);
        assert!(!stream.ended);
        h.latch.open();
        let frames = h.read_to_end(&mut stream);
        assert_bare(&frames);
        assert_eq!(messages(&frames), [text_result(2, "waited")]);
        assert_eq!(h.state.metrics().events_published, 0);

        let h = harness().config(|c| {
            c.stateless = true;
            c.response_mode = ResponseMode::Sse;
        }).build();
        let mut stream = expect_sse(h.send(post(&request(3, "ping", None))));
        let frames = h.read_to_end(&mut stream);
        assert_bare(&frames);
        assert_eq!(messages(&frames), [json!({ "jsonrpc": "2.0", "id": 3, "result": {} })]);
    }

    async fn batches_follow_the_header_revision() {
        let h = stateless();
        let batch = json!([request(1, "ping", None), tool_call(2, "echo", json!({ "text": "x" }))]);
        let expected = json!([{ "jsonrpc": "2.0", "id": 1, "result": {} }, text_result(2, "x")]);
        assert_eq!(expect_json(h.send(post(&batch)), StatusCode::OK), expected);
        assert_eq!(expect_json(h.send(post(&batch).version(V2025_03_26)), StatusCode::OK), expected);
        let refused = "Bad Request: JSON-RPC batches are only accepted at protocol 2025-03-26";
        for version in [V2025_06_18, V2025_11_25] {
            expect_refusal(h.send(post(&batch).version(version)), StatusCode::BAD_REQUEST, refused);
        }
    }

    async fn the_envelope_is_still_checked() {
        let h = stateless();
        let ping = || post(&request(1, "ping", None));
        expect_refusal(h.send(ping().header("origin", "http://evil.example.com")), StatusCode::FORBIDDEN, "Forbidden: Origin not allowed");
        let unsupported = "Bad Request: Unsupported protocol version (supported versions: 2025-03-26, 2025-06-18, 2025-11-25)";
        expect_refusal(h.send(ping().version("2024-11-05")), StatusCode::BAD_REQUEST, unsupported);
        let refused = "Unsupported Media Type: Content-Type must be application/json";
        expect_refusal(h.send(ping().remove("content-type")), StatusCode::UNSUPPORTED_MEDIA_TYPE, refused);
        let refused = "Bad Request: initialize must not be part of a batch";
        expect_refusal(h.send(post(&json!([initialize(1, V2025_03_26, json!({}))]))), StatusCode::BAD_REQUEST, refused);
    }
}
