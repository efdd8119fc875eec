//! The engine under simulation: a seeded configuration, a store that yields at random so that
//! concurrent requests interleave, instrumented tools, and the local pool its tasks run on.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use mcp_session::http::{EngineConfig, ResponseMode};
use mcp_session::model::{CallToolResult, LogLevel, ReadResourceResult, Resource, ResourceContents, Tool};
use mcp_session::session::{
    CreateError, LookupError, MemoryStore, ReplayError, SessionRecord, StorePolicy, StoreUnavailable, StoredSession,
    StreamError,
};
use mcp_session::stream::{Event, LogLimits, Replay, ReplayLog};
use mcp_session::{
    ChangeEvent, Engine, EngineState, ManualClock, McpSession, Owner, RequestContext, Server, SessionId,
    SessionIdGenerator, Sessions, SessionsConfig, SpawnFn, Store, StreamId, TenantId, Timestamp,
};
use serde_json::{json, Value};

use super::rng::Rng;
use crate::support_http::HeaderAuth;

pub const WATCHED: &str = "test://sim/watched";

/// The knobs one seed runs with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: ResponseMode,
    pub capacity: usize,
    pub stream_bytes: usize,
    pub retained_bytes: usize,
    pub keep_alive: Option<Duration>,
    pub idle: Duration,
    pub max_sessions: usize,
    pub max_calls: usize,
    pub yield_per_mille: u64,
    /// How often a lookup is followed at once by the session's removal from another connection
    /// (a DELETE or an expiry on another thread, landing between a request's lookup and its
    /// next step).
    pub steal_per_mille: u64,
}

impl Settings {
    pub fn draw(rng: &mut Rng) -> Self {
        let mode = *rng.pick(&[ResponseMode::Adaptive, ResponseMode::Sse, ResponseMode::Json]);
        let capacity = rng.range(2, 9) as usize;
        let event = mcp_session::stream::event_cost(120);
        Self {
            mode,
            capacity,
            stream_bytes: event * rng.range(3, 12) as usize,
            // From a budget of a few events (most replays find their events gone) to a roomy one.
            retained_bytes: event * *rng.pick(&[3, 6, 12, 30, 60]),
            keep_alive: rng.chance(1, 2).then(|| Duration::from_secs(15)),
            idle: Duration::from_secs(rng.range(30, 120)),
            max_sessions: rng.range(3, 9) as usize,
            max_calls: rng.range(2, 6) as usize,
            yield_per_mille: *rng.pick(&[0, 150, 400, 700]),
            steal_per_mille: *rng.pick(&[0, 0, 15, 60]),
        }
    }
}

/// A [`MemoryStore`] whose operations sometimes yield once first, so that a request parked
/// inside the store lets others run (as with a remote store).
pub struct YieldingStore {
    pub inner: MemoryStore<McpSession>,
    state: AtomicU64,
    per_mille: u64,
    steal_per_mille: u64,
    /// The engine, for the removals that follow a lookup.
    pub sessions: std::sync::OnceLock<std::sync::Weak<EngineState<YieldingStore>>>,
    /// Set while a removal runs from inside a lookup: nothing yields then.
    stealing: std::sync::atomic::AtomicBool,
    /// While set, the store is down: every operation a request starts with, and the engine's
    /// own bookkeeping (activity, expiry), fails with `StoreUnavailable`, as a remote store's
    /// would during an outage. Appends of calls already running still land: the model checks a
    /// handler's messages one by one.
    pub outage: std::sync::atomic::AtomicBool,
}

impl YieldingStore {
    fn new(policy: StorePolicy, seed: u64, per_mille: u64, steal_per_mille: u64) -> Self {
        Self {
            inner: MemoryStore::new(policy),
            state: AtomicU64::new(seed | 1),
            per_mille,
            steal_per_mille,
            sessions: std::sync::OnceLock::new(),
            stealing: std::sync::atomic::AtomicBool::new(false),
            outage: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn roll(&self) -> u64 {
        // xorshift on a shared word: deterministic for a given sequence of calls.
        let mut x = self.state.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state.store(x, Ordering::Relaxed);
        x % 1000
    }

    fn down(&self) -> Result<(), StoreUnavailable> {
        if self.outage.load(Ordering::Relaxed) {
            Err(StoreUnavailable)
        } else {
            Ok(())
        }
    }

    async fn maybe_yield(&self) {
        if self.stealing.load(Ordering::Relaxed) {
            return;
        }
        if self.roll() < self.per_mille {
            let mut yielded = false;
            poll_fn(|cx| {
                if yielded {
                    Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
        }
    }
}

impl Store<McpSession> for YieldingStore {
    async fn create(&self, record: SessionRecord<McpSession>) -> Result<(), CreateError> {
        self.maybe_yield().await;
        self.down()?;
        self.inner.create(record).await
    }
    async fn lookup(
        &self,
        id: SessionId,
        owner: &Owner,
        now: Timestamp,
    ) -> Result<SessionRecord<McpSession>, LookupError> {
        self.maybe_yield().await;
        self.down()?;
        let found = self.inner.lookup(id, owner, now).await;
        if found.is_ok() && !self.stealing.load(Ordering::Relaxed) && self.roll() < self.steal_per_mille {
            // Another thread's DELETE completes right after this lookup, before its caller goes on.
            if let Some(state) = self.sessions.get().and_then(std::sync::Weak::upgrade) {
                self.stealing.store(true, Ordering::Relaxed);
                let removed = futures::FutureExt::now_or_never(state.end_session(id));
                self.stealing.store(false, Ordering::Relaxed);
                assert!(removed.is_some(), "a removal with yields off completes at once");
            }
        }
        found
    }
    async fn update<F: FnMut(&mut McpSession)>(&self, id: SessionId, change: F) -> Result<(), LookupError> {
        self.maybe_yield().await;
        self.down()?;
        self.inner.update(id, change).await
    }
    async fn remove(&self, id: SessionId) -> Result<bool, StoreUnavailable> {
        self.maybe_yield().await;
        self.down()?;
        self.inner.remove(id).await
    }
    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError> {
        self.maybe_yield().await;
        self.down()?;
        self.inner.open_stream(id).await
    }
    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<Event, StreamError> {
        self.maybe_yield().await;
        self.inner.append(id, stream, payload).await
    }
    async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError> {
        self.maybe_yield().await;
        self.inner.finish(id, stream).await
    }
    async fn replay(&self, id: SessionId, stream: StreamId, after: u64) -> Result<Replay, ReplayError> {
        self.maybe_yield().await;
        self.down()?;
        self.inner.replay(id, stream, after).await
    }
    async fn set_held(&self, id: SessionId, held: bool, at: Timestamp) -> Result<(), StoreUnavailable> {
        self.maybe_yield().await;
        self.down()?;
        self.inner.set_held(id, held, at).await
    }
    async fn expire(&self, now: Timestamp) -> Result<Vec<SessionId>, StoreUnavailable> {
        self.maybe_yield().await;
        self.down()?;
        self.inner.expire(now).await
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        self.inner.next_deadline()
    }
    async fn sessions_of(&self, tenant: &TenantId) -> Result<Vec<(SessionId, McpSession)>, StoreUnavailable> {
        self.maybe_yield().await;
        self.inner.sessions_of(tenant).await
    }
    fn log_limits(&self) -> LogLimits {
        self.inner.log_limits()
    }
    fn retained_bytes(&self) -> usize {
        self.inner.retained_bytes()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
}

/// A call as its handler saw it.
#[derive(Clone, Debug, Default)]
pub struct CallRecord {
    pub tool: &'static str,
    /// Messages it sent successfully, in order (their tags).
    pub sent: Vec<String>,
    pub ended: bool,
}

/// What the tools tell the simulation.
#[derive(Default)]
pub struct Ledger {
    /// By `(session, request id)`.
    pub calls: RefCell<BTreeMap<(String, i64), CallRecord>>,
    /// Gates the `gated` tool waits for; opened by the simulation.
    pub open_gates: RefCell<BTreeSet<u64>>,
    waiters: RefCell<Vec<Waker>>,
    /// Tags sent to a session's standalone stream, by session.
    pub standalone: RefCell<BTreeMap<String, Vec<String>>>,
}

impl Ledger {
    pub fn open_gate(&self, gate: u64) {
        self.open_gates.borrow_mut().insert(gate);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    async fn gate(&self, gate: u64) {
        poll_fn(|cx| {
            if self.open_gates.borrow().contains(&gate) {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    fn key(ctx: &RequestContext) -> (String, i64) {
        let session = ctx.session_id().map(|s| s.to_string()).unwrap_or_default();
        let id = match ctx.request_id() {
            mcp_session::jsonrpc::Id::Number(n) => *n,
            mcp_session::jsonrpc::Id::String(_) => -1,
        };
        (session, id)
    }
}

/// Marks a call ended however its handler stops (finishes, fails, or is dropped).
struct Running {
    ledger: Rc<Ledger>,
    key: (String, i64),
}

impl Running {
    fn start(ledger: &Rc<Ledger>, ctx: &RequestContext, tool: &'static str) -> Self {
        let key = Ledger::key(ctx);
        ledger.calls.borrow_mut().insert(key.clone(), CallRecord { tool, ..CallRecord::default() });
        Self { ledger: ledger.clone(), key }
    }

    fn sent(&self, tag: String) {
        if let Some(call) = self.ledger.calls.borrow_mut().get_mut(&self.key) {
            call.sent.push(tag);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(call) = self.ledger.calls.borrow_mut().get_mut(&self.key) {
            call.ended = true;
        }
    }
}

fn failed(error: impl std::fmt::Display) -> mcp_session::jsonrpc::ErrorObject {
    mcp_session::jsonrpc::ErrorObject::internal(format!("could not send: {error}"))
}

/// Sends `count` log messages tagged `<session>/<request>/<k>`, recording each that was sent.
async fn flood(running: &Running, ctx: &RequestContext, count: u64) -> Result<(), mcp_session::jsonrpc::ErrorObject> {
    let (session, id) = &running.key;
    for k in 0..count {
        let tag = format!("{session}/{id}/{k}");
        ctx.log(LogLevel::Info, Some("sim"), json!(tag)).await.map_err(failed)?;
        running.sent(tag);
    }
    Ok(())
}

fn server(ledger: &Rc<Ledger>) -> Server {
    let l = |ledger: &Rc<Ledger>| ledger.clone();
    let (l1, l2, l3, l4, l5, l6, l7) = (l(ledger), l(ledger), l(ledger), l(ledger), l(ledger), l(ledger), l(ledger));
    Server::builder("sim", "0.0.0")
        .tool(Tool::new("echo", "Answers at once"), move |_: Value, ctx: RequestContext| {
            let running = Running::start(&l1, &ctx, "echo");
            async move {
                drop(running);
                Ok(CallToolResult::text("echo"))
            }
        })
        .tool(Tool::new("flood", "Logs `count` messages"), move |args: Value, ctx: RequestContext| {
            let running = Running::start(&l2, &ctx, "flood");
            async move {
                flood(&running, &ctx, args["count"].as_u64().unwrap_or(0)).await?;
                Ok(CallToolResult::text("flooded"))
            }
        })
        .tool(
            Tool::new("gated", "Waits for gate `gate`, then logs `count` messages"),
            move |args: Value, ctx: RequestContext| {
                let running = Running::start(&l3, &ctx, "gated");
                let ledger = l3.clone();
                async move {
                    ledger.gate(args["gate"].as_u64().unwrap_or(0)).await;
                    flood(&running, &ctx, args["count"].as_u64().unwrap_or(0)).await?;
                    Ok(CallToolResult::text("gated"))
                }
            },
        )
        .tool(Tool::new("ask", "Asks the client, then answers"), move |_: Value, ctx: RequestContext| {
            let running = Running::start(&l4, &ctx, "ask");
            async move {
                let params = json!({ "message": "?", "requestedSchema": { "type": "object", "properties": {} } });
                let answer = ctx.request("elicitation/create", params).await;
                drop(running);
                Ok(match answer {
                    Ok(_) => CallToolResult::text("answered"),
                    Err(error) => CallToolResult::error(error.to_string()),
                })
            }
        })
        .tool(Tool::new("until_cancelled", "Waits to be cancelled"), move |_: Value, ctx: RequestContext| {
            let running = Running::start(&l5, &ctx, "until_cancelled");
            async move {
                ctx.cancelled().await;
                drop(running);
                Ok(CallToolResult::text("cancelled"))
            }
        })
        .tool(
            Tool::new("notify_session", "Sends a tagged message on the GET stream"),
            move |args: Value, ctx: RequestContext| {
                let running = Running::start(&l6, &ctx, "notify_session");
                let ledger = l6.clone();
                async move {
                    let session = running.key.0.clone();
                    let tag = format!("{session}/s/{}", args["n"]);
                    let params = json!({ "level": "info", "data": tag });
                    if ctx.notify_session("notifications/message", params).await.is_ok() {
                        ledger.standalone.borrow_mut().entry(session).or_default().push(tag);
                    }
                    drop(running);
                    Ok(CallToolResult::text("notified"))
                }
            },
        )
        .tool(Tool::new("change", "Announces a change to the tenant"), move |args: Value, ctx: RequestContext| {
            let running = Running::start(&l7, &ctx, "change");
            async move {
                let event = ChangeEvent {
                    kind: "episode".into(),
                    reason: format!("{}/c/{}", ctx.owner().tenant, args["n"]),
                    tenant_id: ctx.owner().tenant.to_string(),
                    ts_ms: 0,
                };
                ctx.publish_change(event).await;
                ctx.notify_resource_updated(WATCHED).await;
                drop(running);
                Ok(CallToolResult::text("changed"))
            }
        })
        .resource(Resource::new(WATCHED, "watched"), |uri, _| async move {
            Ok(ReadResourceResult::new(vec![ResourceContents::text(uri, "text/plain", "w")]))
        })
        .build()
}

/// One engine instance and everything that lives with it (a process).
pub struct World {
    pub clock: ManualClock,
    pub state: Arc<EngineState<YieldingStore>>,
    pub engine: Engine<YieldingStore>,
    pub ledger: Rc<Ledger>,
    pub pool: RefCell<LocalPool>,
    polls: Rc<Cell<u64>>,
    pub settings: Settings,
}

struct Counted {
    task: Pin<Box<dyn Future<Output = ()>>>,
    polls: Rc<Cell<u64>>,
}

impl Future for Counted {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        self.task.as_mut().poll(cx)
    }
}

impl World {
    pub fn new(settings: Settings, seed: u64, clock: ManualClock, ledger: Rc<Ledger>) -> Self {
        let store = YieldingStore::new(policy(&settings), seed, settings.yield_per_mille, settings.steal_per_mille);
        Self::over(store, settings, seed, clock, ledger)
    }

    fn over(store: YieldingStore, settings: Settings, seed: u64, clock: ManualClock, ledger: Rc<Ledger>) -> Self {
        let config = SessionsConfig::default().ids(SessionIdGenerator::seeded(seed)).keep_alive(settings.keep_alive);
        let sessions = Sessions::with_store(store, Arc::new(clock.clone()), config);
        let engine_config =
            EngineConfig::default().response_mode(settings.mode).max_calls_per_session(settings.max_calls);
        let state = Arc::new(EngineState::new(sessions, engine_config).with_authenticator(HeaderAuth));
        state.sessions().store().sessions.set(Arc::downgrade(&state)).ok();
        let pool = LocalPool::new();
        let spawner = pool.spawner();
        let polls = Rc::new(Cell::new(0));
        let counter = polls.clone();
        let spawn = SpawnFn(move |task: Pin<Box<dyn Future<Output = ()>>>| {
            spawner
                .spawn_local(Counted { task, polls: counter.clone() })
                .expect("the pool lives as long as the engine");
        });
        let engine = Engine::new(state.clone(), server(&ledger), spawn);
        Self { clock, state, engine, ledger, pool: RefCell::new(pool), polls, settings }
    }

    /// Runs every spawned task until none can make progress. Returns whether any ran.
    pub fn pump(&self) -> bool {
        let before = self.polls.get();
        self.pool.borrow_mut().run_until_stalled();
        self.polls.get() != before
    }

    /// A process restart over the same storage: a new engine reads back every session and
    /// replay log; connections, running calls and everything live are gone.
    pub fn restart(self, seed: u64) -> Self {
        let old = &self.state.sessions().store().inner;
        let store = YieldingStore::new(
            policy(&self.settings),
            seed ^ 0x5eed,
            self.settings.yield_per_mille,
            self.settings.steal_per_mille,
        );
        for (id, stored) in sessions_of(old) {
            let mut logs = Vec::new();
            for stream in old.streams(id) {
                let replay = futures::executor::block_on(old.replay(id, stream, 0)).expect("the log exists");
                let latest = latest_seq(old, id, stream);
                let (log, _) = ReplayLog::recover(stream, old.policy().log, latest, replay.events, replay.finished);
                logs.push(log);
            }
            store.inner.restore(stored, logs).expect("a fresh store has no duplicates");
        }
        let (settings, clock, ledger) = (self.settings.clone(), self.clock.clone(), self.ledger.clone());
        drop(self);
        Self::over(store, settings, seed ^ 0xface, clock, ledger)
    }
}

fn policy(settings: &Settings) -> StorePolicy {
    let mut policy = StorePolicy::default();
    policy.expiry.idle = settings.idle;
    policy.expiry.absolute = settings.idle * 20;
    policy.expiry.initialization = Duration::from_secs(10);
    policy.max_sessions = Some(settings.max_sessions);
    policy.max_sessions_per_tenant = Some(settings.max_sessions);
    policy.log = LogLimits { events: settings.capacity, bytes: settings.stream_bytes };
    policy.retained_bytes = settings.retained_bytes;
    policy
}

/// Every session of a store, with what it persists.
fn sessions_of(store: &MemoryStore<McpSession>) -> Vec<(SessionId, StoredSession<McpSession>)> {
    let mut all = Vec::new();
    for tenant in ["a", "b", "default"] {
        for (id, _) in futures::executor::block_on(store.sessions_of(&TenantId::new(tenant)))
            .expect("the memory store is always available")
        {
            if let Some(stored) = store.session(id) {
                all.push((id, stored));
            }
        }
    }
    all.sort_by_key(|(id, _)| *id);
    all
}

/// The newest sequence number of a log (a replay from its end is empty; from one past, refused).
fn latest_seq(store: &MemoryStore<McpSession>, id: SessionId, stream: StreamId) -> u64 {
    let mut low = 0u64;
    let mut high = 1u64 << 20;
    while low < high {
        let mid = (low + high).div_ceil(2);
        if futures::executor::block_on(store.replay(id, stream, mid)).is_ok() {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}
