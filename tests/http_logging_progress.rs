//! `logging/setLevel` filters the handler's log messages below the level; progress
//! notifications are sent only when the request carried a `progressToken`.

mod common;
mod support_http;

use http::StatusCode;
use serde_json::{json, Value};
use support_http::*;

fn set_level(id: i64, level: &str) -> Value {
    request(id, "logging/setLevel", Some(json!({ "level": level })))
}

fn with_token(mut message: Value, token: Value) -> Value {
    message["params"]["_meta"] = json!({ "progressToken": token });
    message
}

fn levels(h: &Harness, client: &Client, id: i64) -> Vec<Value> {
    let mut stream = expect_sse(h.send(client.post(&tool_call(id, "log_levels", json!({})))));
    let mut got = messages(&h.read_to_end(&mut stream));
    assert_eq!(got.pop(), Some(text_result(id, "logged")));
    got
}

on_every_runtime! {
    async fn every_level_is_sent_until_a_level_is_set() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let all = ["debug", "info", "warning", "error"].map(|level| log_message(level, json!(level)));
        assert_eq!(levels(&h, &client, 1), all);
    }

    async fn set_level_filters_lower_levels() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let other = h.connect(V2025_11_25);
        let response = h.send(client.post(&set_level(1, "warning")));
        assert_eq!(expect_json(response, StatusCode::OK), json!({ "jsonrpc": "2.0", "id": 1, "result": {} }));
        assert_eq!(levels(&h, &client, 2), [log_message("warning", json!("warning")), log_message("error", json!("error"))]);
        // Per session.
        assert_eq!(levels(&h, &other, 3).len(), 4);

        h.send(client.post(&set_level(4, "info")));
        assert_eq!(levels(&h, &client, 5).len(), 3);

        // Above every message: the handler answers at once, with plain JSON.
        h.send(client.post(&set_level(6, "emergency")));
        let response = h.send(client.post(&tool_call(7, "log_levels", json!({}))));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(7, "logged"));
        assert_eq!(h.send(client.post(&tool_call(8, "log_once", json!({})))).status(), StatusCode::OK);
    }

    async fn an_unknown_level_is_invalid_params_and_changes_nothing() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        h.send(client.post(&set_level(1, "error")));
        for params in [json!({ "level": "loud" }), json!({}), json!({ "level": 3 })] {
            let response = h.send(client.post(&request(2, "logging/setLevel", Some(params.clone()))));
            let body = expect_json(response, StatusCode::OK);
            assert_eq!(body["id"], 2);
            assert_eq!(body["error"]["code"], -32602, "{params}: {body}");
        }
        assert_eq!(levels(&h, &client, 3), [log_message("error", json!("error"))]);
    }

    async fn progress_is_sent_only_with_a_progress_token() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let response = h.send(client.post(&tool_call(1, "progress", json!({}))));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(1, "wants progress: false"));
        let response = h.send(client.post(&with_token(tool_call(2, "progress", json!({})), Value::Null)));
        assert_eq!(expect_json(response, StatusCode::OK), text_result(2, "wants progress: false"));

        for (id, token) in [(3, json!("tok-1")), (4, json!(0))] {
            let mut stream = expect_sse(h.send(client.post(&with_token(tool_call(id, "progress", json!({})), token.clone()))));
            let frames = h.read_to_end(&mut stream);
            let progress = json!({
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": { "progressToken": token, "progress": 1, "total": 2, "message": "half" },
            });
            assert_eq!(messages(&frames), [progress, text_result(id, "wants progress: true")]);
        }
    }
}
