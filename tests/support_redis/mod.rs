//! A throwaway `redis-server` for the tests that need a real Redis.
//!
//! Each test binary starts its own server on a free loopback port, with persistence off and
//! `noeviction`, in a temporary directory, and kills it (by its PID) when dropped. Tests share it
//! by giving every store its own key prefix. Without `redis-server` on the `PATH` the tests say
//! so and pass, unless `MCP_REQUIRE_REDIS=1` (set by `scripts/test.sh`), which makes a missing
//! server a failure.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{Method, Request};
use mcp_session::http::headers::{MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use mcp_session::redis::{RedisStore, RedisStoreConfig};
use mcp_session::session::StorePolicy;
use serde_json::{json, Value};

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts one, or returns `None` (after saying why) when `redis-server` is not installed and
    /// the run does not require it.
    pub fn start() -> Option<Self> {
        let required = std::env::var_os("MCP_REQUIRE_REDIS").is_some_and(|v| v == "1");
        if Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_err() {
            assert!(!required, "MCP_REQUIRE_REDIS=1 but redis-server is not installed");
            eprintln!("redis-server is not installed: skipping (scripts/test.sh installs it)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("mcp-redis-{}-{}", std::process::id(), next()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let mut server = Self { child: None, port: 0, dir };
        server.launch(None);
        Some(server)
    }

    /// Starts the server (again), on `port` or a free one.
    fn launch(&mut self, port: Option<u16>) {
        for _ in 0..20 {
            let port = port.unwrap_or_else(free_port);
            let child = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
                .args(["--maxmemory", "256mb", "--maxmemory-policy", "noeviction", "--loglevel", "warning"])
                .args(["--daemonize", "no", "--dir"])
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            self.child = Some(child);
            self.port = port;
            if self.wait_ready() {
                return;
            }
            self.kill();
        }
        panic!("redis-server did not come up");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().ok().flatten().is_some() {
                    return false; // exited: most likely the port was taken meanwhile
                }
            }
            if self.ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (an outage).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty (persistence is off): a Redis restart.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port;
        self.launch(Some(port));
    }

    /// Runs one command through `redis-cli`, for assertions on what Redis holds.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// A store on this server under a prefix no other store of this process uses.
    pub async fn store<D>(&self, policy: StorePolicy) -> RedisStore<D> {
        self.store_at(&fresh_prefix(), policy).await
    }

    /// A store on this server under `prefix` (stores on one prefix are replicas of one service).
    pub async fn store_at<D>(&self, prefix: &str, policy: StorePolicy) -> RedisStore<D> {
        let mut config = RedisStoreConfig::default();
        config.prefix = prefix.to_owned();
        config.policy = policy;
        config.response_timeout = Duration::from_millis(500);
        config.connection_timeout = Duration::from_millis(500);
        RedisStore::connect(&self.url(), config).await.expect("connect to the test redis")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn next() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A key prefix unique to this process and call.
pub fn fresh_prefix() -> String {
    format!("t{}-{}", std::process::id(), next())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// The protocol revision the engine tests over Redis speak.
pub const VERSION: &str = "2025-11-25";

/// A request to an engine at `/mcp`, in the session era, with a JSON body if given.
pub fn request(method: Method, session: Option<&str>, body: Option<&Value>) -> Request<Bytes> {
    let mut builder = Request::builder()
        .method(method)
        .uri("/mcp")
        .header(HOST, "127.0.0.1")
        .header(ACCEPT, "application/json, text/event-stream")
        .header(MCP_PROTOCOL_VERSION, VERSION);
    if body.is_some() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    if let Some(session) = session {
        builder = builder.header(MCP_SESSION_ID, session);
    }
    builder.body(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()))).unwrap()
}

/// A `tools/call` request body.
pub fn call(id: u64, name: &str, arguments: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": name, "arguments": arguments } })
}

/// One SSE event: its id and its parsed data, if it has data.
#[derive(Debug)]
pub struct Event {
    pub id: Option<String>,
    pub data: Option<Value>,
}

impl Event {
    /// The event of one block of an SSE body (the text between two blank lines).
    pub fn parse(block: &str) -> Self {
        let mut event = Event { id: None, data: None };
        for line in block.lines() {
            if let Some(id) = line.strip_prefix("id: ") {
                event.id = Some(id.to_owned());
            } else if let Some(data) = line.strip_prefix("data: ") {
                event.data = serde_json::from_str(data).ok();
            }
        }
        event
    }
}
