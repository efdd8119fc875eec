//! The hosts hold under hostile clients, each scenario on the real tokio and async-std hosts over
//! real sockets: a slow or silent request head is cut, an idle keep-alive connection is closed
//! (but not one streaming SSE, and not by the head timeout), a slow body gets 408, bodies beyond
//! the host's budget get 503 with `Retry-After` until the budget is given back, an oversized
//! `Expect: 100-continue` upload gets 413 without `100 Continue`, and the connection cap makes
//! further clients wait until a connection closes.
#![cfg(all(any(feature = "tokio", feature = "async-std"), not(target_family = "wasm")))]

mod common;
mod support_host;

use std::time::Duration;

use mcp_session::host::HostConfig;
use mcp_session::http::ResponseMode;
use serde_json::json;
use support_host::*;

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Short timeouts everywhere, so that each scenario changes only what it tests.
fn config() -> HostConfig {
    HostConfig::default()
        .workers(1)
        .header_read_timeout(PATIENCE * 2)
        .idle_timeout(PATIENCE * 2)
        .body_read_timeout(PATIENCE * 2)
        .drain_timeout(ms(200))
}

on_every_host! {
    fn a_silent_connection_is_cut_after_the_header_timeout(host) {
        let server = TestServer::start(host, config().header_read_timeout(ms(200)));
        let mut conn = server.connect();
        assert!(conn.closes(), "a connection that sends nothing is closed");
        assert!(conn.received.is_empty(), "without an answer: {:?}", String::from_utf8_lossy(&conn.received));
    }

    fn a_trickled_request_head_is_cut_after_the_header_timeout(host) {
        let server = TestServer::start(host, config().header_read_timeout(ms(200)));
        let mut conn = server.connect();
        conn.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
        // A header line every 50 ms keeps the socket busy but never completes the head.
        let mut cut = false;
        for i in 0..100 {
            if conn.send(format!("X-Trickle-{i}: x\r\n").as_bytes()).is_err() || conn.closes_within(ms(50)) {
                cut = true;
                break;
            }
        }
        assert!(cut, "a head trickled for 5 s is still being read");
        assert!(conn.received.is_empty(), "without an answer: {:?}", String::from_utf8_lossy(&conn.received));
        // A prompt client is unaffected.
        let mut prompt = server.connect();
        assert_eq!(prompt.exchange(&mcp_post(None, &initialize())).status, 200);
    }

    fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(host) {
        let server = TestServer::start(host, config().idle_timeout(ms(300)));
        let mut conn = server.connect();
        assert_eq!(conn.exchange(&mcp_post(None, &initialize())).status, 200);
        assert!(conn.closes(), "an idle keep-alive connection is closed");
    }

    fn the_header_timeout_does_not_cut_an_idle_keep_alive_connection(host) {
        let server = TestServer::start(host, config().header_read_timeout(ms(150)));
        let mut conn = server.connect();
        assert_eq!(conn.exchange(&mcp_post(None, &initialize())).status, 200);
        assert!(!conn.closes_within(ms(600)), "idle for four header timeouts, and still open");
        assert_eq!(conn.exchange(&mcp_post(None, &initialize())).status, 200, "the next request is served");
    }

    fn a_connection_streaming_sse_is_not_idle(host) {
        let config = config().idle_timeout(ms(200));
        let server = TestServer::start_with(host, config, |engine| engine.response_mode = ResponseMode::Adaptive);
        let session = server.session();
        let mut get = server.connect();
        get.send(&mcp_get(&session)).unwrap();
        let head = get.reply().unwrap();
        assert_eq!(head.status, 200, "{head:?}");
        assert_eq!(head.header("content-type"), Some("text/event-stream"));

        // A call that waits answers on an SSE stream; the connection is reused after it ends.
        let mut call = server.connect();
        call.send(&mcp_post(Some(&session), &call_hold(2))).unwrap();
        let head = call.reply().unwrap();
        assert_eq!(head.header("content-type"), Some("text/event-stream"), "{head:?}");
        assert!(!call.closes_within(ms(800)), "an open SSE reply outlives four idle timeouts");
        server.hold.release();
        call.read_until("0\r\n\r\n");
        assert!(call.received_contains("released"));
        assert_eq!(call.exchange(&mcp_post(None, &initialize())).status, 200, "the connection is still kept alive");

        assert!(!get.closes_within(ms(100)), "the standalone stream is open all along");
    }

    fn a_slow_body_gets_408_and_the_connection_closes(host) {
        let server = TestServer::start(host, config().body_read_timeout(ms(300)));
        let mut conn = server.connect();
        let head = format!("{}Content-Length: 100\r\n\r\n{{\"jsonrpc\":", post_head(None));
        conn.send(head.as_bytes()).unwrap();
        let reply = conn.reply().unwrap();
        assert_eq!(reply.status, 408, "{reply:?}");
        assert_eq!(reply.header("connection"), Some("close"));
        assert!(conn.closes());
    }

    fn a_body_over_the_budget_gets_503_until_the_budget_is_released(host) {
        let server = TestServer::start_with(host, config().body_budget_bytes(1000), |engine| engine.max_body_bytes = 950);
        // A slow upload declares 900 bytes and holds them.
        let mut slow = server.connect();
        slow.send(format!("{}Content-Length: 900\r\n\r\n{{", post_head(None)).as_bytes()).unwrap();
        let body = serde_json::to_vec(&initialize()).unwrap();
        assert!(body.len() > 100 && body.len() <= 950, "the test's body fits the limit but not the rest of the budget");

        let mut declared = server.connect();
        let reply = declared.exchange(&mcp_post(None, &initialize()));
        assert_eq!(reply.status, 503, "{reply:?}");
        assert!(reply.header("retry-after").is_some(), "{reply:?}");
        assert!(declared.closes());

        let mut chunked = server.connect();
        let mut request = format!("{}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n", post_head(None), body.len()).into_bytes();
        request.extend_from_slice(&body);
        request.extend_from_slice(b"\r\n0\r\n\r\n");
        let reply = chunked.exchange(&request);
        assert_eq!(reply.status, 503, "a chunked body is counted as it arrives: {reply:?}");
        assert!(reply.header("retry-after").is_some(), "{reply:?}");

        // The slow client gives up: its bytes go back to the budget.
        drop(slow);
        let mut served = None;
        for _ in 0..100 {
            let mut conn = server.connect();
            let reply = conn.exchange(&mcp_post(None, &initialize()));
            if reply.status != 503 {
                served = Some(reply.status);
                break;
            }
            std::thread::sleep(ms(20));
        }
        assert_eq!(served, Some(200), "the budget is released once the slow body's request ends");
    }

    fn an_oversized_expect_100_continue_gets_413_without_100_continue(host) {
        let server = TestServer::start_with(host, config(), |engine| engine.max_body_bytes = 1000);
        let mut conn = server.connect();
        conn.send(format!("{}Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n", post_head(None)).as_bytes()).unwrap();
        let reply = conn.reply().unwrap();
        assert_eq!(reply.status, 413, "{reply:?}");
        assert!(conn.closes());
        assert!(!conn.received_contains("100 Continue"), "{:?}", String::from_utf8_lossy(&conn.received));

        // The control: a body within the limit is invited, then served.
        let body = serde_json::to_vec(&initialize()).unwrap();
        let mut conn = server.connect();
        let head = format!("{}Content-Length: {}\r\nExpect: 100-continue\r\n\r\n", post_head(None), body.len());
        conn.send(head.as_bytes()).unwrap();
        assert_eq!(conn.reply().unwrap().status, 100);
        assert_eq!(conn.exchange(&body).status, 200);
    }

    fn at_the_connection_cap_a_new_client_waits_until_one_closes(host) {
        let server = TestServer::start(host, config().workers(2).max_connections(2));
        let mut first = server.connect();
        let mut second = server.connect();
        assert_eq!(first.exchange(&mcp_post(None, &initialize())).status, 200);
        assert_eq!(second.exchange(&mcp_post(None, &initialize())).status, 200);
        let mut third = server.connect();
        third.send(&mcp_post(None, &initialize())).unwrap();
        assert!(!third.closes_within(ms(500)), "the third connection waits in the backlog");
        assert!(third.received.is_empty(), "and is not served: {:?}", String::from_utf8_lossy(&third.received));
        drop(first);
        let reply = third.reply().expect("served once a place is free");
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["result"]["protocolVersion"], json!(VERSION));
        assert_eq!(second.exchange(&mcp_post(None, &initialize())).status, 200, "the others are untouched");
    }
}
