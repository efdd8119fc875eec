//! A call that emits more than the live window is paced by a connected client that reads
//! slowly, loses nothing, and goes on without waiting once the client is gone (a dropped
//! connection is not a cancellation): what the window cannot hold is reported as lost on
//! resume. A paced call also ends with its session.

mod common;
mod support_http;

use http::StatusCode;
use serde_json::json;
use support_http::*;

const WINDOW: usize = 4;

fn windowed() -> Harness {
    harness().sessions(|b| b.replay_capacity(WINDOW)).build()
}

on_every_runtime! {
    async fn a_slow_reader_paces_the_call_and_loses_nothing() {
        let h = windowed();
        let client = h.connect(V2025_11_25);
        let mut call = expect_sse(h.send(client.post(&tool_call(1, "flood", json!({ "count": 10 })))));
        assert_eq!(h.state.metrics().events_published, WINDOW as u64, "the handler waits for the reader");
        assert_eq!(h.seen.take(), Vec::<String>::new());
        let frames = h.read_to_end(&mut call);
        assert_eq!(frames.len(), 12, "{frames:?}");
        assert_priming(&frames[0], 1, RETRY_MS);
        for (i, frame) in frames[1..11].iter().enumerate() {
            assert_message(frame, 1, i as u64 + 1, &log_message("info", json!(i)));
        }
        assert_message(&frames[11], 1, 11, &text_result(1, "sent 10"));
        assert_eq!(h.seen.take(), ["flood done"]);
        assert_eq!(h.state.metrics().events_reported_lost, 0);
    }

    async fn a_paced_call_goes_on_after_the_client_disconnects() {
        let h = windowed();
        let client = h.connect(V2025_11_25);
        let call = expect_sse(h.send(client.post(&tool_call(1, "flood", json!({ "count": 10 })))));
        assert_eq!(h.state.metrics().events_published, WINDOW as u64);
        drop(call);
        h.pump();
        assert_eq!(h.seen.take(), ["flood done"], "the call finishes without its client");
        assert_eq!(h.state.metrics().events_published, 11);

        // The client comes back: what the window could not hold is reported, the rest replayed.
        let mut resumed = expect_sse(h.send(client.get().last_event_id("1-0")));
        let frames = h.read_to_end(&mut resumed);
        assert_eq!(frames.len(), 6, "{frames:?}");
        assert_priming(&frames[0], 1, RETRY_MS);
        let lost = Frame { id: None, event: Some("lagged".into()), retry: None, data: r#"{"dropped":7}"#.into() };
        assert_eq!(frames[1], lost);
        for (i, frame) in frames[2..5].iter().enumerate() {
            assert_message(frame, 1, i as u64 + 8, &log_message("info", json!(i + 7)));
        }
        assert_message(&frames[5], 1, 11, &text_result(1, "sent 10"));
    }

    async fn a_paced_call_ends_with_its_session() {
        let h = windowed();
        let client = h.connect(V2025_11_25);
        let _call = expect_sse(h.send(client.post(&tool_call(1, "flood", json!({ "count": 10 })))));
        expect_empty(h.send(client.delete()), StatusCode::OK);
        assert_eq!(h.seen.take(), ["flood ended early"], "the handler is not left waiting forever");
        assert!(!h.pump());
    }
}
