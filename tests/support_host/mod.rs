//! Helpers for the tests that run the real hosts: a server on `127.0.0.1:0` with a tool the test
//! holds and releases, and a raw HTTP/1.1 client over `std::net::TcpStream` that can misbehave
//! (stall a head or a body, never read, keep a connection idle).
//!
//! Host timeouts are the runtime's real timers, so scenarios use short ones (100–500 ms) and
//! assert outcomes (a status, a closed socket) within generous bounds, never durations. The
//! engine's own time is a `ManualClock` that nobody moves: sessions never expire mid-test.
#![allow(dead_code, unreachable_pub)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_timer::Delay;
use mcp_session::host::{HostConfig, Running};
use mcp_session::http::ResponseMode;
use mcp_session::model::{CallToolResult, Tool};
use mcp_session::{EngineConfig, EngineState, ManualClock, RequestContext, Server, Sessions};
use serde_json::{json, Value};

use crate::common::START;

/// Runs each `fn name(host) { .. }` once per host the build has.
#[macro_export]
macro_rules! on_every_host {
    ($(fn $name:ident($host:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn scenario($host: Host) $body

            #[cfg(feature = "tokio")]
            #[test]
            fn tokio() {
                scenario(Host::Tokio)
            }

            #[cfg(feature = "async-std")]
            #[test]
            fn async_std() {
                scenario(Host::AsyncStd)
            }
        }
    )*};
}

/// The longest any single wait of a test lasts: far above every timeout under test, so a slow
/// machine passes, and a broken host fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub const VERSION: &str = "2025-11-25";

#[derive(Clone, Copy, Debug)]
pub enum Host {
    #[cfg(feature = "tokio")]
    Tokio,
    #[cfg(feature = "async-std")]
    AsyncStd,
}

/// What the `hold` tool reports and waits for.
#[derive(Debug, Default)]
pub struct Hold {
    started: AtomicUsize,
    released: AtomicBool,
}

impl Hold {
    /// Waits (bounded) until `n` calls of `hold` have started.
    pub fn wait_started(&self, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.started.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "hold was not called {n} time(s)");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets every `hold` call answer.
    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }
}

/// A host serving a small MCP server: a tool `hold` that answers once the test releases it
/// (or after [`PATIENCE`]), JSON replies, the engine on a manual clock with no heartbeats.
pub struct TestServer {
    running: Option<Running>,
    pub addr: SocketAddr,
    pub hold: Arc<Hold>,
}

impl TestServer {
    pub fn start(host: Host, config: HostConfig) -> Self {
        Self::start_with(host, config, |_| {})
    }

    pub fn start_with(host: Host, config: HostConfig, engine: impl FnOnce(&mut EngineConfig)) -> Self {
        let mut engine_config = EngineConfig::default().response_mode(ResponseMode::Json);
        engine(&mut engine_config);
        let sessions = Sessions::builder().clock(ManualClock::new(START)).keep_alive(None).build();
        let state = Arc::new(EngineState::new(sessions, engine_config));
        let hold = Arc::new(Hold::default());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a local address");
        let make_server = {
            let hold = hold.clone();
            move || server(hold.clone())
        };
        let running = match host {
            #[cfg(feature = "tokio")]
            Host::Tokio => mcp_session::host::tokio::spawn_with(listener, state, make_server, config),
            #[cfg(feature = "async-std")]
            Host::AsyncStd => mcp_session::host::async_std::spawn_with(listener, state, make_server, config),
        }
        .expect("the host starts");
        Self { running: Some(running), addr, hold }
    }

    pub fn connect(&self) -> Conn {
        Conn::open(self.addr)
    }

    /// A new session, initialized.
    pub fn session(&self) -> String {
        let mut conn = self.connect();
        let response = conn.exchange(&mcp_post(None, &initialize()));
        assert_eq!(response.status, 200, "{response:?}");
        let id = response.header("mcp-session-id").expect("a session id").to_owned();
        let response =
            conn.exchange(&mcp_post(Some(&id), &json!({ "jsonrpc": "2.0", "method": "notifications/initialized" })));
        assert_eq!(response.status, 202, "{response:?}");
        id
    }

    /// Stops the host on another thread; join the handle to wait for the drain.
    pub fn stop_in_background(&mut self) -> std::thread::JoinHandle<()> {
        let running = self.running.take().expect("not stopped yet");
        std::thread::spawn(move || running.stop())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.hold.release();
        if let Some(running) = self.running.take() {
            running.stop();
        }
    }
}

fn server(hold: Arc<Hold>) -> Server {
    Server::builder("host-tests", "0.0.0")
        .tool(Tool::new("hold", "Answers once the test releases it"), move |_: Value, _: RequestContext| {
            let hold = hold.clone();
            async move {
                hold.started.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + PATIENCE;
                while !hold.released.load(Ordering::SeqCst) && Instant::now() < deadline {
                    Delay::new(Duration::from_millis(5)).await;
                }
                Ok(CallToolResult::text("released"))
            }
        })
        .build()
}

// ---------------------------------------------------------------------------------------------
// Requests

pub fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": VERSION, "capabilities": {}, "clientInfo": { "name": "host-tests", "version": "0" } },
    })
}

pub fn call_hold(id: u64) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": "hold", "arguments": {} } })
}

/// The head of a POST to the endpoint, without `Content-Length` or the blank line.
pub fn post_head(session: Option<&str>) -> String {
    let mut head = String::from(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n",
    );
    if let Some(id) = session {
        head.push_str(&format!("Mcp-Session-Id: {id}\r\nMCP-Protocol-Version: {VERSION}\r\n"));
    }
    head
}

/// A whole POST of `message`.
pub fn mcp_post(session: Option<&str>, message: &Value) -> Vec<u8> {
    let body = serde_json::to_vec(message).expect("JSON");
    let mut request = format!("{}Content-Length: {}\r\n\r\n", post_head(session), body.len()).into_bytes();
    request.extend_from_slice(&body);
    request
}

/// A GET opening the session's standalone SSE stream.
pub fn mcp_get(session: &str) -> Vec<u8> {
    format!(
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\
         Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: {VERSION}\r\n\r\n"
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The raw client

/// A response head, and its body when it has a `Content-Length`.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// One client connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
    /// Everything read so far, for assertions about what never came.
    pub received: Vec<u8>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        Self { reader: BufReader::new(stream), received: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    /// Sends a request and reads its reply.
    pub fn exchange(&mut self, request: &[u8]) -> Reply {
        self.send(request).expect("the request is sent");
        self.reply().expect("a reply")
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        let read = self.reader.read_until(b'\n', &mut line)?;
        self.received.extend_from_slice(&line);
        if read == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed"));
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
    }

    /// Reads a response head and, with `Content-Length`, its body. A chunked body (an SSE
    /// stream) is left to read.
    pub fn reply(&mut self) -> io::Result<Reply> {
        let status_line = self.line()?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, status_line.clone()))?;
        let mut headers = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let mut reply = Reply { status, headers, body: Vec::new() };
        if let Some(length) = reply.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            let mut body = vec![0; length];
            self.reader.read_exact(&mut body)?;
            self.received.extend_from_slice(&body);
            reply.body = body;
        }
        Ok(reply)
    }

    /// Reads whatever arrives until the connection closes (true) or nothing more has come for
    /// `quiet` (false).
    pub fn closes_within(&mut self, quiet: Duration) -> bool {
        self.reader.get_ref().set_read_timeout(Some(quiet)).expect("a read timeout");
        let deadline = Instant::now() + PATIENCE;
        let closed = loop {
            let mut buf = [0; 4096];
            match self.reader.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    break false
                }
                Err(_) => break true,
            }
            assert!(Instant::now() < deadline, "the server kept sending");
        };
        self.reader.get_ref().set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        closed
    }

    /// Reads until what has arrived contains `needle` (the end of a chunked body, say).
    pub fn read_until(&mut self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.received_contains(needle) {
            assert!(Instant::now() < deadline, "{needle:?} never came: {:?}", String::from_utf8_lossy(&self.received));
            assert!(
                !self.closes_within(Duration::from_millis(20)),
                "closed before {needle:?}: {:?}",
                String::from_utf8_lossy(&self.received)
            );
        }
    }

    /// Whether the connection closes within [`PATIENCE`].
    pub fn closes(&mut self) -> bool {
        self.closes_within(PATIENCE)
    }

    /// Whether anything read so far contains `needle`.
    pub fn received_contains(&self, needle: &str) -> bool {
        self.received.windows(needle.len()).any(|w| w == needle.as_bytes())
    }
}
