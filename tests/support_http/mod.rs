//! Helpers for the HTTP-level tests: an [`Engine`] over a manual clock whose spawned tasks run on
//! a local pool that the test pumps until nothing more can happen.
//!
//! Nothing here opens a socket, sleeps or reads the OS clock. Requests go straight into
//! [`Engine::handle`]; SSE bodies are read through their `Stream` impl. Because every task runs
//! in [`Harness::pump`], "stalled" is exact: after a pump, whatever a body has not yielded will
//! not come without a new input, so tests can assert that nothing else arrived.
//!
//! The helpers are synchronous. Scenarios still run under every runtime (and on wasm) through
//! `on_every_runtime!`, which shows that nothing in the engine needs one.
#![allow(dead_code, unreachable_pub)]

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures::executor::LocalPool;
use futures::task::{noop_waker, LocalSpawnExt};
use futures::{Stream, StreamExt};
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use mcp_session::http::headers::{LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, X_ACCEL_BUFFERING};
use mcp_session::http::{Authenticate, Unauthorized, Verdict};
use mcp_session::model::{CallToolResult, LogLevel, ReadResourceResult, Resource, ResourceContents, Tool};
use mcp_session::{
    Body, Engine, EngineConfig, EngineState, EventId, ManualClock, McpSession, MetricsSnapshot, Owner, Principal,
    RequestContext, Server, SessionId, SessionsBuilder, SpawnFn, TenantId, Timestamp,
};
use serde_json::{json, Value};

use crate::common;

/// The revisions, newest first.
pub const V2026_07_28: &str = "2026-07-28";
pub const V2025_11_25: &str = "2025-11-25";
pub const V2025_06_18: &str = "2025-06-18";
pub const V2025_03_26: &str = "2025-03-26";

// ---------------------------------------------------------------------------------------------
// The harness

/// Builds a [`Harness`]: default engine configuration, sessions on a manual clock with seeded
/// ids and no keep-alive heartbeats (so that advancing time only expires sessions).
pub struct HarnessBuilder {
    clock: ManualClock,
    config: EngineConfig,
    sessions: SessionsBuilder,
    server: Option<MakeServer>,
    auth: Box<dyn FnOnce(EngineState) -> EngineState>,
}

/// Builds the server a harness serves, given where its handlers note what they saw.
type MakeServer = Box<dyn FnOnce(&Seen) -> Server>;

pub fn harness() -> HarnessBuilder {
    let clock = common::clock();
    let sessions = common::builder(&clock).keep_alive(None);
    HarnessBuilder {
        clock,
        config: EngineConfig::default(),
        sessions,
        server: None,
        auth: Box::new(|state| state.with_authenticator(HeaderAuth)),
    }
}

impl HarnessBuilder {
    pub fn config(mut self, change: impl FnOnce(&mut EngineConfig)) -> Self {
        change(&mut self.config);
        self
    }

    pub fn sessions(mut self, change: impl FnOnce(SessionsBuilder) -> SessionsBuilder) -> Self {
        self.sessions = change(self.sessions);
        self
    }

    /// Serves this server instead of [`test_server`]; its handlers may note what they saw.
    pub fn server(mut self, make: impl FnOnce(&Seen) -> Server + 'static) -> Self {
        self.server = Some(Box::new(make));
        self
    }

    /// Authenticates with `auth` instead of [`HeaderAuth`].
    pub fn authenticator(mut self, auth: impl Authenticate) -> Self {
        self.auth = Box::new(move |state| state.with_authenticator(auth));
        self
    }

    pub fn build(self) -> Harness {
        let latch = Latch::default();
        let seen = Seen::default();
        let sessions = self.sessions.build::<McpSession>();
        let state = Arc::new((self.auth)(EngineState::new(sessions, self.config)));
        let pool = LocalPool::new();
        let spawner = pool.spawner();
        let polls = Rc::new(Cell::new(0));
        let counter = polls.clone();
        let spawn = SpawnFn(move |task: Pin<Box<dyn Future<Output = ()>>>| {
            let task = Counted { task, polls: counter.clone() };
            spawner.spawn_local(task).expect("the pool lives as long as the engine");
        });
        let server = match self.server {
            Some(make) => make(&seen),
            None => test_server(&latch, &seen, (&self.clock, &state)),
        };
        let engine = Engine::new(state.clone(), server, spawn);
        Harness { clock: self.clock, state, engine, latch, seen, pool: RefCell::new(pool), polls }
    }
}

/// A spawned task that counts its polls, so that a pump knows whether anything ran.
struct Counted {
    task: Pin<Box<dyn Future<Output = ()>>>,
    polls: Rc<Cell<u64>>,
}

impl Future for Counted {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        self.task.as_mut().poll(cx)
    }
}

/// An engine, its shared state and clock, and the local pool its tasks run on.
pub struct Harness {
    pub clock: ManualClock,
    pub state: Arc<EngineState>,
    pub engine: Engine,
    /// Opened by the test; the `wait*` tools wait for it.
    pub latch: Latch,
    /// What handlers observed.
    pub seen: Seen,
    pool: RefCell<LocalPool>,
    polls: Rc<Cell<u64>>,
}

/// The observable state a refused request must leave alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub sessions: usize,
    pub metrics: MetricsSnapshot,
}

impl Harness {
    /// Runs every spawned task until none can make progress. Returns whether any task ran.
    pub fn pump(&self) -> bool {
        let before = self.polls.get();
        self.pool.borrow_mut().run_until_stalled();
        self.polls.get() != before
    }

    /// Polls `future`, pumping the tasks in between, until it completes or nothing can move it
    /// any more (then `None`: it waits for an input from the test).
    pub fn settle<F: Future + ?Sized>(&self, mut future: Pin<&mut F>) -> Option<F::Output> {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return Some(output);
            }
            if !self.pump() {
                return match future.as_mut().poll(&mut cx) {
                    Poll::Ready(output) => Some(output),
                    Poll::Pending => None,
                };
            }
        }
    }

    /// Runs `future` to completion; panics if it waits for something no task will do.
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        self.settle(pin!(future)).expect("stalled: the future waits for an input the test never gives")
    }

    /// One HTTP request through the engine; returns once the response is ready and every task
    /// the request set going has run as far as it can.
    pub fn send(&self, request: Req) -> Response<Body> {
        let response = self.run(self.engine.handle(request.build()));
        self.pump();
        response
    }

    /// A request whose answer may wait for the test (poll it with [`Harness::settle`]).
    pub fn start(&self, request: Req) -> Pin<Box<dyn Future<Output = Response<Body>> + '_>> {
        Box::pin(self.engine.handle(request.build()))
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot { sessions: self.state.sessions().len(), metrics: self.state.metrics() }
    }

    /// When the session was last used, as its store records it (`None` once it is gone).
    pub fn last_seen(&self, client: &Client) -> Option<Timestamp> {
        self.state.sessions().store().session(client.session_id()).map(|stored| stored.record.last_seen)
    }

    /// `initialize` at `version` with no client capabilities, then `notifications/initialized`.
    pub fn connect(&self, version: &str) -> Client {
        self.connect_with(version, json!({}), None)
    }

    /// `initialize` with these capabilities as `owner` (tenant, user), then
    /// `notifications/initialized`; asserts both succeed.
    pub fn connect_with(&self, version: &str, capabilities: Value, owner: Option<(&str, &str)>) -> Client {
        let mut request = post(&initialize(1, version, capabilities));
        if let Some((tenant, user)) = owner {
            request = request.owner(tenant, user);
        }
        let response = self.send(request);
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers().get(MCP_SESSION_ID).expect("initialize issues a session id");
        let id = id.to_str().unwrap().to_owned();
        let body = expect_json(response, StatusCode::OK);
        assert_eq!(body["result"]["protocolVersion"], json!(version), "{body}");
        let client = Client { id, version: version.to_owned(), owner: owner.map(|(t, u)| (t.into(), u.into())) };
        expect_empty(self.send(client.post(&notification("notifications/initialized", None))), StatusCode::ACCEPTED);
        client
    }

    /// Asserts `client`'s session still answers a ping with JSON.
    pub fn assert_works(&self, client: &Client) {
        let response = self.send(client.post(&request(900, "ping", None)));
        assert_eq!(expect_json(response, StatusCode::OK), json!({ "jsonrpc": "2.0", "id": 900, "result": {} }));
    }

    /// Asserts a refused request left everything as it was: the session count, every metric,
    /// and `client`'s session, which still works.
    pub fn assert_unchanged(&self, before: &Snapshot, client: &Client) {
        assert_eq!(&self.snapshot(), before, "a refused request changed the engine's state");
        self.assert_works(client);
        assert_eq!(&self.snapshot(), before, "a ping changed the engine's state");
    }

    /// Everything the SSE body yields until the engine stalls.
    pub fn read(&self, sse: &mut Sse) -> Vec<Frame> {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            let ran = self.pump();
            let mut read = false;
            while !sse.ended {
                match sse.body.poll_next_unpin(&mut cx) {
                    Poll::Ready(Some(chunk)) => {
                        sse.buffer.push_str(std::str::from_utf8(&chunk).expect("SSE bodies are UTF-8"));
                        read = true;
                    }
                    Poll::Ready(None) => sse.ended = true,
                    Poll::Pending => break,
                }
            }
            if !ran && !read {
                break;
            }
        }
        let mut frames = Vec::new();
        while let Some(end) = sse.buffer.find("\n\n") {
            let text: String = sse.buffer.drain(..end + 2).collect();
            frames.push(Frame::parse(&text[..end]));
        }
        frames
    }

    /// Reads an SSE body to its end; panics if it stays open.
    pub fn read_to_end(&self, sse: &mut Sse) -> Vec<Frame> {
        let frames = self.read(sse);
        assert!(sse.ended, "the stream is still open after {frames:?}");
        assert!(sse.buffer.is_empty(), "a partial frame: {:?}", sse.buffer);
        frames
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication by header

/// `x-tenant` and `x-user` name the owner (absent: the default tenant, anonymous); `x-deny`
/// refuses the request with a challenge.
pub struct HeaderAuth;

pub const CHALLENGE: &str = "Bearer realm=\"mcp\"";

impl Authenticate for HeaderAuth {
    fn authenticate<'a>(&'a self, request: &'a http::request::Parts) -> Verdict<'a> {
        header_owner(request).into()
    }
}

/// The owner [`HeaderAuth`] reads from the headers.
pub fn header_owner(request: &http::request::Parts) -> Result<Owner, Unauthorized> {
    if request.headers.contains_key("x-deny") {
        return Err(Unauthorized { challenge: Some(CHALLENGE.into()) });
    }
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let tenant = header("x-tenant").map_or_else(TenantId::default_tenant, TenantId::new);
    let principal = header("x-user").map_or_else(Principal::anonymous, Principal::new);
    Ok(Owner::new(tenant, principal))
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// Opened once by the test; every waiter wakes.
#[derive(Clone, Default)]
pub struct Latch(Rc<LatchInner>);

#[derive(Default)]
struct LatchInner {
    open: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Latch {
    pub fn open(&self) {
        self.0.open.set(true);
        for waker in self.0.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.0.open.get() {
                Poll::Ready(())
            } else {
                self.0.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Notes handlers leave for the test.
#[derive(Clone, Default)]
pub struct Seen(Rc<RefCell<Vec<String>>>);

impl Seen {
    pub fn note(&self, note: impl Into<String>) {
        self.0.borrow_mut().push(note.into());
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

pub const WATCHED: &str = "test://watched";

/// Notes `flood ended early` if the handler holding it stops before it is done.
struct Unfinished {
    seen: Seen,
    done: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.done {
            self.seen.note("flood ended early");
        }
    }
}

/// Logs `count` messages, then notes `flood done`; `guard` notes an early end instead. The guard
/// is made by the caller before the handler's future exists, so a future dropped before its
/// first poll is noted too.
async fn flood(
    ctx: &RequestContext,
    count: u64,
    mut guard: Unfinished,
) -> Result<CallToolResult, mcp_session::jsonrpc::ErrorObject> {
    for i in 0..count {
        ctx.log(LogLevel::Info, Some("test"), json!(i)).await.map_err(failed)?;
    }
    guard.done = true;
    guard.seen.note("flood done");
    Ok(CallToolResult::text(format!("sent {count}")))
}

fn failed(error: impl std::fmt::Display) -> mcp_session::jsonrpc::ErrorObject {
    mcp_session::jsonrpc::ErrorObject::internal(format!("could not send: {error}"))
}

/// Tools that answer at once, emit, wait for the latch, ask the client, wait to be cancelled,
/// or move the clock past every session's idle timeout and run expiry (the caller's own session
/// included).
pub fn test_server(latch: &Latch, seen: &Seen, (clock, state): (&ManualClock, &Arc<EngineState>)) -> Server {
    let (latch1, latch2, latch3, latch4) = (latch.clone(), latch.clone(), latch.clone(), latch.clone());
    let (seen1, seen2, seen3) = (seen.clone(), seen.clone(), seen.clone());
    let (clock, state) = (clock.clone(), state.clone());
    Server::builder("http-tests", "0.0.0")
        .tool(Tool::new("echo", "Returns `text`"), |args: Value, _| async move {
            Ok(CallToolResult::text(args["text"].as_str().unwrap_or_default()))
        })
        .tool(Tool::new("log_once", "Logs `hello` at info, then returns"), |_, ctx: RequestContext| async move {
            ctx.log(LogLevel::Info, Some("test"), json!("hello")).await.map_err(failed)?;
            Ok(CallToolResult::text("logged once"))
        })
        .tool(Tool::new("log_levels", "Logs at debug, info, warning and error"), |_, ctx: RequestContext| async move {
            for level in [LogLevel::Debug, LogLevel::Info, LogLevel::Warning, LogLevel::Error] {
                ctx.log(level, Some("test"), json!(level)).await.map_err(failed)?;
            }
            Ok(CallToolResult::text("logged"))
        })
        .tool(Tool::new("progress", "Reports 1 of 2, then returns"), |_, ctx: RequestContext| async move {
            ctx.progress(1.0, Some(2.0), Some("half")).await.map_err(failed)?;
            Ok(CallToolResult::text(format!("wants progress: {}", ctx.wants_progress())))
        })
        .tool(Tool::new("wait", "Waits for the latch"), move |_, _| {
            let latch = latch1.clone();
            async move {
                latch.wait().await;
                Ok(CallToolResult::text("waited"))
            }
        })
        .tool(Tool::new("wait_then_log", "Waits for the latch, logs `late`, returns"), move |_, ctx: RequestContext| {
            let latch = latch2.clone();
            async move {
                latch.wait().await;
                ctx.log(LogLevel::Info, Some("test"), json!("late")).await.map_err(failed)?;
                Ok(CallToolResult::text("waited"))
            }
        })
        .tool(Tool::new("notify_session", "Sends `data` on the session's GET stream"), |args: Value, ctx: RequestContext| async move {
            let params = json!({ "level": "info", "data": args["data"] });
            ctx.notify_session("notifications/message", params).await.map_err(failed)?;
            Ok(CallToolResult::text("notified"))
        })
        .tool(Tool::new("sample", "Asks the client's model"), |_, ctx: RequestContext| async move {
            let params = json!({ "messages": [{ "role": "user", "content": { "type": "text", "text": "hi" } }], "maxTokens": 10 });
            Ok(match ctx.create_message(params).await {
                Ok(result) => CallToolResult::text(format!("sampled: {}", result["content"]["text"].as_str().unwrap_or("?"))),
                Err(error) => CallToolResult::error(format!("sampling failed: {error}")),
            })
        })
        .tool(Tool::new("elicit", "Asks the user"), |_, ctx: RequestContext| async move {
            let params = json!({ "message": "Name?", "requestedSchema": { "type": "object", "properties": { "name": { "type": "string" } } } });
            Ok(match ctx.elicit(params).await {
                Ok(answer) => CallToolResult::text(format!("elicited: {} {}", answer["action"].as_str().unwrap_or("?"), answer["content"])),
                Err(error) => CallToolResult::error(format!("elicitation failed: {error}")),
            })
        })
        .tool(Tool::new("wait_then_ask", "Waits for the latch, then asks the user's name"), move |_, ctx: RequestContext| {
            let latch = latch4.clone();
            async move {
                latch.wait().await;
                let answer = ctx.input("name").elicit(json!({ "message": "Name?", "requestedSchema": { "type": "object" } })).await?;
                Ok(CallToolResult::text(format!("Hello, {}!", answer["content"]["name"].as_str().unwrap_or("?"))))
            }
        })
        .tool(Tool::new("ask_name", "Asks the user's name under input key `name`"), |_, ctx: RequestContext| async move {
            let params = json!({ "message": "Name?", "requestedSchema": { "type": "object", "properties": { "name": { "type": "string" } } } });
            let answer = ctx.input("name").elicit(params).await?;
            Ok(CallToolResult::text(format!("Hello, {}!", answer["content"]["name"].as_str().unwrap_or("?"))))
        })
        .tool(
            Tool::new("regional", "Echoes `region`, which clients mirror into Mcp-Param-Region").input_schema(json!({
                "type": "object",
                "properties": { "region": { "type": "string", "x-mcp-header": "Region" } },
            })),
            |args: Value, _| async move { Ok(CallToolResult::text(format!("region {}", args["region"].as_str().unwrap_or("?")))) },
        )
        .tool(Tool::new("until_cancelled", "Waits until cancelled"), move |_, ctx: RequestContext| {
            let seen = seen1.clone();
            async move {
                seen.note(format!("started, cancelled={}", ctx.is_cancelled()));
                ctx.cancelled().await;
                seen.note(format!("woke, cancelled={}", ctx.is_cancelled()));
                Ok(CallToolResult::text("finished anyway"))
            }
        })
        .tool(Tool::new("flood", "Logs `count` messages, then returns"), move |args: Value, ctx: RequestContext| {
            let guard = Unfinished { seen: seen2.clone(), done: false };
            async move { flood(&ctx, args["count"].as_u64().unwrap_or(0), guard).await }
        })
        .tool(Tool::new("wait_then_flood", "Waits for the latch, then logs `count` messages"), move |args: Value, ctx: RequestContext| {
            let latch = latch3.clone();
            let guard = Unfinished { seen: seen3.clone(), done: false };
            async move {
                latch.wait().await;
                flood(&ctx, args["count"].as_u64().unwrap_or(0), guard).await
            }
        })
        .tool(Tool::new("pretty", "Answers with pre-serialized, pretty-printed JSON"), |_, _| async move {
            let text = "{\r\n  \"content\": [\n    {\"type\": \"text\", \"text\": \"line one\\nline two\"}\r  ]\n}";
            Ok(mcp_session::server::Reply::raw(text))
        })
        .resource(Resource::new(WATCHED, "watched").mime_type("text/plain"), |uri, _| async move {
            Ok(ReadResourceResult::new(vec![ResourceContents::text(uri, "text/plain", "watched")]))
        })
        .tool(Tool::new("expire_everything", "Moves time a day ahead and expires sessions"), move |_, _| {
            let (clock, state) = (clock.clone(), state.clone());
            async move {
                clock.advance(std::time::Duration::from_secs(24 * 60 * 60));
                state.handle_timeout().await;
                Ok(CallToolResult::text("expired"))
            }
        })
        .build()
}

// ---------------------------------------------------------------------------------------------
// Requests

/// An HTTP request to the engine, with the headers a well-behaved client sends.
pub struct Req(Request<Bytes>);

fn base(method: Method, body: Bytes) -> Req {
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = "/mcp".parse().unwrap();
    request.headers_mut().insert(HOST, HeaderValue::from_static("localhost:3000"));
    Req(request)
}

/// A request of the sessionless era (2026-07-28): `params._meta` carries the revision and
/// `capabilities`, and the headers mirror the body as a well-behaved client's do.
pub fn modern(id: impl Into<Value>, method: &str, params: Value, capabilities: Value) -> Req {
    let mut params = params;
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!(V2026_07_28);
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    let name =
        params.get(if method == "resources/read" { "uri" } else { "name" }).and_then(Value::as_str).map(str::to_owned);
    let mut req = post(&json!({ "jsonrpc": "2.0", "id": id.into(), "method": method, "params": params }))
        .version(V2026_07_28)
        .header("mcp-method", method);
    if let Some(name) = name {
        req = req.header("mcp-name", &name);
    }
    req
}

/// A POST of one JSON message (or batch).
pub fn post(message: &Value) -> Req {
    post_raw(serde_json::to_vec(message).unwrap())
}

/// A POST of these bytes, declared as JSON.
pub fn post_raw(body: impl Into<Bytes>) -> Req {
    base(Method::POST, body.into())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
}

/// A GET asking for the standalone stream.
pub fn get() -> Req {
    base(Method::GET, Bytes::new()).header("accept", "text/event-stream")
}

pub fn delete() -> Req {
    base(Method::DELETE, Bytes::new())
}

impl Req {
    /// Sets a header, replacing any value it had.
    /// The body.
    pub fn body(&self) -> &[u8] {
        self.0.body()
    }

    /// Replaces the body with `message`.
    pub fn body_json(mut self, message: &Value) -> Self {
        *self.0.body_mut() = Bytes::from(serde_json::to_vec(message).unwrap());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
        self.0.headers_mut().insert(name, HeaderValue::from_str(value).expect("a valid header value"));
        self
    }

    /// Sets a header to raw bytes; skipped if they cannot be a header value.
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            self.0.headers_mut().insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
        self
    }

    pub fn remove(mut self, name: &str) -> Self {
        self.0.headers_mut().remove(name);
        self
    }

    pub fn method(mut self, method: Method) -> Self {
        *self.0.method_mut() = method;
        self
    }

    pub fn uri(mut self, uri: &str) -> Self {
        *self.0.uri_mut() = uri.parse().expect("a valid URI");
        self
    }

    pub fn session(self, id: &str) -> Self {
        self.header(MCP_SESSION_ID.as_str(), id)
    }

    pub fn version(self, version: &str) -> Self {
        self.header(MCP_PROTOCOL_VERSION.as_str(), version)
    }

    pub fn last_event_id(self, id: &str) -> Self {
        self.header(LAST_EVENT_ID.as_str(), id)
    }

    pub fn owner(self, tenant: &str, user: &str) -> Self {
        self.header("x-tenant", tenant).header("x-user", user)
    }

    pub fn build(self) -> Request<Bytes> {
        self.0
    }
}

/// A session as a client holds it: its id, its revision, and who it is.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub version: String,
    pub owner: Option<(String, String)>,
}

impl Client {
    fn decorate(&self, request: Req) -> Req {
        let request = request.session(&self.id).version(&self.version);
        match &self.owner {
            Some((tenant, user)) => request.owner(tenant, user),
            None => request,
        }
    }

    pub fn post(&self, message: &Value) -> Req {
        self.decorate(post(message))
    }

    pub fn post_raw(&self, body: impl Into<Bytes>) -> Req {
        self.decorate(post_raw(body))
    }

    pub fn get(&self) -> Req {
        self.decorate(get())
    }

    pub fn delete(&self) -> Req {
        self.decorate(delete())
    }

    pub fn session_id(&self) -> SessionId {
        self.id.parse().expect("the engine issues well-formed ids")
    }
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC messages

pub fn request(id: impl Into<Value>, method: &str, params: Option<Value>) -> Value {
    let mut message = json!({ "jsonrpc": "2.0", "id": id.into(), "method": method });
    if let Some(params) = params {
        message["params"] = params;
    }
    message
}

pub fn notification(method: &str, params: Option<Value>) -> Value {
    let mut message = json!({ "jsonrpc": "2.0", "method": method });
    if let Some(params) = params {
        message["params"] = params;
    }
    message
}

pub fn initialize(id: impl Into<Value>, version: &str, capabilities: Value) -> Value {
    let params = json!({
        "protocolVersion": version,
        "capabilities": capabilities,
        "clientInfo": { "name": "http-tests", "version": "0.0.0" },
    });
    request(id, "initialize", Some(params))
}

pub fn tool_call(id: impl Into<Value>, name: &str, arguments: Value) -> Value {
    request(id, "tools/call", Some(json!({ "name": name, "arguments": arguments })))
}

/// The response a successful `tools/call` returns with one text block.
pub fn text_result(id: impl Into<Value>, text: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id.into(), "result": { "content": [{ "type": "text", "text": text }] } })
}

/// The response a failing tool returns (a result with `isError`).
pub fn error_result(id: impl Into<Value>, text: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.into(),
        "result": { "content": [{ "type": "text", "text": text }], "isError": true },
    })
}

/// `notifications/message` as `ctx.log(level, Some("test"), data)` sends it.
pub fn log_message(level: &str, data: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": "notifications/message", "params": { "level": level, "logger": "test", "data": data } })
}

// ---------------------------------------------------------------------------------------------
// Responses

fn content_type(response: &Response<Body>) -> Option<&str> {
    response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap())
}

/// The whole of a non-streaming body.
pub fn body_bytes(body: Body) -> Bytes {
    assert!(!body.is_stream(), "expected a complete body, got a stream");
    let mut body = pin!(body);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut out = Vec::new();
    loop {
        match body.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(chunk)) => out.extend_from_slice(&chunk),
            Poll::Ready(None) => return out.into(),
            Poll::Pending => panic!("a complete body is never pending"),
        }
    }
}

/// Asserts a JSON response with `status` and returns its body.
#[track_caller]
pub fn expect_json(response: Response<Body>, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "headers: {:?}", response.headers());
    assert_eq!(content_type(&response), Some("application/json"));
    let bytes = body_bytes(response.into_body());
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

/// Asserts `status` with no body and no content type.
#[track_caller]
pub fn expect_empty(response: Response<Body>, status: StatusCode) {
    assert_eq!(response.status(), status);
    assert_eq!(content_type(&response), None);
    assert!(response.headers().get(MCP_SESSION_ID).is_none());
    assert_eq!(body_bytes(response.into_body()), Bytes::new());
}

/// Asserts a transport refusal: `status`, and a JSON-RPC error -32000 without id saying `message`.
#[track_caller]
pub fn expect_refusal(response: Response<Body>, status: StatusCode, message: &str) {
    assert!(response.headers().get(MCP_SESSION_ID).is_none());
    let temporary = matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE);
    let retry_after = response.headers().get(http::header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(retry_after.is_some(), temporary, "Retry-After on {status} ({message}): {retry_after:?}");
    if let Some(seconds) = retry_after {
        assert!(seconds.parse::<u64>().is_ok_and(|s| s >= 1), "whole seconds: {seconds}");
    }
    let body = expect_json(response, status);
    assert_eq!(body, json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32000, "message": message } }));
}

/// Asserts a 405 that names the allowed methods.
#[track_caller]
pub fn expect_method_not_allowed(response: Response<Body>, allow: &str) {
    assert_eq!(response.headers().get(ALLOW).map(|v| v.to_str().unwrap()), Some(allow));
    expect_refusal(response, StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
}

/// The body clients parse on 404: re-initialize.
pub fn session_not_found_body() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": -32001,
            "message": "Session not found",
            "data": { "error": "session_expired", "retry": "re-initialize" },
        },
    })
}

#[track_caller]
pub fn expect_session_not_found(response: Response<Body>) {
    assert_eq!(expect_json(response, StatusCode::NOT_FOUND), session_not_found_body());
}

/// Asserts an SSE response and returns its body for [`Harness::read`].
#[track_caller]
pub fn expect_sse(response: Response<Body>) -> Sse {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), Some("text/event-stream"));
    assert_eq!(response.headers().get(CACHE_CONTROL).unwrap(), "no-cache, no-transform");
    assert_eq!(response.headers().get(X_ACCEL_BUFFERING).unwrap(), "no");
    let body = response.into_body();
    assert!(body.is_stream());
    Sse { body, buffer: String::new(), ended: false }
}

/// An SSE response body being read.
pub struct Sse {
    body: Body,
    buffer: String,
    pub ended: bool,
}

/// One SSE event as a client parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub retry: Option<u64>,
    pub data: String,
}

impl Frame {
    pub fn parse(text: &str) -> Self {
        let mut frame = Frame { id: None, event: None, retry: None, data: String::new() };
        let mut data: Vec<&str> = Vec::new();
        for line in text.split('\n') {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => frame.id = Some(value.to_owned()),
                "event" => frame.event = Some(value.to_owned()),
                "retry" => frame.retry = Some(value.parse().expect("retry is a number")),
                "data" => data.push(value),
                "" => {} // a comment
                other => panic!("unknown SSE field {other:?} in {text:?}"),
            }
        }
        frame.data = data.join("\n");
        frame
    }

    /// The event id, parsed.
    pub fn event_id(&self) -> EventId {
        self.id.as_deref().expect("an id").parse().expect("a well-formed event id")
    }

    /// The message this frame carries.
    #[track_caller]
    pub fn json(&self) -> Value {
        assert!(!self.data.is_empty(), "an empty frame: {self:?}");
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    pub fn is_priming(&self) -> bool {
        self.id.is_some() && self.retry.is_some() && self.data.is_empty() && self.event.is_none()
    }
}

/// Asserts `frame` primes a fresh stream `stream` (an id before any message, the retry, empty
/// data).
#[track_caller]
pub fn assert_priming(frame: &Frame, stream: u32, retry_ms: u64) {
    assert_priming_after(frame, stream, 0, retry_ms);
}

/// Asserts `frame` primes stream `stream` at message `seq`: resuming from its id is resuming
/// after that message.
#[track_caller]
pub fn assert_priming_after(frame: &Frame, stream: u32, seq: u64, retry_ms: u64) {
    assert!(frame.is_priming(), "not a priming event: {frame:?}");
    assert_eq!(frame.retry, Some(retry_ms));
    let id = frame.event_id();
    assert_eq!(id.stream().number(), stream, "{frame:?}");
    assert_eq!(id.seq(), seq, "{frame:?}");
    assert!(id.is_marker(), "{frame:?}");
}

/// Asserts `frame` is message `seq` of stream `stream` carrying `message`.
#[track_caller]
pub fn assert_message(frame: &Frame, stream: u32, seq: u64, message: &Value) {
    assert_eq!(frame.id.as_deref(), Some(format!("{stream}-{seq}").as_str()), "{frame:?}");
    assert_eq!((frame.event.as_deref(), frame.retry), (None, None), "{frame:?}");
    assert_eq!(&frame.json(), message);
}

/// The messages of these frames (priming and other empty frames skipped).
pub fn messages(frames: &[Frame]) -> Vec<Value> {
    frames.iter().filter(|f| !f.data.is_empty()).map(Frame::json).collect()
}

/// Whether `text` is 32 lowercase hex digits.
pub fn is_session_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The default `retry` of priming events, in milliseconds.
pub const RETRY_MS: u64 = 1000;
