//! `Engine::handle` on arbitrary sequences of requests, clock moves, stream reads and hang-ups
//! against one live engine (manual clock, seeded session ids, a local pool as the spawner, pumped
//! after every step).
//!
//! Checked on every response: no panic, a status the engine documents, a JSON body that is a
//! JSON-RPC message or batch, SSE chunks made of well-formed frames. Checked at the end: once
//! every waiting tool is released and every session issued is deleted, every stream ends and the
//! engine holds nothing (no session, stream, subscriber, hold, call, client request or watch).
#![no_main]

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use futures::executor::LocalPool;
use futures::task::{noop_waker, LocalSpawnExt};
use futures::StreamExt;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST, ORIGIN};
use http::{Method, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use mcp_session::http::headers::{LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use mcp_session::http::{Authenticate, ResponseMode, Unauthorized, Verdict};
use mcp_session::model::{CallToolResult, LogLevel, ReadResourceResult, Resource, ResourceContents, Tool};
use mcp_session::{
    Body, Change, ChangeEvent, Engine, EngineConfig, EngineState, EventId, ManualClock, McpSession, Owner, Principal,
    RequestContext, Server, SessionId, SessionIdGenerator, Sessions, SpawnFn, TenantId, Timestamp,
};
use serde_json::{json, Value};

const WATCHED: &str = "test://watched";
const RETRY_MS: u64 = 1000;
const VERSIONS: [&str; 4] = ["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];
/// What `Msg::Sessionless` calls, by index (some the sessionless era does not have).
const SESSIONLESS_METHODS: [&str; 8] = [
    "server/discover",
    "subscriptions/listen",
    "tools/list",
    "tools/call",
    "resources/read",
    "prompts/list",
    "initialize",
    "ping",
];
/// Every status [`Engine::handle`] documents.
const STATUSES: [u16; 14] = [200, 202, 400, 401, 403, 404, 405, 406, 408, 409, 413, 415, 429, 503];

// ---------------------------------------------------------------------------------------------
// The input

#[derive(Arbitrary, Debug)]
struct Input {
    config: Config,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
struct Config {
    mode: Mode,
    stateless: bool,
    activity_holds: bool,
    keep_alive: bool,
    ending: Ending,
}

/// How the client leaves at the end of the input, before the engine is checked for leftovers.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ending {
    /// Every waiting tool is released, then every session deleted.
    Release,
    /// Every session is deleted while its tools still wait: the deletion must end them.
    Delete,
    /// The client hangs up on every stream and response, then deletes every session.
    HangUp,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Mode {
    Adaptive,
    Json,
    Sse,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// A request; its response is checked when it is ready (at once, or after a later step).
    Send(Box<Req>),
    /// Time passes, then the host runs the timers.
    Advance(Wait),
    /// The client reads up to `chunks` chunks of an open SSE body.
    Read { body: u8, chunks: u8 },
    /// The client hangs up on an SSE body.
    DropBody { body: u8 },
    /// The client hangs up before a response came.
    DropPending { pending: u8 },
    /// Every `wait` tool running now finishes.
    Release,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Wait {
    Second,
    /// A keep-alive interval.
    Heartbeat,
    /// Past the initialization timeout.
    Minute,
    /// Past the idle timeout.
    HalfHour,
    /// Past the absolute timeout.
    FiveHours,
    Millis(u16),
}

impl Wait {
    fn duration(self) -> Duration {
        match self {
            Self::Second => Duration::from_secs(1),
            Self::Heartbeat => Duration::from_secs(15),
            Self::Minute => Duration::from_secs(61),
            Self::HalfHour => Duration::from_secs(31 * 60),
            Self::FiveHours => Duration::from_secs(5 * 3600),
            Self::Millis(ms) => Duration::from_millis(ms.into()),
        }
    }
}

/// The value of a `u8` that turns a rare variation on (a wrong path, a refused authorization),
/// so that most requests get past it.
const RARE: u8 = 0x5a;

#[derive(Arbitrary, Debug)]
struct Req {
    method: MethodChoice,
    /// `RARE`: a path other than the endpoint's.
    odd_path: u8,
    accept: Header<AcceptChoice>,
    content_type: Header<()>,
    host: Header<HostChoice>,
    origin: Option<Header<HostChoice>>,
    version: Option<Header<u8>>,
    session: SessionChoice,
    last_event_id: Option<LastEventIdChoice>,
    tenant: Option<u8>,
    /// `RARE`: the authenticator refuses the request.
    deny: u8,
    /// `Mcp-Method` and `Mcp-Name` as a 2026-07-28 client derives them from the body (and, for a
    /// sessionless message, `MCP-Protocol-Version: 2026-07-28`); otherwise absent.
    routing: bool,
    body: BodyChoice,
}

#[derive(Arbitrary, Debug)]
enum MethodChoice {
    Get,
    Post,
    Delete,
    Put,
    Options,
}

/// A header: mostly the well-formed value `T` picks, sometimes absent or raw bytes (left out if
/// they cannot be a header value). The first byte chooses: below 16 absent, below 32 raw.
#[derive(Debug)]
enum Header<T> {
    Absent,
    Usual(T),
    Raw(Vec<u8>),
}

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for Header<T> {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u8::arbitrary(u)? {
            0..16 => Self::Absent,
            16..32 => Self::Raw(Vec::arbitrary(u)?),
            _ => Self::Usual(T::arbitrary(u)?),
        })
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum AcceptChoice {
    Both,
    Json,
    EventStream,
    Any,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum HostChoice {
    Localhost,
    Loopback,
    Ipv6,
    Foreign,
}

/// `Mcp-Session-Id`: mostly one of the ids this run was issued (by index). The first byte
/// chooses: below 32 none, below 48 any hex id, below 64 raw bytes.
#[derive(Debug)]
enum SessionChoice {
    None,
    Issued(u8),
    Hex(u128),
    Raw(Vec<u8>),
}

impl<'a> Arbitrary<'a> for SessionChoice {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u8::arbitrary(u)? {
            0..32 => Self::None,
            32..48 => Self::Hex(u128::arbitrary(u)?),
            48..64 => Self::Raw(Vec::arbitrary(u)?),
            _ => Self::Issued(u8::arbitrary(u)?),
        })
    }
}

#[derive(Arbitrary, Debug)]
enum LastEventIdChoice {
    /// One of the ids this run read from a stream (by index).
    Seen(u8),
    Made {
        stream: u8,
        seq: u8,
        tick: u8,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum BodyChoice {
    Empty,
    Raw(Vec<u8>),
    One(Msg),
    Batch(Vec<Msg>),
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Initialize {
        id: IdChoice,
        version: u8,
        capabilities: bool,
    },
    Initialized,
    Ping(IdChoice),
    ToolsList(IdChoice),
    Call {
        id: IdChoice,
        tool: ToolChoice,
        count: u8,
        progress: bool,
    },
    Cancel(IdChoice),
    /// The client's answer to the server's request number `id`.
    Answer {
        id: u8,
        error: bool,
    },
    SetLevel {
        id: IdChoice,
        level: u8,
    },
    Subscribe(IdChoice),
    Unsubscribe(IdChoice),
    ReadResource(IdChoice),
    Other {
        id: Option<IdChoice>,
        method: String,
        params: Option<String>,
    },
    /// A request of the sessionless era (2026-07-28).
    Sessionless {
        id: IdChoice,
        method: u8,
        tool: ToolChoice,
        count: u8,
        /// 0: the full envelope, 1: no capabilities, 2: an unserved revision, 3: logs asked for,
        /// 4: input capabilities declared, anything else: an envelope that is not an object.
        envelope: u8,
        /// `inputResponses` and `requestState` of a retry (free text, mostly refused).
        retry: Option<(bool, String)>,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum IdChoice {
    Number(u8),
    Text(u8),
    Null,
}

impl IdChoice {
    fn json(self) -> Value {
        match self {
            Self::Number(n) => json!(n % 8),
            Self::Text(n) => json!(format!("r{}", n % 8)),
            Self::Null => Value::Null,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ToolChoice {
    Echo,
    Notify,
    Wait,
    WaitThenLog,
    Ask,
    CloseStream,
    Announce,
    Missing,
}

impl ToolChoice {
    fn name(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::Notify => "notify",
            Self::Wait => "wait",
            Self::WaitThenLog => "wait_then_log",
            Self::Ask => "ask",
            Self::CloseStream => "close_stream",
            Self::Announce => "announce",
            Self::Missing => "missing",
        }
    }
}

impl Msg {
    fn json(&self) -> Value {
        let request = |id: &IdChoice, method: &str, params: Value| json!({ "jsonrpc": "2.0", "id": id.json(), "method": method, "params": params });
        match self {
            Self::Initialize { id, version, capabilities } => {
                let version = VERSIONS.get(usize::from(*version)).copied().unwrap_or("2024-11-05");
                let capabilities =
                    if *capabilities { json!({ "sampling": {}, "elicitation": {}, "roots": {} }) } else { json!({}) };
                request(
                    id,
                    "initialize",
                    json!({
                        "protocolVersion": version,
                        "capabilities": capabilities,
                        "clientInfo": { "name": "fuzz", "version": "0.0.0" },
                    }),
                )
            }
            Self::Initialized => json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
            Self::Ping(id) => request(id, "ping", json!({})),
            Self::ToolsList(id) => request(id, "tools/list", json!({})),
            Self::Call { id, tool, count, progress } => {
                let mut params = json!({ "name": tool.name(), "arguments": { "count": count % 16 } });
                if *progress {
                    params["_meta"] = json!({ "progressToken": "p" });
                }
                request(id, "tools/call", params)
            }
            Self::Cancel(id) => json!({
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": { "requestId": id.json(), "reason": "fuzz" },
            }),
            Self::Answer { id, error } => {
                let id = u64::from(id % 8) + 1;
                if *error {
                    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -1, "message": "no" } })
                } else {
                    json!({ "jsonrpc": "2.0", "id": id, "result": { "action": "accept", "content": { "name": "x" } } })
                }
            }
            Self::SetLevel { id, level } => {
                let levels = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency", "loud"];
                request(id, "logging/setLevel", json!({ "level": levels[usize::from(*level) % levels.len()] }))
            }
            Self::Subscribe(id) => request(id, "resources/subscribe", json!({ "uri": WATCHED })),
            Self::Unsubscribe(id) => request(id, "resources/unsubscribe", json!({ "uri": WATCHED })),
            Self::ReadResource(id) => request(id, "resources/read", json!({ "uri": WATCHED })),
            Self::Sessionless { id, method, tool, count, envelope, retry } => {
                let method = SESSIONLESS_METHODS[usize::from(*method) % SESSIONLESS_METHODS.len()];
                let mut meta = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                });
                match envelope {
                    0 => {}
                    1 => drop(meta.as_object_mut().map(|m| m.remove("io.modelcontextprotocol/clientCapabilities"))),
                    2 => meta["io.modelcontextprotocol/protocolVersion"] = json!("v999"),
                    3 => meta["io.modelcontextprotocol/logLevel"] = json!("info"),
                    4 => {
                        meta["io.modelcontextprotocol/clientCapabilities"] =
                            json!({ "elicitation": {}, "sampling": {} })
                    }
                    _ => meta = json!(["io.modelcontextprotocol/protocolVersion"]),
                }
                let mut params = match method {
                    "tools/call" => json!({ "name": tool.name(), "arguments": { "count": count % 16 } }),
                    "resources/read" => json!({ "uri": WATCHED }),
                    "subscriptions/listen" => json!({ "notifications": { "toolsListChanged": true } }),
                    _ => json!({}),
                };
                params["_meta"] = meta;
                if let Some((answered, state)) = retry {
                    if *answered {
                        params["inputResponses"] = json!({ "elicitation-1": { "action": "accept", "content": {} } });
                    }
                    params["requestState"] = json!(state);
                }
                request(id, method, params)
            }
            Self::Other { id, method, params } => {
                let mut message = json!({ "jsonrpc": "2.0", "method": method });
                if let Some(id) = id {
                    message["id"] = id.json();
                }
                if let Some(params) = params {
                    message["params"] = serde_json::from_str(params).unwrap_or_else(|_| json!(params));
                }
                message
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The engine under test

/// `x-tenant` names the tenant; `x-deny` refuses the request.
struct HeaderAuth;

impl Authenticate for HeaderAuth {
    fn authenticate<'a>(&'a self, request: &'a http::request::Parts) -> Verdict<'a> {
        if request.headers.contains_key("x-deny") {
            return Err(Unauthorized { challenge: Some("Bearer".into()) }).into();
        }
        let tenant = request.headers.get("x-tenant").and_then(|v| v.to_str().ok());
        let tenant = tenant.map_or_else(TenantId::default_tenant, TenantId::new);
        Ok(Owner::new(tenant, Principal::anonymous())).into()
    }
}

/// Wakes every `wait` tool running when the test releases it.
#[derive(Clone, Default)]
struct Gate(Rc<GateInner>);

#[derive(Default)]
struct GateInner {
    generation: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Gate {
    fn release(&self) {
        self.0.generation.set(self.0.generation.get() + 1);
        for waker in self.0.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Waits for the next release, or for the call to be cancelled.
    async fn wait(&self, ctx: &RequestContext) {
        let start = self.0.generation.get();
        let released = poll_fn(|cx| {
            if self.0.generation.get() != start {
                Poll::Ready(())
            } else {
                self.0.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        });
        futures::pin_mut!(released);
        let cancelled = ctx.cancelled();
        futures::pin_mut!(cancelled);
        futures::future::select(released, cancelled).await;
    }
}

/// The gate a waiting tool waits on: a session's tools wait for [`Step::Release`] (and must end
/// when their session does); tools of requests without a session wait for the end of the run.
fn gate_of<'a>(ctx: &RequestContext, gates: &'a (Gate, Gate)) -> &'a Gate {
    if ctx.session_id().is_some() {
        &gates.0
    } else {
        &gates.1
    }
}

fn server(gate: &Gate, free: &Gate) -> Server {
    let gates = Rc::new((gate.clone(), free.clone()));
    let (gate1, gate2) = (gates.clone(), gates);
    Server::builder("fuzz", "0.0.0")
        .tool(Tool::new("echo", "Answers at once"), |_, _| async move { Ok(CallToolResult::text("echo")) })
        .tool(Tool::new("notify", "Logs and reports progress `count` times"), |args: Value, ctx: RequestContext| {
            async move {
                for i in 0..args["count"].as_u64().unwrap_or(0) {
                    // A session ended mid-call refuses what its handler sends.
                    let _ = ctx.log(LogLevel::Info, Some("fuzz"), json!(i)).await;
                    let _ = ctx.progress(i as f64, None, None).await;
                }
                Ok(CallToolResult::text("notified"))
            }
        })
        .tool(Tool::new("wait", "Waits for a release"), move |_, ctx: RequestContext| {
            let gates = gate1.clone();
            async move {
                gate_of(&ctx, &gates).wait(&ctx).await;
                Ok(CallToolResult::text("waited"))
            }
        })
        .tool(Tool::new("wait_then_log", "Waits for a release, then logs"), move |_, ctx: RequestContext| {
            let gates = gate2.clone();
            async move {
                gate_of(&ctx, &gates).wait(&ctx).await;
                let _ = ctx.log(LogLevel::Warning, Some("fuzz"), json!("late")).await;
                Ok(CallToolResult::text("waited"))
            }
        })
        .tool(Tool::new("ask", "Asks the client"), |_, ctx: RequestContext| async move {
            let params = json!({ "message": "Name?", "requestedSchema": { "type": "object" } });
            Ok(match ctx.elicit(params).await {
                Ok(answer) => CallToolResult::text(answer.to_string()),
                Err(error) => CallToolResult::error(error.to_string()),
            })
        })
        .tool(Tool::new("close_stream", "Closes its stream, then logs"), |_, ctx: RequestContext| async move {
            let _ = ctx.close_stream().await;
            let _ = ctx.log(LogLevel::Info, Some("fuzz"), json!("after close")).await;
            Ok(CallToolResult::text("closed"))
        })
        .tool(Tool::new("announce", "Tells the tenant and the watchers"), |_, ctx: RequestContext| async move {
            let event = ChangeEvent {
                kind: "document".into(),
                reason: "fuzz".into(),
                tenant_id: ctx.owner().tenant.as_str().into(),
                ts_ms: 0,
            };
            let told = ctx.publish_change(event).await
                + ctx.notify_resource_updated(WATCHED).await
                + ctx.announce(Change::ToolsListChanged).await;
            Ok(CallToolResult::text(format!("told {told}")))
        })
        .resource(Resource::new(WATCHED, "watched").mime_type("text/plain"), |uri, _| async move {
            Ok(ReadResourceResult::new(vec![ResourceContents::text(uri, "text/plain", "watched")]))
        })
        .build()
}

// ---------------------------------------------------------------------------------------------
// Driving it

/// A response on its way, with the tenant header of its request.
type Pending = Pin<Box<dyn Future<Output = (Response<Body>, Option<String>)>>>;

struct Run {
    clock: ManualClock,
    state: Arc<EngineState>,
    engine: Engine,
    gate: Gate,
    /// The gate of tools without a session, released at the end of the run.
    free: Gate,
    pool: LocalPool,
    /// Polls of spawned tasks, so that a pump knows whether anything ran.
    polls: Rc<Cell<u64>>,
    /// Sessions issued, with the tenant header of the `initialize` that created each.
    issued: Vec<(SessionId, Option<String>)>,
    /// Event ids read from streams, for `Last-Event-ID`.
    seen: Vec<EventId>,
    pending: Vec<Pending>,
    bodies: Vec<Sse>,
}

/// An SSE body being read.
struct Sse {
    body: Body,
    ended: bool,
}

/// A spawned task that counts its polls.
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

impl Run {
    fn new(config: &Config) -> Self {
        let clock = ManualClock::new(Timestamp::from_millis(1_795_262_400_000));
        let keep_alive = config.keep_alive.then_some(Duration::from_secs(15));
        // Small limits, so that short inputs reach every cap.
        let sessions = Sessions::builder()
            .clock(clock.clone())
            .ids(SessionIdGenerator::seeded(7))
            .keep_alive(keep_alive)
            .activity_holds(config.activity_holds)
            .max_sessions(3)
            .max_sessions_per_tenant(2)
            .replay_capacity(4)
            .max_stream_bytes(2048)
            .retained_bytes(8192)
            .max_streams_per_session(4)
            .build::<McpSession>();
        let engine_config = EngineConfig::default()
            .max_body_bytes(4096usize)
            .response_mode(match config.mode {
                Mode::Adaptive => ResponseMode::Adaptive,
                Mode::Json => ResponseMode::Json,
                Mode::Sse => ResponseMode::Sse,
            })
            .stateless(config.stateless)
            .max_batch(4usize)
            .max_calls_per_session(3usize)
            .max_resource_subscriptions(1usize);
        let state = Arc::new(EngineState::new(sessions, engine_config).with_authenticator(HeaderAuth));
        let pool = LocalPool::new();
        let spawner = pool.spawner();
        let polls = Rc::new(Cell::new(0));
        let counter = polls.clone();
        let spawn = SpawnFn(move |task: Pin<Box<dyn Future<Output = ()>>>| {
            let task = Counted { task, polls: counter.clone() };
            spawner.spawn_local(task).expect("the pool outlives the engine");
        });
        let (gate, free) = (Gate::default(), Gate::default());
        let engine = Engine::new(state.clone(), server(&gate, &free), spawn);
        Self {
            clock,
            state,
            engine,
            gate,
            free,
            pool,
            polls,
            issued: Vec::new(),
            seen: Vec::new(),
            pending: Vec::new(),
            bodies: Vec::new(),
        }
    }

    /// Runs the spawned tasks until none can move; returns whether any ran.
    fn pump(&mut self) -> bool {
        let before = self.polls.get();
        self.pool.run_until_stalled();
        self.polls.get() != before
    }

    /// Pumps and polls every pending response until nothing moves; checks what completes.
    fn progress(&mut self) {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            let mut moved = self.pump();
            let mut i = 0;
            while i < self.pending.len() {
                if let Poll::Ready((response, tenant)) = self.pending[i].as_mut().poll(&mut cx) {
                    drop(self.pending.swap_remove(i));
                    self.check_response(response, tenant);
                    moved = true;
                } else {
                    i += 1;
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn step(&mut self, step: &Step) {
        if tracing() {
            eprintln!("step {step:?}");
        }
        match step {
            Step::Send(req) => {
                let (request, tenant) = self.request(req);
                self.send(request, tenant);
            }
            Step::Advance(wait) => {
                self.clock.advance(wait.duration());
                self.handle_timeout();
            }
            Step::Read { body, chunks } => {
                if !self.bodies.is_empty() {
                    let index = usize::from(*body) % self.bodies.len();
                    self.read(index, usize::from(chunks % 8) + 1);
                }
            }
            Step::DropBody { body } => {
                if !self.bodies.is_empty() {
                    let index = usize::from(*body) % self.bodies.len();
                    drop(self.bodies.swap_remove(index));
                }
            }
            Step::DropPending { pending } => {
                if !self.pending.is_empty() {
                    let index = usize::from(*pending) % self.pending.len();
                    drop(self.pending.swap_remove(index));
                }
            }
            Step::Release => self.gate.release(),
        }
        self.progress();
    }

    fn send(&mut self, request: Request<Bytes>, tenant: Option<String>) {
        let engine = self.engine.clone();
        self.pending.push(Box::pin(async move { (engine.handle(request).await, tenant) }));
        self.progress();
    }

    fn handle_timeout(&mut self) {
        let state = self.state.clone();
        let mut timers = Box::pin(async move { state.handle_timeout().await });
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if timers.as_mut().poll(&mut cx).is_ready() {
                return;
            }
            assert!(self.pump(), "handle_timeout waits for something no task will do");
        }
    }

    fn request(&self, req: &Req) -> (Request<Bytes>, Option<String>) {
        let mut request = Request::new(self.body(&req.body));
        let sessionless = req.routing && matches!(req.body, BodyChoice::One(Msg::Sessionless { .. }));
        *request.method_mut() = match req.method {
            _ if sessionless => Method::POST,
            MethodChoice::Get => Method::GET,
            MethodChoice::Post => Method::POST,
            MethodChoice::Delete => Method::DELETE,
            MethodChoice::Put => Method::PUT,
            MethodChoice::Options => Method::OPTIONS,
        };
        *request.uri_mut() = if req.odd_path == RARE && !sessionless { "/mcp/" } else { "/mcp" }.parse().unwrap();
        let headers = request.headers_mut();
        let mut set = |name: HeaderName, value: Option<Vec<u8>>| {
            if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
                headers.insert(name, value);
            }
        };
        set(
            ACCEPT,
            req.accept.value(|a| match a {
                AcceptChoice::Both => "application/json, text/event-stream".into(),
                AcceptChoice::Json => "application/json".into(),
                AcceptChoice::EventStream => "text/event-stream".into(),
                AcceptChoice::Any => "*/*".into(),
            }),
        );
        set(CONTENT_TYPE, req.content_type.value(|()| "application/json".into()));
        set(HOST, req.host.value(|h| host(*h).into()));
        if let Some(origin) = &req.origin {
            set(ORIGIN, origin.value(|h| format!("http://{}", host(*h))));
        }
        if let Some(version) = &req.version {
            set(
                MCP_PROTOCOL_VERSION,
                version.value(|v| VERSIONS.get(usize::from(*v)).copied().unwrap_or("2024-11-05").into()),
            );
        }
        if req.routing {
            if let BodyChoice::One(message) = &req.body {
                if matches!(message, Msg::Sessionless { .. }) {
                    // A well-behaved 2026-07-28 client: the transport checks (tried on every
                    // other request) pass, so the input reaches the era's own ladder.
                    set(MCP_PROTOCOL_VERSION, Some(b"2026-07-28".to_vec()));
                    set(ACCEPT, Some(b"application/json, text/event-stream".to_vec()));
                    set(CONTENT_TYPE, Some(b"application/json".to_vec()));
                    set(HOST, Some(b"localhost:3000".to_vec()));
                }
                let message = message.json();
                if let Some(method) = message["method"].as_str() {
                    set(HeaderName::from_static("mcp-method"), Some(method.as_bytes().to_vec()));
                }
                let name = message["params"]["name"].as_str().or(message["params"]["uri"].as_str());
                if let Some(name) = name {
                    set(HeaderName::from_static("mcp-name"), Some(name.as_bytes().to_vec()));
                }
            }
        }
        let mut owner_tenant = None;
        match &req.session {
            SessionChoice::None => {}
            SessionChoice::Issued(i) => {
                if !self.issued.is_empty() {
                    let (id, tenant) = &self.issued[usize::from(*i) % self.issued.len()];
                    owner_tenant = tenant.clone();
                    set(MCP_SESSION_ID, Some(id.to_string().into_bytes()));
                }
            }
            SessionChoice::Hex(bits) => set(MCP_SESSION_ID, Some(format!("{bits:032x}").into_bytes())),
            SessionChoice::Raw(bytes) => set(MCP_SESSION_ID, Some(bytes.clone())),
        }
        match &req.last_event_id {
            None => {}
            Some(LastEventIdChoice::Seen(i)) if !self.seen.is_empty() => {
                let id = self.seen[usize::from(*i) % self.seen.len()];
                set(LAST_EVENT_ID, Some(id.to_string().into_bytes()));
            }
            Some(LastEventIdChoice::Seen(_)) => {}
            Some(LastEventIdChoice::Made { stream, seq, tick }) => {
                let text = match tick {
                    0 => format!("{}-{}", stream % 4, seq % 8),
                    t => format!("{}-{}.{}", stream % 4, seq % 8, t),
                };
                set(LAST_EVENT_ID, Some(text.into_bytes()));
            }
            Some(LastEventIdChoice::Raw(bytes)) => set(LAST_EVENT_ID, Some(bytes.clone())),
        }
        // By default a request speaks as the owner of the session it names.
        let tenant = match req.tenant {
            Some(t) => Some(format!("t{}", t % 3)),
            None => owner_tenant,
        };
        if let Some(tenant) = &tenant {
            set(HeaderName::from_static("x-tenant"), Some(tenant.clone().into_bytes()));
        }
        if req.deny == RARE {
            set(HeaderName::from_static("x-deny"), Some(b"1".to_vec()));
        }
        (request, tenant)
    }

    fn body(&self, body: &BodyChoice) -> Bytes {
        match body {
            BodyChoice::Empty => Bytes::new(),
            BodyChoice::Raw(bytes) => Bytes::from(bytes.clone()),
            BodyChoice::One(message) => Bytes::from(message.json().to_string()),
            BodyChoice::Batch(messages) => {
                Bytes::from(Value::Array(messages.iter().map(Msg::json).collect()).to_string())
            }
        }
    }

    fn check_response(&mut self, response: Response<Body>, tenant: Option<String>) {
        let status = response.status();
        if tracing() {
            eprintln!("  -> {status} {:?}", response.headers());
        }
        assert!(STATUSES.contains(&status.as_u16()), "undocumented status {status}: {response:?}");
        if let Some(id) = response.headers().get(MCP_SESSION_ID) {
            assert_eq!(status, StatusCode::OK);
            let id: SessionId = id.to_str().ok().and_then(|t| t.parse().ok()).expect("issued ids are well-formed");
            assert!(!self.issued.iter().any(|(known, _)| *known == id), "{id:?} issued twice");
            self.issued.push((id, tenant));
        }
        let content_type = response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
        let mut body = response.into_body();
        match content_type.as_deref() {
            None => {
                assert!(!body.is_stream());
                assert_eq!(read_full(&mut body), Bytes::new(), "{status} without a content type has a body");
            }
            Some("application/json") => {
                assert!(!body.is_stream());
                let bytes = read_full(&mut body);
                if tracing() {
                    eprintln!("     {}", String::from_utf8_lossy(&bytes));
                }
                let value: Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes)));
                check_json_rpc(&value);
            }
            Some("text/event-stream") => {
                assert_eq!(status, StatusCode::OK);
                assert!(body.is_stream());
                self.bodies.push(Sse { body, ended: false });
            }
            Some(other) => panic!("unexpected content type {other:?}"),
        }
    }

    /// Reads up to `chunks` chunks of body `index`, pumping in between.
    fn read(&mut self, index: usize, chunks: usize) {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut read = 0;
        while read < chunks && !self.bodies[index].ended {
            match self.bodies[index].body.poll_next_unpin(&mut cx) {
                Poll::Ready(Some(chunk)) => {
                    if tracing() {
                        eprintln!("  <- {:?}", String::from_utf8_lossy(&chunk));
                    }
                    read += 1;
                    self.check_chunk(&chunk);
                }
                Poll::Ready(None) => self.bodies[index].ended = true,
                Poll::Pending => {
                    if !self.pump() {
                        break;
                    }
                }
            }
        }
    }

    /// A chunk is whole frames, each a well-formed SSE event the engine sends.
    fn check_chunk(&mut self, chunk: &[u8]) {
        let text = std::str::from_utf8(chunk).expect("SSE bodies are UTF-8");
        assert!(!text.contains('\r'), "{text:?}");
        let frames = text.strip_suffix("\n\n").unwrap_or_else(|| panic!("a chunk ends a frame: {text:?}"));
        for frame in frames.split("\n\n") {
            // The keep-alive of a stream without a session is one comment line, nothing else.
            if frame == ": keepalive" {
                continue;
            }
            let (mut data, mut lagged, mut data_lines) = (Vec::new(), false, 0);
            for line in frame.split('\n') {
                if let Some(id) = line.strip_prefix("id: ") {
                    let id: EventId = id.parse().unwrap_or_else(|_| panic!("bad id {id:?} in {frame:?}"));
                    if self.seen.len() < 64 {
                        self.seen.push(id);
                    }
                } else if let Some(retry) = line.strip_prefix("retry: ") {
                    assert_eq!(retry.parse::<u64>().ok(), Some(RETRY_MS), "{frame:?}");
                } else if line == "event: lagged" {
                    lagged = true;
                } else if let Some(value) = line.strip_prefix("data:") {
                    data_lines += 1;
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                } else {
                    panic!("unexpected line {line:?} in {frame:?}");
                }
            }
            assert!(data_lines > 0, "a frame without data: {frame:?}");
            let data = data.join("\n");
            if lagged {
                let value: Value = serde_json::from_str(&data).expect("lagged data is JSON");
                assert!(value["dropped"].as_u64().is_some_and(|n| n > 0), "{frame:?}");
            } else if !data.is_empty() {
                let value: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {frame:?}"));
                check_message(&value);
            }
        }
    }

    /// Releases every waiting tool, deletes every session issued, and checks that nothing is
    /// left: every stream ends, every response comes, and the engine holds nothing.
    fn finish(mut self, ending: Ending) {
        match ending {
            Ending::Release => self.gate.release(),
            Ending::Delete => {}
            Ending::HangUp => {
                self.pending.clear();
                self.bodies.clear();
            }
        }
        self.progress();
        for (id, tenant) in self.issued.clone() {
            let mut request = Request::new(Bytes::new());
            *request.method_mut() = Method::DELETE;
            *request.uri_mut() = "/mcp".parse().unwrap();
            request.headers_mut().insert(HOST, HeaderValue::from_static("localhost:3000"));
            request.headers_mut().insert(MCP_SESSION_ID, HeaderValue::from_str(&id.to_string()).unwrap());
            if let Some(tenant) = &tenant {
                request.headers_mut().insert("x-tenant", HeaderValue::from_str(tenant).unwrap());
            }
            let engine = self.engine.clone();
            let mut delete = Box::pin(async move { engine.handle(request).await });
            let waker = noop_waker();
            let mut cx = Context::from_waker(&waker);
            let response = loop {
                if let Poll::Ready(response) = delete.as_mut().poll(&mut cx) {
                    break response;
                }
                assert!(self.pump(), "DELETE of {id:?} never answers");
            };
            let status = response.status();
            assert!(matches!(status.as_u16(), 200 | 404), "DELETE of {id:?}: {status}");
            self.progress();
        }
        // Nothing but their own end stops the tools of a request without a session; listen
        // streams end when the server shuts down.
        self.free.release();
        self.engine.close_listens();
        self.progress();
        assert!(self.pending.is_empty(), "{} responses never came after every session ended", self.pending.len());
        for index in 0..self.bodies.len() {
            self.read(index, usize::MAX);
            assert!(self.bodies[index].ended, "a stream stays open after every session ended");
        }
        self.bodies.clear();
        self.progress();
        let occupancy = self.state.occupancy();
        let census = occupancy.sessions;
        let empty = census.sessions == 0
            && census.live_sessions == 0
            && census.live_streams == 0
            && census.subscribers == 0
            && census.activity == 0
            && census.heartbeats == 0
            && census.retained_bytes == 0
            && occupancy.calls == 0
            && occupancy.awaiting_clients == 0
            && occupancy.watched_uris == 0
            && occupancy.watches == 0
            && occupancy.listens == 0;
        assert!(empty, "left behind after every session ended: {occupancy:?}");
        for (id, _) in &self.issued {
            assert!(!self.state.holds_anything_of(*id), "{id:?} left something behind: {occupancy:?}");
        }
        assert!(self.state.next_deadline().is_none(), "a deadline with nothing left: {:?}", self.state.next_deadline());
    }
}

/// Whether to print each step and response (`MCP_FUZZ_TRACE=1`, when replaying one input).
fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("MCP_FUZZ_TRACE").is_some())
}

fn host(choice: HostChoice) -> &'static str {
    match choice {
        HostChoice::Localhost => "localhost:3000",
        HostChoice::Loopback => "127.0.0.1:8080",
        HostChoice::Ipv6 => "[::1]:3000",
        HostChoice::Foreign => "evil.example.com",
    }
}

impl<T> Header<T> {
    fn value(&self, usual: impl FnOnce(&T) -> String) -> Option<Vec<u8>> {
        match self {
            Self::Absent => None,
            Self::Usual(choice) => Some(usual(choice).into_bytes()),
            Self::Raw(bytes) => Some(bytes.clone()),
        }
    }
}

/// The whole of a complete body (never pending).
fn read_full(body: &mut Body) -> Bytes {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut out = Vec::new();
    loop {
        match body.poll_next_unpin(&mut cx) {
            Poll::Ready(Some(chunk)) => out.extend_from_slice(&chunk),
            Poll::Ready(None) => return out.into(),
            Poll::Pending => panic!("a complete body is never pending"),
        }
    }
}

fn check_json_rpc(value: &Value) {
    match value {
        Value::Array(items) => {
            assert!(!items.is_empty(), "an empty batch reply");
            items.iter().for_each(check_message);
        }
        _ => check_message(value),
    }
}

/// A JSON-RPC 2.0 request, notification or response, as the engine writes them.
fn check_message(value: &Value) {
    let object = value.as_object().unwrap_or_else(|| panic!("not a message: {value}"));
    assert_eq!(object.get("jsonrpc"), Some(&json!("2.0")), "{value}");
    if let Some(method) = object.get("method") {
        assert!(method.is_string(), "{value}");
        assert!(!object.contains_key("result") && !object.contains_key("error"), "{value}");
        if let Some(id) = object.get("id") {
            assert!(id.is_string() || id.is_i64(), "{value}");
        }
        return;
    }
    let id = object.get("id").unwrap_or_else(|| panic!("a response without id: {value}"));
    assert!(id.is_string() || id.is_i64() || id.is_null(), "{value}");
    match (object.get("result"), object.get("error")) {
        (Some(_), None) => assert!(!id.is_null(), "a result for no request: {value}"),
        (None, Some(error)) => {
            assert!(error["code"].is_i64() && error["message"].is_string(), "{value}");
        }
        _ => panic!("exactly one of result and error: {value}"),
    }
}

fuzz_target!(|input: Input| {
    if tracing() {
        eprintln!("config {:?}", input.config);
    }
    let mut run = Run::new(&input.config);
    for step in &input.steps {
        run.step(step);
    }
    run.finish(input.config.ending);
});
