//! Bodies that are not acceptable JSON-RPC: malformed JSON (400, -32700), JSON that is not a
//! JSON-RPC message (400, -32600), `initialize` inside a batch, and batches on revisions that
//! dropped them. Batches stay accepted on 2025-03-26 sessions.

mod common;
mod support_http;

use http::StatusCode;
use serde_json::{json, Value};
use support_http::*;

fn expect_parse_error(response: http::Response<mcp_session::Body>) {
    let body = expect_json(response, StatusCode::BAD_REQUEST);
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], Value::Null);
    assert_eq!(body["error"]["code"], -32700, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Parse error: "), "{message}");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
}

fn invalid_request(detail: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32600, "message": format!("Invalid Request: {detail}") } })
}

on_every_runtime! {
    async fn malformed_json_is_400_parse_error() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        for body in ["{", "", "not json", r#"{"jsonrpc":"2.0","#, "[{]", "{\"jsonrpc\":\"2.0\"}}", "\u{feff}{}"] {
            let before = h.snapshot();
            expect_parse_error(h.send(client.post_raw(body)));
            // Without a session too: the body is judged first.
            expect_parse_error(h.send(post_raw(body)));
            h.assert_unchanged(&before, &client);
        }
        let before = h.snapshot();
        expect_parse_error(h.send(client.post_raw(vec![0xff, 0xfe, b'{'])));
        h.assert_unchanged(&before, &client);
    }

    async fn json_that_is_not_json_rpc_is_400_invalid_request() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let cases = [
            (r#"{"hello":"world"}"#, "not a JSON-RPC message object"),
            ("42", "not a JSON-RPC message object"),
            ("null", "not a JSON-RPC message object"),
            (r#""ping""#, "not a JSON-RPC message object"),
            (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, "jsonrpc must be \"2.0\""),
            (r#"{"id":1,"method":"ping"}"#, "not a JSON-RPC message object"),
            (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, "a request id must not be null"),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, "id must be a string or an integer"),
            (r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#, "id must be a string or an integer"),
            (r#"{"jsonrpc":"2.0","id":1}"#, "not a request, notification or response"),
            (r#"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#, "not a request, notification or response"),
            (r#"{"jsonrpc":"2.0","method":7}"#, "not a JSON-RPC message object"),
            ("[]", "empty batch"),
        ];
        for (body, detail) in cases {
            let before = h.snapshot();
            let response = h.send(client.post_raw(body));
            assert_eq!(expect_json(response, StatusCode::BAD_REQUEST), invalid_request(detail), "{body}");
            h.assert_unchanged(&before, &client);
        }
    }

    async fn initialize_inside_a_batch_is_400() {
        let h = harness().build();
        let old = h.connect(V2025_03_26);
        let refused = "Bad Request: initialize must not be part of a batch";
        let init = initialize(1, V2025_03_26, json!({}));
        let batches = [json!([init.clone()]), json!([request(2, "ping", None), init.clone()]), json!([init, notification("notifications/initialized", None)])];
        for batch in batches {
            let before = h.snapshot();
            expect_refusal(h.send(post(&batch)), StatusCode::BAD_REQUEST, refused);
            expect_refusal(h.send(post(&batch).version(V2025_03_26)), StatusCode::BAD_REQUEST, refused);
            expect_refusal(h.send(old.post(&batch)), StatusCode::BAD_REQUEST, refused);
            h.assert_unchanged(&before, &old);
        }
    }

    async fn a_batch_on_a_2025_06_18_or_later_session_is_400() {
        let h = harness().build();
        let refused = "Bad Request: JSON-RPC batches are only accepted at protocol 2025-03-26";
        for version in [V2025_06_18, V2025_11_25] {
            let client = h.connect(version);
            let batch = json!([request(1, "ping", None), tool_call(2, "echo", json!({ "text": "hi" }))]);
            let before = h.snapshot();
            expect_refusal(h.send(client.post(&batch)), StatusCode::BAD_REQUEST, refused);
            // The session's revision decides, not the request's header.
            expect_refusal(h.send(client.post(&batch).version(V2025_03_26)), StatusCode::BAD_REQUEST, refused);
            let notifications = json!([notification("notifications/initialized", None)]);
            expect_refusal(h.send(client.post(&notifications)), StatusCode::BAD_REQUEST, refused);
            h.assert_unchanged(&before, &client);
        }
    }

    async fn a_batch_on_a_2025_03_26_session_is_answered() {
        let h = harness().build();
        let client = h.connect(V2025_03_26);
        let batch = json!([
            request(1, "ping", None),
            notification("notifications/initialized", None),
            tool_call("two", "echo", json!({ "text": "hi" })),
            request(3, "no/such/method", None),
        ]);
        let response = h.send(client.post(&batch));
        let expected = json!([
            { "jsonrpc": "2.0", "id": 1, "result": {} },
            text_result("two", "hi"),
            { "jsonrpc": "2.0", "id": 3, "error": { "code": -32601, "message": "Method not found: no/such/method" } },
        ]);
        assert_eq!(expect_json(response, StatusCode::OK), expected);
        // Only notifications and responses: accepted, nothing to answer.
        let quiet = json!([notification("notifications/initialized", None), { "jsonrpc": "2.0", "id": 77, "result": {} }]);
        expect_empty(h.send(client.post(&quiet)), StatusCode::ACCEPTED);
        // A batch whose requests emit is answered on one stream.
        let batch = json!([tool_call(4, "log_once", json!({})), request(5, "ping", None)]);
        let mut stream = expect_sse(h.send(client.post(&batch)));
        let frames = h.read_to_end(&mut stream);
        let got = messages(&frames);
        let want = [log_message("info", json!("hello")), text_result(4, "logged once"), json!({ "jsonrpc": "2.0", "id": 5, "result": {} })];
        assert_eq!(got, want);
        assert!(frames.iter().all(|f| !f.is_priming()), "2025-03-26 streams are not primed: {frames:?}");
        assert_eq!(h.snapshot().sessions, 1);
    }
}
