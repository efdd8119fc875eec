//! SSE frames stay well-formed whatever a payload holds: a pre-serialized reply with line
//! breaks (`\n`, `\r\n`, a lone `\r`) becomes one `data:` line per line, which a client joins
//! back into the same JSON.
//!
//! Regression: only a `debug_assert` guarded the encoder, so in release a multi-line payload
//! split the frame and a `\r` ended the field early.

mod common;
mod support_http;

use http::StatusCode;
use mcp_session::http::headers::MCP_SESSION_ID;
use mcp_session::http::ResponseMode;
use serde_json::json;
use support_http::*;

on_every_runtime! {
    async fn a_pretty_printed_raw_reply_reaches_the_client_whole() {
        let h = harness().config(|c| c.response_mode = ResponseMode::Sse).build();
        let response = h.send(post(&initialize(1, V2025_11_25, json!({}))));
        let id = response.headers().get(MCP_SESSION_ID).unwrap().to_str().unwrap().to_owned();
        let mut init = expect_sse(response);
        h.read_to_end(&mut init);
        let client = Client { id, version: V2025_11_25.into(), owner: None };
        let mut call = expect_sse(h.send(client.post(&tool_call(2, "pretty", json!({})))));
        let frames = h.read_to_end(&mut call);
        assert_eq!(frames.len(), 2, "priming, then exactly one frame for the reply: {frames:?}");
        assert_eq!(frames[1].json(), text_result(2, "line one\nline two"));

        // The same reply as a JSON body is sent as is.
        let json_h = harness().build();
        let client = json_h.connect(V2025_11_25);
        let answer = expect_json(json_h.send(client.post(&tool_call(3, "pretty", json!({})))), StatusCode::OK);
        assert_eq!(answer, text_result(3, "line one\nline two"));
    }
}
