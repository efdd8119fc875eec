//! A deliberately small HTTP/1.1 and MCP client on blocking `std::net` sockets: every byte on
//! the wire is the suite's choice, so it can stall, trickle or reset where a real client library
//! would not let it.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The protocol revision the suite speaks: its GET streams start with a priming event, so a
/// reader learns a resumable id before any message arrives.
pub const PROTOCOL: &str = "2025-11-25";

/// Why a step of a scenario failed, in words for the report.
#[derive(Debug)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Self(format!("i/o: {error}"))
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

/// A response's status line and headers.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn is_sse(&self) -> bool {
        self.header("content-type").is_some_and(|v| v.starts_with("text/event-stream"))
    }

    fn framing(&self) -> Framing {
        if self.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            Framing::ChunkSize
        } else if let Some(length) = self.header("content-length").and_then(|v| v.parse().ok()) {
            Framing::Length(length)
        } else {
            Framing::UntilClose
        }
    }
}

/// Where the body of the response being read ends, and how far reading it has got.
#[derive(Clone, Copy, Debug)]
enum Framing {
    /// `Content-Length`: this many bytes left.
    Length(usize),
    /// Chunked: before a size line, inside a chunk (bytes left), before a chunk's CRLF, in the
    /// trailer section.
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailer,
    /// Until the server closes the connection.
    UntilClose,
    Done,
}

/// Parses a status line and headers, if `bytes` holds all of them; returns them with the
/// length of the head.
pub fn parse_head(bytes: &[u8]) -> Option<(Head, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Some((Head { status, headers }, end))
}

/// One SSE event as a client sees it.
#[derive(Debug, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// The message sequence number of the id (`<stream>-<seq>[.<tick>]`).
    pub fn seq(&self) -> Option<u64> {
        let id = self.id.as_deref()?;
        let (_, rest) = id.split_once('-')?;
        rest.split('.').next()?.parse().ok()
    }

    /// The JSON-RPC message it carries, if any.
    pub fn message(&self) -> Option<Value> {
        if self.data.is_empty() || self.event.as_deref().is_some_and(|e| e != "message") {
            return None;
        }
        serde_json::from_str(&self.data).ok()
    }
}

/// A client connection: a socket and the bytes read from it but not yet used.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    framing: Framing,
    sse_line: Vec<u8>,
    sse_event: SseEvent,
}

impl Conn {
    /// Connects with `timeout` for the connect and for every later read and write.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        Self::from_stream(stream, timeout)
    }

    /// Wraps an already connected socket.
    pub fn from_stream(stream: TcpStream, timeout: Duration) -> io::Result<Self> {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
            framing: Framing::Length(0),
            sse_line: Vec::new(),
            sse_event: SseEvent::default(),
        })
    }

    /// Sends one request. `headers` are complete lines without the line ending.
    pub fn send(&mut self, method: &str, headers: &[String], body: &[u8]) -> io::Result<()> {
        let mut out = format!("{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for header in headers {
            out.push_str(header);
            out.push_str("\r\n");
        }
        if method == "POST" {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads a response's head and prepares to read its body.
    pub fn read_head(&mut self) -> io::Result<Head> {
        loop {
            if let Some((head, len)) = parse_head(&self.buf) {
                self.buf.drain(..len);
                self.framing = head.framing();
                self.sse_line.clear();
                self.sse_event = SseEvent::default();
                return Ok(head);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a response"));
            }
        }
    }

    /// The next bytes of the body; `None` at its end.
    fn body_bytes(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match self.framing {
                Framing::Length(0) | Framing::Done => return Ok(None),
                Framing::Length(left) | Framing::ChunkData(left) if !self.buf.is_empty() => {
                    let n = left.min(self.buf.len());
                    self.framing = match self.framing {
                        Framing::Length(_) => Framing::Length(left - n),
                        _ if n == left => Framing::ChunkEnd,
                        _ => Framing::ChunkData(left - n),
                    };
                    return Ok(Some(self.buf.drain(..n).collect()));
                }
                Framing::UntilClose if !self.buf.is_empty() => return Ok(Some(std::mem::take(&mut self.buf))),
                Framing::ChunkEnd | Framing::ChunkSize | Framing::Trailer => {
                    if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                        self.buf.drain(..end + 2);
                        self.framing = match self.framing {
                            Framing::ChunkEnd => Framing::ChunkSize,
                            Framing::ChunkSize => {
                                let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
                                if size == 0 {
                                    Framing::Trailer
                                } else {
                                    Framing::ChunkData(size)
                                }
                            }
                            _ if line.is_empty() => Framing::Done,
                            _ => Framing::Trailer,
                        };
                        continue;
                    }
                }
                _ => {}
            }
            if self.fill()? == 0 {
                if matches!(self.framing, Framing::UntilClose) {
                    self.framing = Framing::Done;
                    return Ok(None);
                }
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a body"));
            }
        }
    }

    /// The whole body.
    pub fn read_body(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        while let Some(bytes) = self.body_bytes()? {
            body.extend_from_slice(&bytes);
        }
        Ok(body)
    }

    /// The next SSE event of the body; `None` when the stream ends.
    pub fn next_event(&mut self) -> io::Result<Option<SseEvent>> {
        loop {
            while let Some(at) = self.sse_line.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.sse_line.drain(..=at).collect();
                let line = String::from_utf8_lossy(&line[..line.len() - 1]);
                let line = line.strip_suffix('\r').unwrap_or(&line);
                if line.is_empty() {
                    let event = std::mem::take(&mut self.sse_event);
                    if event.id.is_some() || event.event.is_some() || !event.data.is_empty() {
                        return Ok(Some(event));
                    }
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => self.sse_event.id = Some(value.to_owned()),
                    "event" => self.sse_event.event = Some(value.to_owned()),
                    "data" => {
                        if !self.sse_event.data.is_empty() {
                            self.sse_event.data.push('\n');
                        }
                        self.sse_event.data.push_str(value);
                    }
                    _ => {}
                }
            }
            match self.body_bytes()? {
                Some(bytes) => self.sse_line.extend_from_slice(&bytes),
                None => return Ok(None),
            }
        }
    }

    /// Resets the connection instead of closing it: SO_LINGER 0, then close, so the peer gets
    /// an RST with data still in flight.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
    }
}

/// An MCP client over one keep-alive connection, reconnecting when the server closed it.
pub struct Client {
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<Conn>,
    pub session: Option<String>,
    auth: Option<String>,
    next_id: u64,
}

/// What a POST got back.
pub struct Reply {
    pub head: Head,
    /// The JSON-RPC messages of the body (one for JSON, all data events for SSE).
    pub messages: Vec<Value>,
}

impl Reply {
    /// The `result` of the response to request `id`, or why there is none.
    pub fn result(&self, id: u64) -> Result<&Value, Failure> {
        if self.head.status != 200 {
            return Err(format!("HTTP {}", self.head.status).into());
        }
        let answer = self
            .messages
            .iter()
            .find(|m| m.get("id").and_then(Value::as_u64) == Some(id) && m.get("method").is_none())
            .ok_or("no response to the request")?;
        answer.get("result").ok_or_else(|| Failure(format!("error {}", answer["error"])))
    }
}

impl Client {
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Self { addr, timeout, conn: None, session: None, auth: None, next_id: 1 }
    }

    /// Authenticates as `tenant:principal` with the example's demo bearer tokens.
    pub fn with_owner(mut self, tenant: &str, principal: &str) -> Self {
        self.auth = Some(format!("{tenant}:{principal}"));
        self
    }

    fn headers(&self, accept: &str) -> Vec<String> {
        let mut headers = vec![format!("Accept: {accept}")];
        if let Some(session) = &self.session {
            headers.push(format!("Mcp-Session-Id: {session}"));
            headers.push(format!("MCP-Protocol-Version: {PROTOCOL}"));
        }
        if let Some(auth) = &self.auth {
            headers.push(format!("Authorization: Bearer {auth}"));
        }
        headers
    }

    /// POSTs one JSON-RPC message and reads the whole reply (JSON or SSE).
    pub fn post(&mut self, message: &Value) -> Result<Reply, Failure> {
        let mut headers = self.headers("application/json, text/event-stream");
        headers.push("Content-Type: application/json".into());
        let body = serde_json::to_vec(message).map_err(|e| Failure(e.to_string()))?;
        let exchange = |conn: &mut Conn| conn.send("POST", &headers, &body).and_then(|()| conn.read_head());
        // A kept-alive connection the server closed while it was idle fails before any answer,
        // and the request never reached the server: send it again on a new one. A timeout is
        // not that, and is not retried.
        let closed = |e: &io::Error| {
            use io::ErrorKind::*;
            matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe)
        };
        let reused = match self.conn.take() {
            Some(mut conn) => match exchange(&mut conn) {
                Ok(head) => Some((conn, head)),
                Err(e) if closed(&e) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let (mut conn, head) = match reused {
            Some(done) => done,
            None => {
                let mut conn = Conn::connect(self.addr, self.timeout)?;
                let head = exchange(&mut conn)?;
                (conn, head)
            }
        };
        let mut messages = Vec::new();
        if head.is_sse() {
            while let Some(event) = conn.next_event()? {
                messages.extend(event.message());
            }
        } else {
            let body = conn.read_body()?;
            if let Ok(value) = serde_json::from_slice(&body) {
                messages.push(value);
            }
        }
        if !head.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.conn = Some(conn);
        }
        Ok(Reply { head, messages })
    }

    /// Sends a request and returns its id with the reply.
    pub fn request(&mut self, method: &str, params: Value) -> Result<(u64, Reply), Failure> {
        let id = self.next_id;
        self.next_id += 1;
        let reply = self.post(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))?;
        Ok((id, reply))
    }

    /// `initialize` only (a bare session, as a flood would make). Returns the reply head so a
    /// refusal can be inspected.
    pub fn initialize(&mut self) -> Result<Head, Failure> {
        let params = json!({
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": { "name": "fault-suite", "version": "0.1.0" },
        });
        let (id, reply) = self.request("initialize", params)?;
        if reply.head.status == 200 {
            reply.result(id)?;
            let session = reply.head.header("mcp-session-id").ok_or("initialize: no Mcp-Session-Id")?;
            self.session = Some(session.to_owned());
        }
        Ok(reply.head)
    }

    /// `initialize` then `notifications/initialized`: a session as a real client opens it.
    pub fn open(&mut self) -> Result<(), Failure> {
        let head = self.initialize()?;
        if head.status != 200 {
            return Err(format!("initialize: HTTP {}", head.status).into());
        }
        let reply = self.post(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))?;
        if reply.head.status != 202 {
            return Err(format!("notifications/initialized: HTTP {}", reply.head.status).into());
        }
        Ok(())
    }

    /// `tools/call`; returns the result's first text.
    pub fn call(&mut self, tool: &str, arguments: Value) -> Result<String, Failure> {
        let (id, reply) = self.request("tools/call", json!({ "name": tool, "arguments": arguments }))?;
        let result = reply.result(id).map_err(|f| Failure(format!("{tool}: {f}")))?;
        Ok(result["content"][0]["text"].as_str().unwrap_or_default().to_owned())
    }

    /// Opens the session's GET stream on a connection of its own, with a small receive buffer
    /// when `stall` (so a reader that stops reading stalls the server soon, instead of the
    /// kernel absorbing megabytes), and reads its head.
    pub fn open_stream(&self, last_event_id: Option<&str>, stall: bool) -> Result<Conn, Failure> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        if stall {
            socket.set_recv_buffer_size(4096)?;
        }
        socket.connect_timeout(&self.addr.into(), self.timeout)?;
        let mut conn = Conn::from_stream(socket.into(), self.timeout)?;
        let mut headers = self.headers("text/event-stream");
        if let Some(id) = last_event_id {
            headers.push(format!("Last-Event-ID: {id}"));
        }
        conn.send("GET", &headers, b"")?;
        let head = conn.read_head()?;
        if head.status != 200 || !head.is_sse() {
            return Err(format!("GET stream: HTTP {}", head.status).into());
        }
        Ok(conn)
    }

    /// Starts a `tools/call` asking for progress on a connection of its own and reads the
    /// reply's head, leaving the body unread: the caller decides how much of the stream to take
    /// before hanging up.
    pub fn start_call(&self, tool: &str, arguments: Value, token: u64) -> Result<(Head, Conn), Failure> {
        let mut conn = Conn::connect(self.addr, self.timeout)?;
        let mut headers = self.headers("application/json, text/event-stream");
        headers.push("Content-Type: application/json".into());
        let params = json!({ "name": tool, "arguments": arguments, "_meta": { "progressToken": token } });
        let message = json!({ "jsonrpc": "2.0", "id": token, "method": "tools/call", "params": params });
        conn.send("POST", &headers, message.to_string().as_bytes())?;
        let head = conn.read_head()?;
        Ok((head, conn))
    }

    /// The largest `count` the `notify` tool declares, if it declares one.
    pub fn notify_maximum(&mut self) -> Result<Option<u64>, Failure> {
        let (id, reply) = self.request("tools/list", json!({}))?;
        let tools = reply.result(id)?["tools"].as_array().cloned().unwrap_or_default();
        let notify = tools.iter().find(|t| t["name"] == "notify").ok_or("no notify tool")?;
        Ok(notify["inputSchema"]["properties"]["count"]["maximum"].as_u64())
    }
}

/// What the suite asks of a server after (and during) every fault: a fresh client gets in and
/// a tool answers. Returns how long that took.
pub fn probe(addr: SocketAddr, timeout: Duration) -> Result<Duration, Failure> {
    let started = Instant::now();
    let mut client = Client::new(addr, timeout);
    client.open()?;
    let text = client.call("echo", json!({ "text": "still here" }))?;
    if text != "still here" {
        return Err(format!("echo answered {text:?}").into());
    }
    Ok(started.elapsed())
}
