//! A JSON-mode reply cannot be resumed, so a client that hangs up before it is chosen cancels
//! its requests: their handlers see the cancellation, whatever they send fails at once, and
//! nothing is left running or live.
//!
//! Regression: the handler went on, opened a response stream that nobody would ever read, and
//! parked for good once it had sent a window's worth of messages.
//!
//! Invariant 8 of the crate docs (replies that cannot be resumed).

mod common;
mod support_http;

use mcp_session::http::ResponseMode;
use serde_json::json;
use support_http::*;

on_every_runtime! {
    async fn a_dropped_json_request_cancels_its_handler_and_leaves_nothing() {
        let h = harness().config(|c| c.response_mode = ResponseMode::Json).sessions(|b| b.replay_capacity(4)).build();
        let client = h.connect(V2025_11_25);
        {
            let mut pending = h.start(client.post(&tool_call(1, "wait_then_flood", json!({ "count": 50 }))));
            assert!(h.settle(pending.as_mut()).is_none(), "JSON mode waits for the answer");
            assert_eq!(h.state.occupancy().calls, 1);
        } // the client hangs up
        h.latch.open();
        h.pump();
        assert_eq!(h.seen.take(), ["flood ended early"], "its first message failed at once");
        let occupancy = h.state.occupancy();
        assert_eq!(occupancy.calls, 0, "nothing runs: {occupancy:?}");
        assert_eq!(occupancy.sessions.live_streams, 0, "no stream was opened for nobody: {occupancy:?}");
        assert_eq!(occupancy.sessions.subscribers, 0);
        h.assert_works(&client);
    }

    async fn a_dropped_json_request_whose_handler_never_sends_just_ends() {
        let h = harness().config(|c| c.response_mode = ResponseMode::Json).build();
        let client = h.connect(V2025_11_25);
        {
            let mut pending = h.start(client.post(&tool_call(1, "until_cancelled", json!({}))));
            assert!(h.settle(pending.as_mut()).is_none());
        }
        h.pump();
        assert_eq!(h.seen.take(), ["started, cancelled=false", "woke, cancelled=true"]);
        assert_eq!(h.state.occupancy().calls, 0);
    }

    async fn an_sse_reply_survives_its_client_hanging_up() {
        // Contrast: an SSE reply (adaptive mode turns a waiting call into one) is resumable, so
        // a dropped connection is not a cancellation.
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let mut sse = expect_sse(h.send(client.post(&tool_call(1, "wait_then_log", json!({})))));
        let priming = h.read(&mut sse)[0].id.clone().unwrap();
        drop(sse);
        h.latch.open();
        h.pump();
        let mut resumed = expect_sse(h.send(client.get().last_event_id(&priming)));
        let frames = h.read_to_end(&mut resumed);
        assert_eq!(messages(&frames), [log_message("info", json!("late")), text_result(1, "waited")]);
    }
}
