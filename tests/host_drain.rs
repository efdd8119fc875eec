//! `Running::stop` drains on the real hosts: a request in flight when the host stops still gets
//! its answer, an idle keep-alive connection closes, an open SSE stream is cut once the drain
//! timeout is over, a `subscriptions/listen` stream ends with its result at once, and the
//! listener is gone when `stop` returns.
#![cfg(all(any(feature = "tokio", feature = "async-std"), not(target_family = "wasm")))]

mod common;
mod support_host;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use mcp_session::host::HostConfig;
use serde_json::json;
use support_host::*;

fn config(drain: Duration) -> HostConfig {
    HostConfig::default().workers(2).drain_timeout(drain)
}

fn wait_finished(stopping: std::thread::JoinHandle<()>) {
    let deadline = Instant::now() + PATIENCE;
    while !stopping.is_finished() {
        assert!(Instant::now() < deadline, "stop() did not return");
        std::thread::sleep(Duration::from_millis(10));
    }
    stopping.join().expect("stop() does not panic");
}

on_every_host! {
    fn a_request_in_flight_finishes_after_stop(host) {
        let mut server = TestServer::start(host, config(PATIENCE));
        let session = server.session();
        let mut idle = server.connect();
        assert_eq!(idle.exchange(&mcp_post(None, &initialize())).status, 200);
        let mut call = server.connect();
        call.send(&mcp_post(Some(&session), &call_hold(7))).unwrap();
        server.hold.wait_started(1);

        let stopping = server.stop_in_background();
        assert!(idle.closes(), "an idle keep-alive connection closes at once on stop");
        std::thread::sleep(Duration::from_millis(100));
        assert!(!stopping.is_finished(), "stop waits for the request in flight");
        server.hold.release();
        let reply = call.reply().expect("the answer arrives after stop");
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["result"]["content"][0]["text"], json!("released"));
        assert!(call.closes(), "and the connection closes after it");
        wait_finished(stopping);
        assert!(TcpStream::connect(server.addr).is_err(), "nothing listens once stop has returned");
    }

    fn an_open_sse_stream_is_cut_at_the_drain_timeout(host) {
        let mut server = TestServer::start(host, config(Duration::from_millis(300)));
        let session = server.session();
        let mut stream = server.connect();
        stream.send(&mcp_get(&session)).unwrap();
        assert_eq!(stream.reply().unwrap().status, 200);
        assert!(!stream.closes_within(Duration::from_millis(100)), "the stream is open");

        let stopping = server.stop_in_background();
        assert!(stream.closes(), "the stream is cut once the drain is over");
        wait_finished(stopping);
    }

    fn a_listen_stream_ends_with_its_result_when_the_host_stops(host) {
        let mut server = TestServer::start(host, config(PATIENCE));
        let listen = json!({ "jsonrpc": "2.0", "id": "L", "method": "subscriptions/listen", "params": {
            "notifications": { "toolsListChanged": true },
            "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {} } } });
        let body = serde_json::to_vec(&listen).unwrap();
        let mut request = format!(
            "{}MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: subscriptions/listen\r\nContent-Length: {}\r\n\r\n",
            post_head(None),
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let mut stream = server.connect();
        stream.send(&request).unwrap();
        stream.read_until("notifications/subscriptions/acknowledged");

        let stopping = server.stop_in_background();
        assert!(stream.closes(), "the stream ends long before the drain timeout");
        assert!(stream.received_contains(r#""id":"L","result""#), "with the listen request's result");
        assert!(stream.received_contains(r#""resultType":"complete"}}"#));
        assert!(stream.received_contains("\r\n0\r\n\r\n"), "a whole body, not a cut connection");
        wait_finished(stopping);
    }
}
