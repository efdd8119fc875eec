//! `notifications/cancelled`: the handler observes it (`is_cancelled`, `cancelled()`), and the
//! cancelled request gets no response, live or on resume.

mod common;
mod support_http;

use http::StatusCode;
use mcp_session::http::ResponseMode;
use serde_json::{json, Value};
use support_http::*;

fn cancel(id: Value) -> Value {
    notification("notifications/cancelled", Some(json!({ "requestId": id, "reason": "user gave up" })))
}

on_every_runtime! {
    async fn a_cancelled_request_gets_no_response() {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        for (stream, id) in [(1, json!(7)), (2, json!("job-1")), (3, json!(0))] {
            let mut call = expect_sse(h.send(client.post(&tool_call(id.clone(), "until_cancelled", json!({})))));
            let frames = h.read(&mut call);
            assert_eq!(frames.len(), 1, "{frames:?}");
            assert_priming(&frames[0], stream, RETRY_MS);
            assert_eq!(h.seen.take(), ["started, cancelled=false"]);

            expect_empty(h.send(client.post(&cancel(id.clone()))), StatusCode::ACCEPTED);
            assert_eq!(h.seen.take(), ["woke, cancelled=true"]);
            assert_eq!(h.read_to_end(&mut call), [], "{id}: the stream ends without a response");

            // Nothing to replay either.
            let mut resumed = expect_sse(h.send(client.get().last_event_id(frames[0].id.as_deref().unwrap())));
            let replay = h.read_to_end(&mut resumed);
            assert_eq!(replay.len(), 1, "{replay:?}");
            assert!(replay[0].is_priming());
        }
        assert_eq!(h.state.metrics().events_published, 0);
        h.assert_works(&client);
    }

    async fn only_the_named_request_of_that_session_is_cancelled() {
        let h = harness().build();
        let client = h.connect_with(V2025_11_25, json!({}), Some(("acme", "alice")));
        let other = h.connect_with(V2025_11_25, json!({}), Some(("acme", "alice")));
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "until_cancelled", json!({})))));
        h.read(&mut call);
        assert_eq!(h.seen.take(), ["started, cancelled=false"]);

        expect_empty(h.send(client.post(&cancel(json!(2)))), StatusCode::ACCEPTED);
        expect_empty(h.send(client.post(&cancel(json!("1")))), StatusCode::ACCEPTED);
        expect_empty(h.send(other.post(&cancel(json!(1)))), StatusCode::ACCEPTED);
        expect_session_not_found(h.send(client.post(&cancel(json!(1))).owner("acme", "mallory")));
        let malformed = notification("notifications/cancelled", Some(json!({ "request": 1 })));
        expect_empty(h.send(client.post(&malformed)), StatusCode::ACCEPTED);
        assert_eq!(h.seen.take(), Vec::<String>::new());
        assert_eq!(h.read(&mut call), []);
        assert!(!call.ended);

        expect_empty(h.send(client.post(&cancel(json!(1)))), StatusCode::ACCEPTED);
        assert_eq!(h.seen.take(), ["woke, cancelled=true"]);
        assert_eq!(h.read_to_end(&mut call), []);
        // Cancelling what already ended does nothing.
        expect_empty(h.send(client.post(&cancel(json!(1)))), StatusCode::ACCEPTED);
        h.assert_works(&client);
    }

    async fn a_cancelled_request_in_json_mode_is_202_with_no_body() {
        let h = harness().config(|c| c.response_mode = ResponseMode::Json).build();
        let client = h.connect(V2025_11_25);
        let mut call = h.start(client.post(&tool_call(1, "until_cancelled", json!({}))));
        assert!(h.settle(call.as_mut()).is_none());
        expect_empty(h.send(client.post(&cancel(json!(1)))), StatusCode::ACCEPTED);
        let response = h.settle(call.as_mut()).expect("answered once cancelled");
        expect_empty(response, StatusCode::ACCEPTED);
        assert_eq!(h.seen.take(), ["started, cancelled=false", "woke, cancelled=true"]);
    }
}
