//! Requests from a handler to the client (sampling, elicitation): the request travels on the
//! tool call's stream, the client POSTs its answer (202), and the tool's result follows on the
//! original stream. A client that lacks the capability gets an error result at once.

mod common;
mod support_http;

use http::StatusCode;
use serde_json::{json, Value};
use support_http::*;

fn sampling_request(id: i64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "sampling/createMessage",
        "params": { "messages": [{ "role": "user", "content": { "type": "text", "text": "hi" } }], "maxTokens": 10 },
    })
}

fn sampled(id: Value, text: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "result": { "role": "assistant", "content": { "type": "text", "text": text }, "model": "m", "stopReason": "endTurn" },
    })
}

on_every_runtime! {
    async fn sampling_round_trip() {
        let h = harness().build();
        let client = h.connect_with(V2025_11_25, json!({ "sampling": {} }), None);
        let mut call = expect_sse(h.send(client.post(&tool_call("t1", "sample", json!({})))));
        let frames = h.read(&mut call);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_priming(&frames[0], 1, RETRY_MS);
        assert_message(&frames[1], 1, 1, &sampling_request(1));
        assert!(!call.ended);

        expect_empty(h.send(client.post(&sampled(json!(1), "hello"))), StatusCode::ACCEPTED);
        let frames = h.read_to_end(&mut call);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_message(&frames[0], 1, 2, &text_result("t1", "sampled: hello"));
        // A second answer to the same request is accepted and dropped.
        expect_empty(h.send(client.post(&sampled(json!(1), "again"))), StatusCode::ACCEPTED);
        h.assert_works(&client);
    }

    async fn elicitation_round_trip() {
        let h = harness().build();
        let client = h.connect_with(V2025_06_18, json!({ "elicitation": {} }), None);
        let mut call = expect_sse(h.send(client.post(&tool_call(5, "elicit", json!({})))));
        let frames = h.read(&mut call);
        assert_eq!(frames.len(), 1, "no priming at 2025-06-18: {frames:?}");
        let expected = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "elicitation/create",
            "params": { "message": "Name?", "requestedSchema": { "type": "object", "properties": { "name": { "type": "string" } } } },
        });
        assert_message(&frames[0], 1, 1, &expected);
        let answer = json!({ "jsonrpc": "2.0", "id": 1, "result": { "action": "accept", "content": { "name": "Ada" } } });
        expect_empty(h.send(client.post(&answer)), StatusCode::ACCEPTED);
        let frames = h.read_to_end(&mut call);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_message(&frames[0], 1, 2, &text_result(5, r#"elicited: accept {"name":"Ada"}"#));
    }

    async fn an_error_answer_reaches_the_handler() {
        let h = harness().build();
        let client = h.connect_with(V2025_11_25, json!({ "sampling": {} }), None);
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "sample", json!({})))));
        h.read(&mut call);
        let refusal = json!({ "jsonrpc": "2.0", "id": 1, "error": { "code": -1, "message": "User rejected" } });
        expect_empty(h.send(client.post(&refusal)), StatusCode::ACCEPTED);
        let frames = h.read_to_end(&mut call);
        let expected = error_result(1, "sampling failed: the client answered with an error: JSON-RPC error -1: User rejected");
        assert_eq!(messages(&frames), [expected]);
    }

    async fn a_client_without_the_capability_gets_an_error_result() {
        let h = harness().build();
        let plain = h.connect(V2025_11_25);
        let response = h.send(plain.post(&tool_call(1, "sample", json!({}))));
        let expected = error_result(1, "sampling failed: the client does not support sampling");
        assert_eq!(expect_json(response, StatusCode::OK), expected);
        let response = h.send(plain.post(&tool_call(2, "elicit", json!({}))));
        let expected = error_result(2, "elicitation failed: the client does not support elicitation");
        assert_eq!(expect_json(response, StatusCode::OK), expected);

        let sampler = h.connect_with(V2025_11_25, json!({ "sampling": {} }), None);
        let response = h.send(sampler.post(&tool_call(3, "elicit", json!({}))));
        let expected = error_result(3, "elicitation failed: the client does not support elicitation");
        assert_eq!(expect_json(response, StatusCode::OK), expected);
        assert_eq!(h.state.metrics().events_published, 0, "nothing was sent to the client");
    }

    async fn only_the_same_session_can_answer() {
        let h = harness().build();
        let asker = h.connect_with(V2025_11_25, json!({ "sampling": {} }), Some(("acme", "alice")));
        let other = h.connect_with(V2025_11_25, json!({ "sampling": {} }), Some(("acme", "alice")));
        let mut call = expect_sse(h.send(asker.post(&tool_call(1, "sample", json!({})))));
        assert_eq!(messages(&h.read(&mut call)), [sampling_request(1)]);

        // Another session of the same owner answering the same id: accepted there, ignored here.
        expect_empty(h.send(other.post(&sampled(json!(1), "wrong session"))), StatusCode::ACCEPTED);
        // The right session presented by someone else: not found.
        expect_session_not_found(h.send(asker.post(&sampled(json!(1), "intruder")).owner("acme", "mallory")));
        assert_eq!(h.read(&mut call), []);
        assert!(!call.ended);

        expect_empty(h.send(asker.post(&sampled(json!(1), "right"))), StatusCode::ACCEPTED);
        assert_eq!(messages(&h.read_to_end(&mut call)), [text_result(1, "sampled: right")]);
    }

    async fn concurrent_requests_are_told_apart() {
        let h = harness().build();
        let client = h.connect_with(V2025_11_25, json!({ "sampling": {} }), None);
        let mut first = expect_sse(h.send(client.post(&tool_call("a", "sample", json!({})))));
        let mut second = expect_sse(h.send(client.post(&tool_call("b", "sample", json!({})))));
        let asked_first = messages(&h.read(&mut first));
        let asked_second = messages(&h.read(&mut second));
        assert_eq!(asked_first, [sampling_request(1)]);
        assert_eq!(asked_second, [sampling_request(2)]);
        expect_empty(h.send(client.post(&sampled(json!(2), "two"))), StatusCode::ACCEPTED);
        assert_eq!(h.read(&mut first), []);
        assert_eq!(messages(&h.read_to_end(&mut second)), [text_result("b", "sampled: two")]);
        expect_empty(h.send(client.post(&sampled(json!(1), "one"))), StatusCode::ACCEPTED);
        assert_eq!(messages(&h.read_to_end(&mut first)), [text_result("a", "sampled: one")]);
    }
}
