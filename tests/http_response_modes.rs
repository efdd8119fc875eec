//! How a request is answered under each `ResponseMode`, and the priming event that opens the SSE
//! streams of 2025-11-25 sessions (and only theirs).

mod common;
mod support_http;

use std::time::Duration;

use http::StatusCode;
use mcp_session::http::headers::MCP_SESSION_ID;
use mcp_session::http::ResponseMode;
use serde_json::json;
use support_http::*;

fn mode(mode: ResponseMode) -> Harness {
    harness().config(|c| c.response_mode = mode).build()
}

on_every_runtime! {
    async fn adaptive_answers_a_ready_handler_with_json() {
        let h = harness().build();
        assert_eq!(h.state.config().response_mode, ResponseMode::Adaptive);
        let client = h.connect(V2025_11_25);
        let response = h.send(client.post(&tool_call(1, "echo", json!({ "text": "hi" }))));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(1, "hi"));
        let response = h.send(client.post(&request(2, "tools/list", None)));
        let tools = expect_json(response, StatusCode::OK);
        assert_eq!(tools["id"], 2);
        assert_eq!(tools["result"]["tools"][0], json!({ "name": "echo", "description": "Returns `text`", "inputSchema": { "type": "object", "properties": {} } }));
        assert_eq!(h.state.metrics().events_published, 0, "JSON answers use no stream");
    }

    async fn adaptive_streams_a_waiting_handler() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut stream = expect_sse(h.send(client.post(&tool_call(1, "wait", json!({})))));
        let frames = h.read(&mut stream);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_priming(&frames[0], 1, RETRY_MS);
        assert!(!stream.ended);
        h.latch.open();
        let frames = h.read_to_end(&mut stream);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_message(&frames[0], 1, 1, &text_result(1, "waited"));
    }

    async fn adaptive_streams_an_emitting_handler() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut stream = expect_sse(h.send(client.post(&tool_call(1, "log_once", json!({})))));
        let frames = h.read_to_end(&mut stream);
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert_priming(&frames[0], 1, RETRY_MS);
        assert_message(&frames[1], 1, 1, &log_message("info", json!("hello")));
        assert_message(&frames[2], 1, 2, &text_result(1, "logged once"));
        // Each request gets its own stream.
        let mut stream = expect_sse(h.send(client.post(&tool_call(2, "wait_then_log", json!({})))));
        assert_priming(&h.read(&mut stream)[0], 2, RETRY_MS);
        h.latch.open();
        let frames = h.read_to_end(&mut stream);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_message(&frames[0], 2, 1, &log_message("info", json!("late")));
        assert_message(&frames[1], 2, 2, &text_result(2, "waited"));
    }

    async fn sse_mode_always_streams() {
        let h = mode(ResponseMode::Sse);
        // Even initialize: the session id comes with the stream.
        let response = h.send(post(&initialize(0, V2025_11_25, json!({}))));
        let id = response.headers().get(MCP_SESSION_ID).expect("a session id").to_str().unwrap().to_owned();
        let mut stream = expect_sse(response);
        let frames = h.read_to_end(&mut stream);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_priming(&frames[0], 1, RETRY_MS);
        assert_eq!(frames[1].json()["result"]["protocolVersion"], V2025_11_25);
        assert_eq!(frames[1].json()["id"], 0);
        let client = Client { id, version: V2025_11_25.into(), owner: None };
        expect_empty(h.send(client.post(&notification("notifications/initialized", None))), StatusCode::ACCEPTED);

        for (id, message, result) in [
            (1, request(1, "ping", None), json!({ "jsonrpc": "2.0", "id": 1, "result": {} })),
            (2, tool_call(2, "echo", json!({ "text": "hi" })), text_result(2, "hi")),
        ] {
            let mut stream = expect_sse(h.send(client.post(&message)));
            let frames = h.read_to_end(&mut stream);
            assert_eq!(frames.len(), 2, "{frames:?}");
            assert_priming(&frames[0], id + 1, RETRY_MS);
            assert_message(&frames[1], id + 1, 1, &result);
        }
        // Errors too.
        let mut stream = expect_sse(h.send(client.post(&request(3, "nope", None))));
        let frames = h.read_to_end(&mut stream);
        let error = json!({ "jsonrpc": "2.0", "id": 3, "error": { "code": -32601, "message": "Method not found: nope" } });
        assert_message(&frames[1], 4, 1, &error);
    }

    async fn json_mode_waits_for_a_waiting_handler() {
        let h = mode(ResponseMode::Json);
        let client = h.connect(V2025_11_25);
        let response = h.send(client.post(&tool_call(1, "echo", json!({ "text": "hi" }))));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(1, "hi"));

        let mut call = h.start(client.post(&tool_call(2, "wait", json!({}))));
        assert!(h.settle(call.as_mut()).is_none(), "answered before the handler finished");
        h.latch.open();
        let response = h.settle(call.as_mut()).expect("answered once the handler finished");
        assert_eq!(expect_json(response, StatusCode::OK), text_result(2, "waited"));
        assert_eq!(h.state.metrics().events_published, 0);
    }

    async fn json_mode_upgrades_to_sse_when_the_handler_emits() {
        let h = mode(ResponseMode::Json);
        let client = h.connect(V2025_11_25);
        let mut stream = expect_sse(h.send(client.post(&tool_call(1, "log_once", json!({})))));
        let frames = h.read_to_end(&mut stream);
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert_priming(&frames[0], 1, RETRY_MS);
        assert_message(&frames[1], 1, 1, &log_message("info", json!("hello")));
        assert_message(&frames[2], 1, 2, &text_result(1, "logged once"));

        // A handler that waits, then emits: undecided until it emits, then a stream.
        let mut call = h.start(client.post(&tool_call(2, "wait_then_log", json!({}))));
        assert!(h.settle(call.as_mut()).is_none());
        h.latch.open();
        let mut stream = expect_sse(h.settle(call.as_mut()).expect("upgraded once the handler emitted"));
        let frames = h.read_to_end(&mut stream);
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert_priming(&frames[0], 2, RETRY_MS);
        assert_message(&frames[1], 2, 1, &log_message("info", json!("late")));
        assert_message(&frames[2], 2, 2, &text_result(2, "waited"));
    }

    async fn priming_follows_the_session_revision_not_the_header() {
        let h = harness().config(|c| c.retry = Duration::from_millis(2500)).build();
        let new = h.connect(V2025_11_25);
        for header in [V2025_03_26, V2025_06_18, V2025_11_25] {
            let mut stream = expect_sse(h.send(new.post(&tool_call(1, "log_once", json!({}))).version(header)));
            let frames = h.read_to_end(&mut stream);
            assert_eq!(frames.len(), 3, "{header}: {frames:?}");
            assert!(frames[0].is_priming(), "{header}: {frames:?}");
            assert_eq!(frames[0].retry, Some(2500));
        }
        let mut standalone = expect_sse(h.send(new.get().version(V2025_06_18)));
        let frames = h.read(&mut standalone);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_priming(&frames[0], 0, 2500);

        for version in [V2025_06_18, V2025_03_26] {
            let old = h.connect(version);
            for header in [V2025_11_25, version] {
                let mut stream = expect_sse(h.send(old.post(&tool_call(1, "log_once", json!({}))).version(header)));
                let frames = h.read_to_end(&mut stream);
                assert_eq!(frames.len(), 2, "{version} with {header}: {frames:?}");
                assert_message(&frames[0], frames[0].event_id().stream().number(), 1, &log_message("info", json!("hello")));
                assert!(frames.iter().all(|f| f.retry.is_none() && !f.data.is_empty()), "{frames:?}");
            }
            let mut standalone = expect_sse(h.send(old.get().version(V2025_11_25)));
            assert_eq!(h.read(&mut standalone), [], "{version}: the standalone stream is not primed");
            let response = h.send(old.post(&tool_call(2, "notify_session", json!({ "data": 1 }))));
            assert_eq!(expect_json(response, StatusCode::OK), text_result(2, "notified"));
            let frames = h.read(&mut standalone);
            assert_eq!(frames.len(), 1, "{frames:?}");
            assert_eq!(frames[0].id.as_deref(), Some("0-1"));
        }
    }
}
