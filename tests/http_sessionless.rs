//! The sessionless era (2026-07-28) from the same engine: the era is decided per request from
//! its body before any session logic, the validation ladder answers bad requests precisely
//! and changes nothing, and every result is completed (`resultType`, cache hints). Handlers
//! are the session era's: their progress and logs travel on the request's own stream, their
//! asks for input end the round with an input-required result, and a closed stream cancels
//! them.
//!
//! Invariants 9 and 10 of the crate docs.

mod common;
mod support_http;

use std::time::Duration;

use http::header::RETRY_AFTER;
use http::StatusCode;
use mcp_session::http::headers::MCP_SESSION_ID;
use mcp_session::http::ResponseMode;
use mcp_session::{Change, ChangeEvent, Clock};
use serde_json::{json, Value};
use support_http::*;

const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
const UNSUPPORTED_VERSION: &str =
    "Bad Request: Unsupported protocol version (supported versions: 2025-03-26, 2025-06-18, 2025-11-25)";

fn no_caps() -> Value {
    json!({})
}

fn error_of(body: &Value) -> (i64, &str) {
    (body["error"]["code"].as_i64().expect("an error"), body["error"]["message"].as_str().unwrap_or(""))
}

/// Asserts a refusal of the ladder: the status, the JSON-RPC code, the request's id echoed.
#[track_caller]
fn expect_ladder(h: &Harness, request: Req, status: StatusCode, code: i64, id: Value) -> Value {
    let before = h.snapshot();
    let body = expect_json(h.send(request), status);
    assert_eq!(error_of(&body).0, code, "{body}");
    assert_eq!(body["id"], id, "{body}");
    assert_eq!(h.snapshot(), before, "a refused request changed nothing");
    body
}

on_every_runtime! {
    async fn the_era_is_decided_by_the_body_before_any_session_logic() {
        let h = harness().build();
        let before = h.snapshot();
        // An unknown session id and a resume point are ignored, not refused with 404 or 400.
        let request = modern(1, "tools/call", json!({ "name": "echo", "arguments": { "text": "hi" } }), no_caps())
            .session("0123456789abcdef0123456789abcdef")
            .last_event_id("1-5");
        let response = h.send(request);
        assert!(response.headers().get(MCP_SESSION_ID).is_none(), "never minted or echoed");
        let body = expect_json(response, StatusCode::OK);
        assert_eq!(body["result"]["content"][0]["text"], "hi");
        assert_eq!(body["result"]["resultType"], "complete");
        assert_eq!(h.snapshot(), before, "no session was created or touched");

        // `initialize` with the claim is not the legacy handshake: it does not exist.
        let body = expect_ladder(&h, modern(2, "initialize", json!({}), no_caps()), StatusCode::NOT_FOUND, -32601, json!(2));
        assert!(error_of(&body).1.contains("initialize"), "{body}");

        // The same endpoint still serves sessions.
        let client = h.connect(V2025_11_25);
        h.assert_works(&client);
    }

    async fn get_and_delete_without_a_session_at_a_sessionless_revision_are_405_allow_post() {
        let h = harness().build();
        for request in [get().version(V2026_07_28), delete().version(V2026_07_28)] {
            expect_method_not_allowed(h.send(request), "POST");
        }
        // With a session they stay the session era's (here: a revision no session speaks).
        let client = h.connect(V2025_11_25);
        expect_refusal(h.send(client.get().version(V2026_07_28)), StatusCode::BAD_REQUEST, UNSUPPORTED_VERSION);
    }

    async fn the_validation_ladder_answers_each_bad_request_with_its_status_code_and_id() {
        let h = harness().build();
        let list = |id: i64| modern(id, "tools/list", json!({}), no_caps());

        // 1. The envelope: a revision and capabilities are required, client info is not.
        let no_caps = post(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list",
            "params": { "_meta": { "io.modelcontextprotocol/protocolVersion": V2026_07_28 } } }))
            .version(V2026_07_28).header("mcp-method", "tools/list");
        expect_ladder(&h, no_caps, StatusCode::BAD_REQUEST, -32602, json!(1));
        // The header speaks the era, the body does not carry its envelope.
        let bare = post(&request(2, "tools/list", None)).version(V2026_07_28).header("mcp-method", "tools/list");
        expect_ladder(&h, bare, StatusCode::BAD_REQUEST, -32602, json!(2));
        // 2. The revision header must equal the body's.
        expect_ladder(&h, list(3).version(V2025_11_25), StatusCode::BAD_REQUEST, -32020, json!(3));
        expect_ladder(&h, list(4).remove("mcp-protocol-version"), StatusCode::BAD_REQUEST, -32020, json!(4));
        // 3. Mcp-Method must equal the method (values are case-sensitive).
        expect_ladder(&h, list(5).header("mcp-method", "TOOLS/LIST"), StatusCode::BAD_REQUEST, -32020, json!(5));
        expect_ladder(&h, list(6).remove("mcp-method"), StatusCode::BAD_REQUEST, -32020, json!(6));
        // 4. A revision not served: the one list discover advertises, and what was asked.
        let body = post(&json!({ "jsonrpc": "2.0", "id": "v", "method": "tools/list",
            "params": { "_meta": { "io.modelcontextprotocol/protocolVersion": "v999.0.0",
                "io.modelcontextprotocol/clientCapabilities": {} } } }))
            .version("v999.0.0").header("mcp-method", "tools/list");
        let refused = expect_ladder(&h, body, StatusCode::BAD_REQUEST, -32022, json!("v"));
        assert_eq!(refused["error"]["data"]["requested"], "v999.0.0");
        assert_eq!(refused["error"]["data"]["supported"], json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]));
        // 5. Mcp-Name must name what the body names (whitespace around it is not part of it).
        let call = |id: i64| modern(id, "tools/call", json!({ "name": "echo", "arguments": { "text": "x" } }), json!({}));
        expect_ladder(&h, call(7).header("mcp-name", "other"), StatusCode::BAD_REQUEST, -32020, json!(7));
        expect_ladder(&h, call(8).remove("mcp-name"), StatusCode::BAD_REQUEST, -32020, json!(8));
        assert_eq!(expect_json(h.send(call(9).header("mcp-name", "  echo  ")), StatusCode::OK)["id"], 9);
        // 8. Methods the era does not have are not found.
        for (id, method) in ["ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe", "unknown/method"]
            .into_iter()
            .enumerate()
        {
            expect_ladder(&h, modern(id, method, json!({ "uri": WATCHED }), json!({})), StatusCode::NOT_FOUND, -32601, json!(id));
        }
        // Nothing to batch, nothing to answer, no client notifications.
        let claim = json!({ "io.modelcontextprotocol/protocolVersion": V2026_07_28, "io.modelcontextprotocol/clientCapabilities": {} });
        let batch = post(&json!([{ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": { "_meta": claim } }]));
        expect_ladder(&h, batch, StatusCode::BAD_REQUEST, -32600, Value::Null);
        let answer = post(&json!({ "jsonrpc": "2.0", "id": 1, "result": {} })).version(V2026_07_28);
        expect_ladder(&h, answer, StatusCode::BAD_REQUEST, -32600, Value::Null);
        let before = h.snapshot();
        let cancel = post(&json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 1, "_meta": claim } }));
        expect_empty(h.send(cancel.version(V2026_07_28)), StatusCode::ACCEPTED);
        assert_eq!(h.snapshot(), before);
    }

    async fn mirrored_argument_headers_must_match_the_arguments() {
        let h = harness().build();
        let call = |id: i64, region: &str| {
            modern(id, "tools/call", json!({ "name": "regional", "arguments": { "region": region } }), json!({}))
        };
        let ok = expect_json(h.send(call(1, "Hello").header("mcp-param-region", "=?base64?SGVsbG8=?=")), StatusCode::OK);
        assert_eq!(ok["result"]["content"][0]["text"], "region Hello");
        // Without the sentinel a value is literal.
        let literal = call(2, "=?base64?SGVsbG8=").header("mcp-param-region", "=?base64?SGVsbG8=");
        assert_eq!(expect_json(h.send(literal), StatusCode::OK)["id"], 2);
        for (id, header) in [(3, Some("=?base64?SGVsbG8?=")), (4, Some("=?base64?SGVs!!!bG8=?=")), (5, Some("Bye")), (6, None)] {
            let mut request = call(id, "Hello");
            if let Some(header) = header {
                request = request.header("mcp-param-region", header);
            }
            expect_ladder(&h, request, StatusCode::BAD_REQUEST, -32020, json!(id));
        }
    }

    async fn discover_tells_versions_capabilities_and_server_info() {
        let h = harness().build();
        let body = expect_json(h.send(modern("d", "server/discover", json!({}), no_caps())), StatusCode::OK);
        let result = &body["result"];
        assert_eq!(result["resultType"], "complete");
        assert_eq!(result["supportedVersions"], json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]));
        assert_eq!(result["capabilities"]["tools"], json!({ "listChanged": true }));
        assert!(result["capabilities"].get("prompts").is_none(), "exactly what is served: the test server has no prompts");
        assert_eq!((result["ttlMs"].clone(), result["cacheScope"].clone()), (json!(0), json!("private")));
        assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "http-tests");
        // An undeclared feature's methods are not found.
        expect_ladder(&h, modern(2, "prompts/list", json!({}), no_caps()), StatusCode::NOT_FOUND, -32601, json!(2));
    }

    async fn cacheable_results_carry_hints_and_an_unknown_resource_is_invalid_params_with_its_uri() {
        let h = harness().build();
        for method in ["tools/list", "resources/list", "resources/templates/list"] {
            let body = expect_json(h.send(modern(1, method, json!({}), no_caps())), StatusCode::OK);
            assert_eq!(body["result"]["ttlMs"], 0, "{method}");
            assert_eq!(body["result"]["cacheScope"], "private", "{method}");
        }
        let read = expect_json(h.send(modern(2, "resources/read", json!({ "uri": WATCHED }), no_caps())), StatusCode::OK);
        assert_eq!((read["result"]["resultType"].clone(), read["result"]["ttlMs"].clone()), (json!("complete"), json!(0)));
        let missing = expect_ladder(&h, modern(3, "resources/read", json!({ "uri": "test://nope" }), no_caps()), StatusCode::BAD_REQUEST, -32602, json!(3));
        assert_eq!(missing["error"]["data"]["uri"], "test://nope");
        let call = expect_json(h.send(modern(4, "tools/call", json!({ "name": "echo", "arguments": {} }), no_caps())), StatusCode::OK);
        assert!(call["result"].get("ttlMs").is_none(), "a tool result is not cacheable");
    }

    async fn logs_travel_only_when_the_request_asks_at_or_above_its_level() {
        let h = harness().build();
        let body = expect_json(h.send(modern(1, "tools/call", json!({ "name": "log_levels" }), no_caps())), StatusCode::OK);
        assert_eq!(body["result"]["content"][0]["text"], "logged", "no log asked for: a plain JSON reply");

        let mut asked = modern(2, "tools/call", json!({ "name": "log_levels" }), no_caps());
        let mut params: Value = serde_json::from_slice(asked.body()).unwrap();
        params["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("warning");
        asked = asked.body_json(&params);
        let mut stream = expect_sse(h.send(asked));
        let frames = h.read_to_end(&mut stream);
        for frame in &frames {
            assert_eq!((frame.id.as_deref(), frame.retry), (None, None), "nothing is resumable: {frame:?}");
        }
        let levels: Vec<Value> =
            messages(&frames).iter().filter(|m| m["method"] == "notifications/message").map(|m| m["params"]["level"].clone()).collect();
        assert_eq!(levels, [json!("warning"), json!("error")]);

        params["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("loud");
        let refused = modern(3, "tools/call", json!({ "name": "log_levels" }), no_caps()).body_json(&params);
        expect_ladder(&h, refused, StatusCode::BAD_REQUEST, -32602, json!(2));
    }

    async fn progress_travels_on_the_requests_own_stream() {
        let h = harness().build();
        let request = modern(1, "tools/call", json!({ "name": "progress", "_meta": { "progressToken": "p1" } }), no_caps());
        let mut stream = expect_sse(h.send(request));
        let got = messages(&h.read_to_end(&mut stream));
        assert_eq!(got[0]["method"], "notifications/progress");
        assert_eq!(got[0]["params"]["progressToken"], "p1");
        assert_eq!(got[1]["result"]["content"][0]["text"], "wants progress: true");
        assert_eq!(got[1]["result"]["resultType"], "complete");
    }

    async fn an_ask_for_input_ends_the_round_and_the_retry_with_the_answer_completes() {
        let h = harness().build();
        let caps = json!({ "elicitation": {} });
        let first = expect_json(h.send(modern(1, "tools/call", json!({ "name": "ask_name" }), caps.clone())), StatusCode::OK);
        let result = &first["result"];
        assert_eq!(result["resultType"], "input_required", "{first}");
        assert_eq!(result["inputRequests"]["name"]["method"], "elicitation/create");
        assert!(result.get("ttlMs").is_none(), "an input-required result is not cacheable");
        assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "http-tests");
        let state = result["requestState"].as_str().expect("a sealed state").to_owned();

        let answer = json!({ "name": { "action": "accept", "content": { "name": "Ada" } } });
        let retry = |id: i64, responses: Value, state: &str| {
            modern(id, "tools/call", json!({ "name": "ask_name", "inputResponses": responses, "requestState": state }), caps.clone())
        };
        let done = expect_json(h.send(retry(2, answer.clone(), &state)), StatusCode::OK);
        assert_eq!(done["result"]["content"][0]["text"], "Hello, Ada!", "{done}");
        assert_eq!(done["result"]["resultType"], "complete");

        // A wrong key is asked again, never an error; extra keys are ignored.
        let wrong = expect_json(h.send(retry(3, json!({ "other": { "action": "accept" } }), &state)), StatusCode::OK);
        assert_eq!(wrong["result"]["resultType"], "input_required");
        let mut extra = answer.clone();
        extra["surplus"] = json!({ "x": 1 });
        assert_eq!(expect_json(h.send(retry(4, extra, &state)), StatusCode::OK)["result"]["resultType"], "complete");

        // A changed state, or one issued for other params, is refused before the handler runs.
        expect_ladder(&h, retry(5, answer.clone(), &format!("{state}-TAMPERED")), StatusCode::BAD_REQUEST, -32602, json!(5));
        let elsewhere = modern(6, "tools/call", json!({ "name": "ask_name", "arguments": { "x": 1 },
            "inputResponses": answer.clone(), "requestState": state }), caps.clone());
        expect_ladder(&h, elsewhere, StatusCode::BAD_REQUEST, -32602, json!(6));
        // Answers that are not result objects are refused.
        expect_ladder(&h, retry(7, json!(5), &state), StatusCode::BAD_REQUEST, -32602, json!(7));

        // A state outlives its time to live only on the engine's clock.
        h.clock.advance(Duration::from_secs(601));
        expect_ladder(&h, retry(8, answer, &state), StatusCode::BAD_REQUEST, -32602, json!(8));
    }

    async fn an_error_at_once_keeps_its_http_status_even_in_sse_mode() {
        let h = harness().config(|c| c.response_mode = ResponseMode::Sse).build();
        let body = expect_json(h.send(modern(1, "tools/call", json!({ "name": "ask_name" }), no_caps())), StatusCode::BAD_REQUEST);
        assert_eq!(error_of(&body).0, -32021);
        // A result is still streamed, as the mode asks.
        expect_sse(h.send(modern(2, "tools/call", json!({ "name": "echo", "arguments": { "text": "x" } }), no_caps())));
    }

    async fn an_error_after_a_wait_keeps_its_http_status() {
        let h = harness().build();
        let mut pending = h.start(modern(1, "tools/call", json!({ "name": "wait_then_ask" }), no_caps()));
        assert!(h.settle(pending.as_mut()).is_none(), "the handler waits; no stream is opened for it");
        h.latch.open();
        let response = h.settle(pending.as_mut()).expect("answered once the latch opens");
        let body = expect_json(response, StatusCode::BAD_REQUEST);
        assert_eq!(error_of(&body).0, -32021);
    }

    async fn input_is_asked_only_through_capabilities_this_request_declared() {
        let h = harness().build();
        // `ask_name` passes the refusal on: -32021 naming what is missing, an HTTP error.
        let refused = expect_json(h.send(modern(1, "tools/call", json!({ "name": "ask_name" }), no_caps())), StatusCode::BAD_REQUEST);
        assert_eq!(error_of(&refused).0, -32021);
        assert_eq!(refused["error"]["data"]["requiredCapabilities"], json!({ "elicitation": {} }));
        // `sample` handles the error itself, as it does on a session...
        let handled = expect_json(h.send(modern(2, "tools/call", json!({ "name": "sample" }), no_caps())), StatusCode::OK);
        assert_eq!(handled["result"]["isError"], true);
        // ...and when the capability is declared, its ask ends the round whatever it returned.
        let asked = expect_json(h.send(modern(3, "tools/call", json!({ "name": "sample" }), json!({ "sampling": {} }))), StatusCode::OK);
        assert_eq!(asked["result"]["inputRequests"]["createMessage-1"]["method"], "sampling/createMessage");
        // Nothing is inferred from an earlier request: the next one without it is refused again.
        let again = expect_json(h.send(modern(4, "tools/call", json!({ "name": "ask_name" }), no_caps())), StatusCode::BAD_REQUEST);
        assert_eq!(error_of(&again).0, -32021);
    }

    async fn a_closed_response_stream_cancels_its_request() {
        let h = harness().config(|c| c.response_mode = ResponseMode::Sse).build();
        let stream = expect_sse(h.send(modern(1, "tools/call", json!({ "name": "until_cancelled" }), no_caps())));
        assert_eq!(h.seen.take(), ["started, cancelled=false"]);
        drop(stream);
        h.pump();
        assert_eq!(h.seen.take(), ["woke, cancelled=true"]);
        assert_eq!(h.state.occupancy().calls, 0);
    }

    async fn a_reply_dropped_before_it_is_ready_cancels_its_request() {
        // Adaptive mode waits like JSON mode on a sessionless request (nothing to resume).
        let h = harness().build();
        let mut pending = h.start(modern(1, "tools/call", json!({ "name": "until_cancelled" }), no_caps()));
        assert!(h.settle(pending.as_mut()).is_none(), "the handler waits");
        assert_eq!(h.seen.take(), ["started, cancelled=false"]);
        drop(pending);
        h.pump();
        assert_eq!(h.seen.take(), ["woke, cancelled=true"]);
    }

    async fn a_listen_stream_acknowledges_first_then_carries_only_what_it_asked_for_tagged() {
        let h = harness().build();
        let filter = json!({ "toolsListChanged": true, "promptsListChanged": true, "resourceSubscriptions": [WATCHED] });
        let mut stream = expect_sse(h.send(modern("L1", "subscriptions/listen", json!({ "notifications": filter }), no_caps())));
        let ack = messages(&h.read(&mut stream));
        assert_eq!(ack.len(), 1);
        assert_eq!(ack[0]["method"], "notifications/subscriptions/acknowledged");
        // The test server has no prompts: that part of the filter is not honoured.
        assert_eq!(ack[0]["params"]["notifications"], json!({ "toolsListChanged": true, "resourceSubscriptions": [WATCHED] }));
        assert_eq!(ack[0]["params"]["_meta"][SUBSCRIPTION_ID], "L1");
        assert_eq!(h.state.occupancy().listens, 1);

        assert_eq!(h.run(h.state.announce(Change::PromptsListChanged)), 0);
        assert_eq!(h.run(h.state.announce(Change::ResourcesListChanged)), 0);
        assert_eq!(h.run(h.state.announce(Change::ToolsListChanged)), 1);
        assert_eq!(h.run(h.state.announce(Change::ResourceUpdated(WATCHED.into()))), 1);
        let got = messages(&h.read(&mut stream));
        assert_eq!(got.iter().map(|m| m["method"].clone()).collect::<Vec<_>>(),
            [json!("notifications/tools/list_changed"), json!("notifications/resources/updated")]);
        for message in &got {
            assert_eq!(message["params"]["_meta"][SUBSCRIPTION_ID], "L1");
        }
        assert_eq!(got[1]["params"]["uri"], WATCHED);
        assert!(!stream.ended);

        drop(stream);
        assert_eq!(h.state.occupancy().listens, 0, "a closed listen stream is forgotten");
        let missing = modern(2, "subscriptions/listen", json!({}), no_caps());
        expect_ladder(&h, missing, StatusCode::BAD_REQUEST, -32602, json!(2));
    }

    async fn listen_streams_keep_alive_on_the_clock_and_end_with_their_result_on_shutdown() {
        let h = harness().sessions(|b| b.keep_alive(Some(Duration::from_secs(15)))).build();
        let mut stream = expect_sse(h.send(modern(7, "subscriptions/listen", json!({ "notifications": {} }), no_caps())));
        h.read(&mut stream);
        let due = h.state.next_deadline().expect("a keep-alive is scheduled");
        assert_eq!(due, h.clock.now().saturating_add(Duration::from_secs(15)));
        h.clock.advance(Duration::from_secs(15));
        h.run(h.state.handle_timeout());
        let frames = h.read(&mut stream);
        assert_eq!(frames.len(), 1);
        assert_eq!((frames[0].data.as_str(), frames[0].id.as_deref()), ("", None), "a comment line: {frames:?}");

        h.state.close_listens(&json!({ "name": "http-tests", "version": "0.0.0" }));
        let end = messages(&h.read_to_end(&mut stream));
        assert_eq!(end[0]["id"], 7);
        assert_eq!(end[0]["result"]["resultType"], "complete");
        assert_eq!(end[0]["result"]["_meta"][SUBSCRIPTION_ID], 7);
        assert_eq!(h.state.next_deadline(), None, "nothing left to keep alive");
    }

    async fn listen_streams_are_bounded_per_principal_and_in_total() {
        let h = harness().config(|c| { c.max_listens = 3; c.max_listens_per_principal = 2 }).build();
        let listen = |id: i64| modern(id, "subscriptions/listen", json!({ "notifications": {} }), no_caps());
        let _a = expect_sse(h.send(listen(1).owner("t", "alice")));
        let _b = expect_sse(h.send(listen(2).owner("t", "alice")));
        let refused = h.send(listen(3).owner("t", "alice"));
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key(RETRY_AFTER));
        let _c = expect_sse(h.send(listen(4).owner("t", "bob")));
        assert_eq!(h.send(listen(5).owner("t", "carol")).status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h.state.occupancy().listens, 3);
    }

    async fn changes_reach_both_eras_and_bridge_changes_only_the_tenants_listeners() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut standalone = expect_sse(h.send(client.get()));
        h.read(&mut standalone);
        let bridge_uri = "changes://documents_updated";
        let filter = json!({ "toolsListChanged": true, "resourceSubscriptions": [bridge_uri] });
        let mut acme = expect_sse(h.send(modern(1, "subscriptions/listen", json!({ "notifications": filter }), no_caps()).owner("acme", "u")));
        let mut other = expect_sse(h.send(modern(1, "subscriptions/listen", json!({ "notifications": filter }), no_caps()).owner("other", "u")));
        h.read(&mut acme);
        h.read(&mut other);

        assert_eq!(h.run(h.state.announce(Change::ToolsListChanged)), 3, "two listen streams and the session");
        let legacy = messages(&h.read(&mut standalone));
        assert_eq!(legacy.last().unwrap()["method"], "notifications/tools/list_changed");
        assert!(legacy.last().unwrap()["params"].get("_meta").is_none(), "sessions get no subscription tag");

        let event = ChangeEvent { kind: "document".into(), reason: "ingest".into(), tenant_id: "acme".into(), ts_ms: 1 };
        h.run(h.state.publish_change(&event, None));
        let heard = messages(&h.read(&mut acme));
        assert_eq!(heard.last().unwrap()["method"], "notifications/resources/updated");
        assert_eq!(heard.last().unwrap()["params"]["uri"], bridge_uri);
        let unheard = messages(&h.read(&mut other));
        assert_eq!(unheard.len(), 1, "only the tool list change: another tenant's data is not theirs to hear");
    }
}
