//! `initialize`: version negotiation, tolerance of capabilities the engine does not know, request
//! ids of every shape, the issued `Mcp-Session-Id`, and the 202 answers to notifications and
//! client responses that follow it.

mod common;
mod support_http;

use http::StatusCode;
use mcp_session::http::headers::MCP_SESSION_ID;
use mcp_session::model::ProtocolVersion;
use mcp_session::server::ClientCapabilities;
use mcp_session::McpSession;
use serde_json::{json, Value};
use support_http::*;

fn initialize_result(id: Value, version: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "result": {
            "protocolVersion": version,
            // Lists announce their changes (`EngineState::announce`) on the GET stream.
            "capabilities": {
                "tools": { "listChanged": true },
                "resources": { "subscribe": true, "listChanged": true },
                "logging": {},
            },
            "serverInfo": { "name": "http-tests", "version": "0.0.0" },
        },
    })
}

/// Sends `message` as an initialize and returns the issued session id and the response body.
fn initialize_with(h: &Harness, message: &Value) -> (String, Value) {
    let response = h.send(post(message));
    let id = response.headers().get(MCP_SESSION_ID).expect("a session id").to_str().unwrap().to_owned();
    (id, expect_json(response, StatusCode::OK))
}

fn stored(h: &Harness, id: &str) -> McpSession {
    h.state.sessions().store().session(id.parse().unwrap()).expect("the session exists").record.data
}

on_every_runtime! {
    async fn a_supported_version_is_echoed() {
        let h = harness().build();
        for (version, parsed) in [
            (V2025_03_26, ProtocolVersion::V2025_03_26),
            (V2025_06_18, ProtocolVersion::V2025_06_18),
            (V2025_11_25, ProtocolVersion::V2025_11_25),
        ] {
            let (id, body) = initialize_with(&h, &initialize(1, version, json!({})));
            assert_eq!(body, initialize_result(json!(1), version));
            assert_eq!(stored(&h, &id).protocol_version, parsed);
        }
        assert_eq!(h.snapshot().sessions, 3);
        assert_eq!(h.state.metrics().sessions_created, 3);
    }

    async fn an_unknown_version_is_answered_with_the_latest() {
        let h = harness().build();
        for version in ["2024-11-05", "2026-07-28", "1999-01-01", "garbage", ""] {
            let (id, body) = initialize_with(&h, &initialize(1, version, json!({})));
            assert_eq!(body, initialize_result(json!(1), V2025_11_25), "{version}");
            assert_eq!(stored(&h, &id).protocol_version, ProtocolVersion::V2025_11_25);
        }
    }

    async fn unknown_capabilities_and_fields_are_tolerated() {
        let h = harness().build();
        let capabilities = json!({
            "extensions": { "io.modelcontextprotocol/ui": { "mimeTypes": ["text/html"] } },
            "experimental": { "anything": [1, 2, 3] },
            "tasks": { "requests": { "tools": { "call": {} } } },
            "sampling": { "context": {}, "tools": {} },
            "elicitation": { "form": {}, "url": {} },
            "roots": { "listChanged": true },
        });
        let mut message = initialize(1, V2025_11_25, capabilities);
        message["params"]["_meta"] = json!({ "trace": "abc" });
        message["params"]["somethingNew"] = json!(true);
        message["somethingElse"] = json!("ignored");
        let (id, body) = initialize_with(&h, &message);
        assert_eq!(body, initialize_result(json!(1), V2025_11_25));
        let client = stored(&h, &id).client;
        assert_eq!(client, ClientCapabilities { sampling: true, elicitation: true, roots: true });

        // No capabilities at all, or null: a client that can do nothing extra.
        for capabilities in [json!({}), Value::Null] {
            let (id, _) = initialize_with(&h, &initialize(2, V2025_06_18, capabilities));
            assert_eq!(stored(&h, &id).client, ClientCapabilities::default());
        }
        let mut bare = initialize(3, V2025_06_18, json!({}));
        bare["params"].as_object_mut().unwrap().retain(|k, _| k == "protocolVersion");
        let (_, body) = initialize_with(&h, &bare);
        assert_eq!(body, initialize_result(json!(3), V2025_06_18));
    }

    async fn initialize_params_without_a_version_are_invalid() {
        let h = harness().build();
        for params in [json!({}), json!({ "protocolVersion": 2025 }), json!("x")] {
            let response = h.send(post(&request(9, "initialize", Some(params.clone()))));
            assert!(response.headers().get(MCP_SESSION_ID).is_none());
            let body = expect_json(response, StatusCode::BAD_REQUEST);
            assert_eq!(body["id"], 9, "{body}");
            assert_eq!(body["error"]["code"], -32602, "{body}");
            assert!(body["error"]["message"].as_str().unwrap().starts_with("Invalid initialize params: "), "{body}");
        }
        assert_eq!(h.snapshot().sessions, 0);
        assert_eq!(h.state.metrics().sessions_created, 0);
    }

    async fn request_ids_of_every_shape_are_echoed() {
        let h = harness().build();
        for id in [json!(0), json!("init"), json!(""), json!(-7), json!(i64::MAX)] {
            let (_, body) = initialize_with(&h, &initialize(id.clone(), V2025_11_25, json!({})));
            assert_eq!(body, initialize_result(id, V2025_11_25));
        }
        let client = h.connect(V2025_11_25);
        for id in [json!(0), json!("call-1"), json!("0"), json!(-1), json!(i64::MIN)] {
            let response = h.send(client.post(&tool_call(id.clone(), "echo", json!({ "text": "hi" }))));
            assert_eq!(expect_json(response, StatusCode::OK), text_result(id, "hi"));
        }
    }

    async fn the_session_id_is_32_lowercase_hex_and_unique() {
        let h = harness().sessions(|b| b.ids(mcp_session::SessionIdGenerator::random())).build();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..20 {
            let response = h.send(post(&initialize(1, V2025_11_25, json!({}))));
            assert_eq!(response.status(), StatusCode::OK);
            let id = response.headers().get(MCP_SESSION_ID).unwrap().to_str().unwrap().to_owned();
            assert!(is_session_id(&id), "{id:?}");
            assert!(ids.insert(id), "ids repeat");
        }
        // Later requests do not repeat it.
        let client = h.connect(V2025_11_25);
        let response = h.send(client.post(&request(1, "ping", None)));
        assert!(response.headers().get(MCP_SESSION_ID).is_none());
    }

    async fn notifications_get_202_with_no_body() {
        let h = harness().build();
        let response = h.send(post(&initialize(1, V2025_11_25, json!({}))));
        let id = response.headers().get(MCP_SESSION_ID).unwrap().to_str().unwrap().to_owned();
        assert!(!stored(&h, &id).initialized);
        let client = Client { id: id.clone(), version: V2025_11_25.into(), owner: None };
        let before = h.snapshot();
        expect_empty(h.send(client.post(&notification("notifications/initialized", None))), StatusCode::ACCEPTED);
        assert!(stored(&h, &id).initialized);
        for message in [
            notification("notifications/roots/list_changed", None),
            notification("notifications/progress", Some(json!({ "progressToken": 1, "progress": 1 }))),
            notification("notifications/cancelled", Some(json!({ "requestId": 12345 }))),
            notification("notifications/cancelled", Some(json!("not an object"))),
            notification("vendor/unknown", Some(json!({ "x": 1 }))),
        ] {
            expect_empty(h.send(client.post(&message)), StatusCode::ACCEPTED);
        }
        assert_eq!(h.snapshot(), before);
    }

    async fn client_responses_get_202_with_no_body() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let before = h.snapshot();
        for message in [
            json!({ "jsonrpc": "2.0", "id": 1, "result": {} }),
            json!({ "jsonrpc": "2.0", "id": "x", "result": { "anything": [1] } }),
            json!({ "jsonrpc": "2.0", "id": 2, "error": { "code": -1, "message": "no" } }),
        ] {
            expect_empty(h.send(client.post(&message)), StatusCode::ACCEPTED);
        }
        h.assert_unchanged(&before, &client);
    }

    async fn an_unknown_method_is_a_json_rpc_error() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let response = h.send(client.post(&request(4, "no/such/method", Some(json!({})))));
        let expected = json!({ "jsonrpc": "2.0", "id": 4, "error": { "code": -32601, "message": "Method not found: no/such/method" } });
        assert_eq!(expect_json(response, StatusCode::OK), expected);
        let response = h.send(client.post(&tool_call(5, "no_such_tool", json!({}))));
        let expected = json!({ "jsonrpc": "2.0", "id": 5, "error": { "code": -32602, "message": "Unknown tool: no_such_tool" } });
        assert_eq!(expect_json(response, StatusCode::OK), expected);
    }
}
