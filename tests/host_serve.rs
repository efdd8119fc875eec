//! The one-call `serve` of each host: every default, a real socket, a real client exchange.
#![cfg(all(any(feature = "tokio", feature = "async-std"), not(target_family = "wasm")))]

mod common;
mod support_host;

use mcp_session::host::Running;
use mcp_session::model::{CallToolResult, Tool};
use mcp_session::Server;
use serde_json::json;
use support_host::*;

fn greeter() -> Server {
    Server::builder("greeter", "1.0.0")
        .tool(Tool::new("hello", "Says hello"), |_args: serde_json::Value, _ctx| async move {
            Ok(CallToolResult::text("hello"))
        })
        .build()
}

fn serve(host: Host) -> Running {
    let served = match host {
        #[cfg(feature = "tokio")]
        Host::Tokio => mcp_session::host::tokio::serve("127.0.0.1:0", greeter),
        #[cfg(feature = "async-std")]
        Host::AsyncStd => mcp_session::host::async_std::serve("127.0.0.1:0", greeter),
    };
    served.expect("127.0.0.1 with a free port")
}

on_every_host! {
    fn serve_answers_with_every_default(host) {
        let running = serve(host);
        let mut conn = Conn::open(running.local_addr());
        let reply = conn.exchange(&mcp_post(None, &initialize()));
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["result"]["serverInfo"]["name"], "greeter");
        let session = reply.header("mcp-session-id").expect("a session").to_owned();

        let call = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": { "name": "hello", "arguments": {} } });
        let reply = conn.exchange(&mcp_post(Some(&session), &call));
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["result"]["content"][0]["text"], "hello", "{reply:?}");
        running.stop();
    }

    fn serve_reports_an_address_in_use(host) {
        let running = serve(host);
        let again = match host {
            #[cfg(feature = "tokio")]
            Host::Tokio => mcp_session::host::tokio::serve(running.local_addr(), greeter),
            #[cfg(feature = "async-std")]
            Host::AsyncStd => mcp_session::host::async_std::serve(running.local_addr(), greeter),
        };
        assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
        running.stop();
    }
}
