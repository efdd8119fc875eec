//! The hosts answer `GET` at `HostConfig::metrics_path` with the engine's Prometheus text,
//! beside the MCP endpoint, and leave every other path to the engine.
#![cfg(all(any(feature = "tokio", feature = "async-std"), not(target_family = "wasm")))]

mod common;
mod support_host;

use mcp_session::host::HostConfig;
use support_host::*;

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

on_every_host! {
    fn the_metrics_path_answers_the_scrape(host) {
        let server = TestServer::start(host, HostConfig::default().workers(1).metrics_path(Some("/metrics")));
        server.session();
        let mut conn = server.connect();
        let reply = conn.exchange(&get("/metrics"));
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
        let text = String::from_utf8(reply.body).unwrap();
        assert!(text.lines().any(|line| line == "mcp_sessions_created_total 1"), "{text}");
        assert!(text.lines().any(|line| line == "mcp_request_duration_seconds_count 2"), "{text}");

        let post = b"POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
        let reply = conn.exchange(post);
        assert_eq!((reply.status, reply.header("allow")), (405, Some("GET")), "{reply:?}");
        // The scrape is the host's: it is not an answer of the engine, so not counted by it.
        let text = String::from_utf8(conn.exchange(&get("/metrics")).body).unwrap();
        assert!(text.lines().any(|line| line == "mcp_request_duration_seconds_count 2"), "{text}");
        assert!(!text.contains("mcp_requests_rejected_total{"), "{text}");
    }

    fn without_a_metrics_path_every_path_is_the_engines(host) {
        let server = TestServer::start(host, HostConfig::default().workers(1));
        let reply = server.connect().exchange(&get("/metrics"));
        assert_eq!(reply.status, 404, "the engine's answer off its endpoint: {reply:?}");
        assert_eq!(reply.json()["jsonrpc"], "2.0");
    }
}
