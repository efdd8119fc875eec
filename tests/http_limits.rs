//! Every limit is on by default and answered precisely: calls per session (in JSON mode too),
//! batch length, resource subscriptions, duplicate request ids; retained events stay within
//! their per-stream and shared byte budgets, and every event dropped to stay there is counted
//! exactly on resume.
//!
//! Invariant 2 of the crate docs.

mod common;
mod support_http;

use http::StatusCode;
use mcp_session::http::ResponseMode;
use mcp_session::stream::event_cost;
use mcp_session::ChangeEvent;
use serde_json::{json, Value};
use support_http::*;

fn change(n: u64) -> ChangeEvent {
    ChangeEvent { kind: "episode".into(), reason: format!("change {n}"), tenant_id: "acme".into(), ts_ms: n }
}

on_every_runtime! {
    async fn calls_per_session_are_capped_in_json_mode_too() {
        let h = harness().config(|c| {
            c.response_mode = ResponseMode::Json;
            c.max_calls_per_session = 2;
        }).build();
        let client = h.connect(V2025_11_25);
        let mut first = h.start(client.post(&tool_call(1, "wait", json!({}))));
        let mut second = h.start(client.post(&tool_call(2, "wait", json!({}))));
        assert!(h.settle(first.as_mut()).is_none() && h.settle(second.as_mut()).is_none());
        let before = h.snapshot();
        let refused = h.send(client.post(&tool_call(3, "echo", json!({ "text": "x" }))));
        expect_refusal(refused, StatusCode::TOO_MANY_REQUESTS, "Too Many Requests: this session has too many requests running");
        assert_eq!(h.snapshot(), before);
        h.latch.open();
        assert_eq!(expect_json(h.settle(first.as_mut()).unwrap(), StatusCode::OK), text_result(1, "waited"));
        assert_eq!(expect_json(h.settle(second.as_mut()).unwrap(), StatusCode::OK), text_result(2, "waited"));
        h.assert_works(&client);
    }

    async fn a_batch_longer_than_the_limit_is_400() {
        let h = harness().config(|c| c.max_batch = 3).build();
        let client = h.connect(V2025_03_26);
        let before = h.snapshot();
        let batch: Vec<Value> = (1..=4).map(|i| request(i, "ping", None)).collect();
        let response = h.send(client.post(&Value::Array(batch)));
        expect_refusal(response, StatusCode::BAD_REQUEST, "Bad Request: the batch has more messages than this server accepts");
        h.assert_unchanged(&before, &client);
        let batch: Vec<Value> = (1..=3).map(|i| request(i, "ping", None)).collect();
        let answers = expect_json(h.send(client.post(&Value::Array(batch))), StatusCode::OK);
        assert_eq!(answers.as_array().unwrap().len(), 3);
    }

    async fn a_bad_batch_member_is_answered_alone() {
        let h = harness().build();
        let client = h.connect(V2025_03_26);
        let body = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"1.0","id":2,"method":"ping"},7,{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ok"}}}]"#;
        let answers = expect_json(h.send(client.post_raw(body)), StatusCode::OK);
        assert_eq!(
            answers,
            json!([
                { "jsonrpc": "2.0", "id": 1, "result": {} },
                { "jsonrpc": "2.0", "id": 2, "error": { "code": -32600, "message": "Invalid Request: jsonrpc must be \"2.0\"" } },
                { "jsonrpc": "2.0", "id": null, "error": { "code": -32600, "message": "Invalid Request: not a JSON-RPC message object" } },
                text_result(4, "ok"),
            ])
        );
    }

    async fn a_request_id_still_running_is_refused_and_the_first_keeps_its_cancellation() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut first = expect_sse(h.send(client.post(&tool_call(1, "until_cancelled", json!({})))));
        h.read(&mut first);
        assert_eq!(h.seen.take(), ["started, cancelled=false"]);
        let duplicate = h.send(client.post(&tool_call(1, "echo", json!({ "text": "again" }))));
        let answer = expect_json(duplicate, StatusCode::OK);
        assert_eq!(answer["id"], json!(1));
        assert_eq!(answer["error"]["code"], json!(-32600), "{answer}");
        assert!(h.seen.take().is_empty(), "the duplicate ran nothing");
        // The cancellation reaches the request that holds the id.
        let cancel = notification("notifications/cancelled", Some(json!({ "requestId": 1 })));
        expect_empty(h.send(client.post(&cancel)), StatusCode::ACCEPTED);
        h.pump();
        assert_eq!(h.seen.take(), ["woke, cancelled=true"]);
        assert_eq!(h.read(&mut first), [], "a cancelled request gets no response");
        // Once it is over, the id can be used again.
        assert_eq!(expect_json(h.send(client.post(&tool_call(1, "echo", json!({ "text": "reused" })))), StatusCode::OK), text_result(1, "reused"));
    }

    async fn resource_subscriptions_per_session_are_capped() {
        let h = harness().config(|c| c.max_resource_subscriptions = 0).build();
        let client = h.connect(V2025_11_25);
        let subscribe = request(1, "resources/subscribe", Some(json!({ "uri": WATCHED })));
        let answer = expect_json(h.send(client.post(&subscribe)), StatusCode::OK);
        assert_eq!(answer["error"]["code"], json!(-32600), "{answer}");
        assert_eq!(answer["error"]["data"]["limit"], json!(0));
        assert_eq!(h.state.occupancy().watches, 0, "a refused subscription leaves no watch behind");
    }

    async fn the_shared_budget_bounds_a_fan_out_and_every_drop_is_counted_on_resume() {
        // Each change notification costs about the same; a budget of 12 of them for 5 sessions
        // that each miss 6 changes forces drops across sessions.
        let probe = mcp_session::Bridge::new("changes").notification(&change(10));
        let budget = 12 * event_cost(probe.len());
        let h = harness().sessions(|b| b.retained_bytes(budget)).build();
        let clients: Vec<Client> = (0..5).map(|_| h.connect_with(V2025_11_25, json!({}), Some(("acme", "u")))).collect();
        let mut primings = Vec::new();
        for client in &clients {
            let mut standalone = expect_sse(h.send(client.get()));
            primings.push(h.read(&mut standalone)[0].id.clone().unwrap());
        } // every GET stream is dropped: the changes wait in the logs
        for n in 10..16 {
            assert_eq!(h.run(h.state.publish_change(&change(n), None)), 5);
        }
        let retained = h.state.occupancy().sessions.retained_bytes;
        assert!(retained <= budget, "{retained} > {budget}");
        let mut lost = 0;
        let mut delivered = 0;
        for (client, priming) in clients.iter().zip(&primings) {
            let mut resumed = expect_sse(h.send(client.get().last_event_id(priming)));
            for frame in h.read(&mut resumed) {
                if frame.event.as_deref() == Some("lagged") {
                    lost += frame.json()["dropped"].as_u64().unwrap();
                } else if !frame.data.is_empty() {
                    delivered += 1;
                }
            }
        }
        assert_eq!(lost + delivered, 30, "each of the 30 events is delivered or counted lost");
        assert!(delivered <= 12 && lost >= 18, "delivered {delivered}, lost {lost}");
    }

    async fn a_stream_keeps_no_more_bytes_than_its_cap() {
        let probe = log_message("info", json!(12345)).to_string().len();
        let h = harness().sessions(|b| b.max_stream_bytes(5 * event_cost(probe))).build();
        let client = h.connect(V2025_11_25);
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "wait_then_flood", json!({ "count": 40 })))));
        let priming = h.read(&mut call)[0].id.clone().unwrap();
        drop(call);
        h.latch.open();
        h.pump();
        assert_eq!(h.seen.take(), ["flood done"], "nobody reads: sending never waits");
        let mut resumed = expect_sse(h.send(client.get().last_event_id(&priming)));
        let frames = h.read_to_end(&mut resumed);
        let lagged: Vec<&Frame> = frames.iter().filter(|f| f.event.as_deref() == Some("lagged")).collect();
        assert_eq!(lagged.len(), 1);
        let kept = messages(&frames).len() as u64 - 1; // the lagged notice is not a message
        assert_eq!(lagged[0].json()["dropped"].as_u64().unwrap() + kept, 41, "40 logs and the result");
        assert!(kept <= 5, "{kept}");
    }
}
