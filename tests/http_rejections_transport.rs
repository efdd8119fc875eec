//! Requests refused on their HTTP envelope (path, Host, Origin, MCP-Protocol-Version,
//! Content-Type, Accept, size, method, credentials) get one precise status and a JSON-RPC
//! error without id, and change nothing.

mod common;
mod support_http;

use http::header::WWW_AUTHENTICATE;
use http::{Method, StatusCode};
use serde_json::json;
use support_http::*;

const UNSUPPORTED_VERSION: &str =
    "Bad Request: Unsupported protocol version (supported versions: 2025-03-26, 2025-06-18, 2025-11-25)";

fn ping(id: i64) -> serde_json::Value {
    request(id, "ping", None)
}

on_every_runtime! {
    async fn another_path_is_404() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        for path in ["/", "/other", "/mcp/", "/MCP", "/mcp/extra", "/mcpx"] {
            let before = h.snapshot();
            expect_refusal(h.send(client.post(&ping(1)).uri(path)), StatusCode::NOT_FOUND, "Not found");
            expect_refusal(h.send(client.get().uri(path)), StatusCode::NOT_FOUND, "Not found");
            expect_refusal(h.send(client.delete().uri(path)), StatusCode::NOT_FOUND, "Not found");
            let init = post(&initialize(1, V2025_11_25, json!({}))).uri(path);
            expect_refusal(h.send(init), StatusCode::NOT_FOUND, "Not found");
            h.assert_unchanged(&before, &client);
        }
        // The query is not part of the path.
        let response = h.send(client.post(&ping(2)).uri("/mcp?debug=1"));
        assert_eq!(expect_json(response, StatusCode::OK), json!({ "jsonrpc": "2.0", "id": 2, "result": {} }));
    }

    async fn a_foreign_host_is_403() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        for host in ["evil.example.com", "evil.example.com:3000", "localhost.evil.com", "10.0.0.1", "[2001:db8::1]:80"] {
            let before = h.snapshot();
            let refused = "Forbidden: Host not allowed";
            expect_refusal(h.send(client.post(&ping(1)).header("host", host)), StatusCode::FORBIDDEN, refused);
            expect_refusal(h.send(client.get().header("host", host)), StatusCode::FORBIDDEN, refused);
            expect_refusal(h.send(client.delete().header("host", host)), StatusCode::FORBIDDEN, refused);
            let init = post(&initialize(1, V2025_11_25, json!({}))).header("host", host);
            expect_refusal(h.send(init), StatusCode::FORBIDDEN, refused);
            h.assert_unchanged(&before, &client);
        }
        // RFC 9112 §3.2.2: an absolute-form target's authority is the one that counts.
        let before = h.snapshot();
        let absolute = client.post(&ping(1)).uri("http://evil.example.com/mcp");
        expect_refusal(h.send(absolute), StatusCode::FORBIDDEN, "Forbidden: Host not allowed");
        h.assert_unchanged(&before, &client);
        let response = h.send(client.post(&ping(1)).uri("http://127.0.0.1:3000/mcp").header("host", "evil.example.com"));
        assert_eq!(expect_json(response, StatusCode::OK)["id"], json!(1));
    }

    async fn a_missing_or_doubled_host_is_400() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let before = h.snapshot();
        let response = h.send(client.post(&ping(1)).remove("host"));
        expect_refusal(response, StatusCode::BAD_REQUEST, "Bad Request: an HTTP/1.1 request needs a Host header");
        h.assert_unchanged(&before, &client);
        let mut doubled = client.post(&ping(1)).build();
        doubled.headers_mut().append("host", http::HeaderValue::from_static("localhost:3000"));
        let response = h.run(h.engine.handle(doubled));
        expect_refusal(response, StatusCode::BAD_REQUEST, "Bad Request: more than one Host header");
        h.assert_unchanged(&before, &client);
        let opaque = client.post(&ping(1)).header_bytes("host", b"caf\xe9:3000");
        expect_refusal(h.send(opaque), StatusCode::BAD_REQUEST, "Bad Request: malformed request header");
        h.assert_unchanged(&before, &client);
    }

    async fn a_foreign_origin_is_403() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        for origin in ["http://evil.example.com", "https://evil.example.com:3000", "null", "http://localhost.evil.com", "localhost"] {
            let before = h.snapshot();
            let refused = "Forbidden: Origin not allowed";
            expect_refusal(h.send(client.post(&ping(1)).header("origin", origin)), StatusCode::FORBIDDEN, refused);
            expect_refusal(h.send(client.get().header("origin", origin)), StatusCode::FORBIDDEN, refused);
            expect_refusal(h.send(client.delete().header("origin", origin)), StatusCode::FORBIDDEN, refused);
            let init = post(&initialize(1, V2025_11_25, json!({}))).header("origin", origin);
            expect_refusal(h.send(init), StatusCode::FORBIDDEN, refused);
            h.assert_unchanged(&before, &client);
        }
    }

    async fn loopback_hosts_and_origins_are_accepted() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let allowed = [
            ("localhost", None),
            ("LOCALHOST:1", Some("https://localhost")),
            ("localhost:3000", Some("http://localhost:3000")),
            ("127.0.0.1:8080", Some("http://127.0.0.1:5173")),
            ("127.1.2.3", None),
            ("[::1]:3000", Some("http://[::1]:3000")),
            ("localhost:3000", Some("http://127.0.0.1")),
        ];
        for (i, (host, origin)) in allowed.into_iter().enumerate() {
            let mut ping = client.post(&ping(i as i64)).header("host", host);
            if let Some(origin) = origin {
                ping = ping.header("origin", origin);
            }
            let response = h.send(ping);
            assert_eq!(expect_json(response, StatusCode::OK), json!({ "jsonrpc": "2.0", "id": i, "result": {} }), "{host} {origin:?}");
        }
        let init = post(&initialize(1, V2025_06_18, json!({}))).header("host", "127.0.0.1:9").header("origin", "http://[::1]");
        assert_eq!(h.send(init).status(), StatusCode::OK);
        assert_eq!(h.snapshot().sessions, 2);
    }

    async fn an_unsupported_protocol_version_is_400() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        for version in ["2024-11-05", "", "latest", "2025-11-25 ", "2025-11-26"] {
            let before = h.snapshot();
            let bad = StatusCode::BAD_REQUEST;
            expect_refusal(h.send(client.post(&ping(1)).version(version)), bad, UNSUPPORTED_VERSION);
            expect_refusal(h.send(client.get().version(version)), bad, UNSUPPORTED_VERSION);
            expect_refusal(h.send(client.delete().version(version)), bad, UNSUPPORTED_VERSION);
            let init = post(&initialize(1, V2025_11_25, json!({}))).version(version);
            expect_refusal(h.send(init), bad, UNSUPPORTED_VERSION);
            h.assert_unchanged(&before, &client);
        }
        // A session does not speak the sessionless revision: its GET and DELETE are refused, and
        // a POST that names it in the header without its `_meta` envelope is invalid params.
        let before = h.snapshot();
        expect_refusal(h.send(client.get().version("2026-07-28")), StatusCode::BAD_REQUEST, UNSUPPORTED_VERSION);
        expect_refusal(h.send(client.delete().version("2026-07-28")), StatusCode::BAD_REQUEST, UNSUPPORTED_VERSION);
        let body = expect_json(h.send(client.post(&ping(1)).version("2026-07-28")), StatusCode::BAD_REQUEST);
        assert_eq!((body["id"].clone(), body["error"]["code"].clone()), (json!(1), json!(-32602)), "{body}");
        h.assert_unchanged(&before, &client);
    }

    async fn any_supported_protocol_version_is_accepted_on_any_session() {
        let h = harness().build();
        for session_version in [V2025_11_25, V2025_06_18, V2025_03_26] {
            let client = h.connect(session_version);
            for (i, header) in [V2025_03_26, V2025_06_18, V2025_11_25].into_iter().enumerate() {
                let response = h.send(client.post(&ping(i as i64)).version(header));
                let body = expect_json(response, StatusCode::OK);
                assert_eq!(body, json!({ "jsonrpc": "2.0", "id": i, "result": {} }), "{header} on {session_version}");
            }
            let response = h.send(client.post(&ping(7)).remove("mcp-protocol-version"));
            assert_eq!(expect_json(response, StatusCode::OK), json!({ "jsonrpc": "2.0", "id": 7, "result": {} }));
            let mut standalone = expect_sse(h.send(client.get().version(V2025_03_26)));
            let frames = h.read(&mut standalone);
            if session_version == V2025_11_25 {
                assert_eq!(frames.len(), 1, "{frames:?}");
                assert_priming(&frames[0], 0, RETRY_MS);
            } else {
                assert_eq!(frames, []);
            }
        }
    }

    async fn a_post_not_declared_as_json_is_415() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let refused = "Unsupported Media Type: Content-Type must be application/json";
        for content_type in [None, Some("text/plain"), Some("application/jsonx"), Some("text/event-stream"), Some("multipart/form-data")] {
            let before = h.snapshot();
            let strip = |request: Req| match content_type {
                Some(value) => request.header("content-type", value),
                None => request.remove("content-type"),
            };
            expect_refusal(h.send(strip(client.post(&ping(1)))), StatusCode::UNSUPPORTED_MEDIA_TYPE, refused);
            let init = strip(post(&initialize(1, V2025_11_25, json!({}))));
            expect_refusal(h.send(init), StatusCode::UNSUPPORTED_MEDIA_TYPE, refused);
            h.assert_unchanged(&before, &client);
        }
        for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
            let response = h.send(client.post(&ping(2)).header("content-type", content_type));
            assert_eq!(expect_json(response, StatusCode::OK), json!({ "jsonrpc": "2.0", "id": 2, "result": {} }));
        }
    }

    async fn a_post_that_does_not_accept_both_json_and_sse_is_406() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let refused = "Not Acceptable: Accept must include application/json and text/event-stream";
        for accept in [None, Some("application/json"), Some("text/event-stream"), Some("text/html"), Some("application/json, text/event-stream;q=0")] {
            let before = h.snapshot();
            let strip = |request: Req| match accept {
                Some(value) => request.header("accept", value),
                None => request.remove("accept"),
            };
            expect_refusal(h.send(strip(client.post(&ping(1)))), StatusCode::NOT_ACCEPTABLE, refused);
            let init = strip(post(&initialize(1, V2025_11_25, json!({}))));
            expect_refusal(h.send(init), StatusCode::NOT_ACCEPTABLE, refused);
            h.assert_unchanged(&before, &client);
        }
        for accept in ["*/*", "application/*, text/*", "text/event-stream, application/json;q=0.5"] {
            let response = h.send(client.post(&ping(2)).header("accept", accept));
            assert_eq!(expect_json(response, StatusCode::OK), json!({ "jsonrpc": "2.0", "id": 2, "result": {} }));
        }
    }

    async fn a_get_that_does_not_accept_sse_is_406() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let refused = "Not Acceptable: Accept must include text/event-stream";
        for accept in [None, Some("application/json"), Some("text/html"), Some("text/event-stream;q=0")] {
            let before = h.snapshot();
            let request = match accept {
                Some(value) => client.get().header("accept", value),
                None => client.get().remove("accept"),
            };
            expect_refusal(h.send(request), StatusCode::NOT_ACCEPTABLE, refused);
            h.assert_unchanged(&before, &client);
        }
        for accept in ["*/*", "text/*"] {
            let mut stream = expect_sse(h.send(client.get().header("accept", accept)));
            assert_priming(&h.read(&mut stream)[0], 0, RETRY_MS);
        }
    }

    async fn a_body_over_max_body_bytes_is_413() {
        const LIMIT: usize = 256;
        let h = harness().config(|c| c.max_body_bytes = LIMIT).build();
        assert_eq!(h.engine.max_body_bytes(), LIMIT);
        let client = h.connect(V2025_11_25);
        // A ping whose string id pads it to exactly `len` bytes.
        let padded = |len: usize| {
            let base = r#"{"jsonrpc":"2.0","id":"","method":"ping"}"#.len();
            let id = "x".repeat(len - base);
            (id.clone(), format!(r#"{{"jsonrpc":"2.0","id":"{id}","method":"ping"}}"#))
        };
        let (id, body) = padded(LIMIT);
        assert_eq!(body.len(), LIMIT);
        let response = h.send(client.post_raw(body));
        assert_eq!(expect_json(response, StatusCode::OK), json!({ "jsonrpc": "2.0", "id": id, "result": {} }));

        let before = h.snapshot();
        let (_, body) = padded(LIMIT + 1);
        expect_refusal(h.send(client.post_raw(body)), StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
        let mut init = serde_json::to_string(&initialize(1, V2025_11_25, json!({}))).unwrap();
        init.insert_str(1, &" ".repeat(LIMIT));
        expect_refusal(h.send(post_raw(init)), StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
        h.assert_unchanged(&before, &client);

        // What a host answers when it stops reading a body at the limit.
        expect_refusal(h.engine.reject(mcp_session::http::HostRejection::BodyTooLarge), StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    }

    async fn other_methods_are_405_with_allow() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        for method in [Method::PUT, Method::PATCH, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            let before = h.snapshot();
            expect_method_not_allowed(h.send(client.post(&ping(1)).method(method.clone())), "GET, POST, DELETE");
            h.assert_unchanged(&before, &client);
        }
    }

    async fn an_unauthenticated_request_is_401_with_the_challenge() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let before = h.snapshot();
        let requests = [
            client.post(&ping(1)),
            client.get(),
            client.delete(),
            post(&initialize(1, V2025_11_25, json!({}))),
        ];
        for request in requests {
            let response = h.send(request.header("x-deny", "1"));
            assert_eq!(response.headers().get(WWW_AUTHENTICATE).unwrap(), CHALLENGE);
            expect_refusal(response, StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        h.assert_unchanged(&before, &client);
    }
}
