//! The engine under simulation: a seeded configuration, a store that yields at random so that
//! concurrent requests interleave, instrumented tools, and the replicas serving them, each with
//! the local pool its tasks run on — one process over a `MemoryStore`, or two replicas sharing a
//! real Redis (their store and their bus), as a plain load balancer would spread a client's
//! requests over them.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use mcp_session::http::{EngineConfig, ResponseMode};
use mcp_session::model::{CallToolResult, LogLevel, ReadResourceResult, Resource, ResourceContents, Tool};
#[cfg(feature = "redis")]
use mcp_session::redis::{RedisBacked, RedisBus, RedisStore, RedisStoreConfig};
use mcp_session::session::{
    CreateError, LookupError, MemoryStore, ReplayError, SessionRecord, StorePolicy, StoreUnavailable, StoredSession,
    StreamError,
};
use mcp_session::stream::{Event, LogLimits, Replay, ReplayLog};
use mcp_session::{
    jsonrpc::Id, ChangeEvent, Engine, EngineState, ManualClock, McpSession, Occupancy, Owner, RequestContext, Server,
    SessionId, SessionIdGenerator, Sessions, SessionsConfig, SpawnFn, Store, StreamId, TenantId, Timestamp,
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
    /// Over Redis, how often the client waits after a step for the replies on their way, as a
    /// client awaiting its answers does: requests then complete during the run (reconnects
    /// find the connection they replace still open, answers cross replicas mid-call), not
    /// only in the final settle. In memory nothing is ever on its way.
    pub patience_per_mille: u64,
}

impl Settings {
    pub fn draw(rng: &mut Rng, shared: bool) -> Self {
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
            // A removal stolen in between is run to completion inside the lookup, which only a
            // store without I/O can do; over Redis two replicas race for real instead.
            steal_per_mille: if shared { 0 } else { *rng.pick(&[0, 0, 15, 60]) },
            patience_per_mille: if shared { *rng.pick(&[0, 300, 1000]) } else { 0 },
        }
    }
}

/// Where the sessions are kept.
pub enum Backing {
    Memory(Box<MemoryStore<McpSession>>),
    #[cfg(feature = "redis")]
    Redis(Box<RedisStore<McpSession>>),
}

/// Runs `$body` with `$store` bound to the store inside, whichever it is.
macro_rules! backed {
    ($self:ident, $store:ident => $body:expr) => {
        match &$self.inner {
            Backing::Memory($store) => $body,
            #[cfg(feature = "redis")]
            Backing::Redis($store) => $body,
        }
    };
}

/// A store whose operations sometimes yield once first, so that a request parked inside the
/// store lets others run (as with a remote store; over Redis, on top of its real waits).
pub struct YieldingStore {
    pub inner: Backing,
    state: AtomicU64,
    per_mille: u64,
    steal_per_mille: u64,
    /// The engine, for the removals that follow a lookup.
    pub sessions: std::sync::OnceLock<std::sync::Weak<EngineState<YieldingStore>>>,
    /// Set while a removal runs from inside a lookup: nothing yields then.
    stealing: AtomicBool,
    /// While set, the store is down: every operation a request starts with, and the engine's
    /// own bookkeeping (activity, expiry), fails with `StoreUnavailable`, as a remote store's
    /// would during an outage. Appends of calls already running still land: the model checks a
    /// handler's messages one by one. One flag for every replica: they share the store.
    outage: Arc<AtomicBool>,
    /// Operations begun and not yet returned, over every replica: while one is, the world is not
    /// settled (a reply from Redis is on its way).
    busy: Arc<AtomicUsize>,
}

/// Counts an operation in flight for as long as it lives.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl YieldingStore {
    fn new(inner: Backing, settings: &Settings, seed: u64, world: &Shared) -> Self {
        Self {
            inner,
            state: AtomicU64::new(seed | 1),
            per_mille: settings.yield_per_mille,
            steal_per_mille: settings.steal_per_mille,
            sessions: std::sync::OnceLock::new(),
            stealing: AtomicBool::new(false),
            outage: world.outage.clone(),
            busy: world.busy.clone(),
        }
    }

    fn memory(&self) -> &MemoryStore<McpSession> {
        match &self.inner {
            Backing::Memory(store) => store,
            #[cfg(feature = "redis")]
            Backing::Redis(_) => unreachable!("only a store in memory is read directly"),
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
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.create(record).await)
    }
    async fn lookup(
        &self,
        id: SessionId,
        owner: &Owner,
        now: Timestamp,
    ) -> Result<SessionRecord<McpSession>, LookupError> {
        self.maybe_yield().await;
        self.down()?;
        let found = {
            let _busy = Busy::new(&self.busy);
            backed!(self, store => store.lookup(id, owner, now).await)
        };
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
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.update(id, change).await)
    }
    async fn remove(&self, id: SessionId) -> Result<bool, StoreUnavailable> {
        self.maybe_yield().await;
        self.down()?;
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.remove(id).await)
    }
    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError> {
        self.maybe_yield().await;
        self.down()?;
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.open_stream(id).await)
    }
    async fn open_stream_answering(&self, id: SessionId, requests: &[Id]) -> Result<StreamId, StreamError> {
        self.maybe_yield().await;
        self.down()?;
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.open_stream_answering(id, requests).await)
    }
    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<Event, StreamError> {
        self.maybe_yield().await;
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.append(id, stream, payload).await)
    }
    async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError> {
        self.maybe_yield().await;
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.finish(id, stream).await)
    }
    async fn replay(&self, id: SessionId, stream: StreamId, after: u64) -> Result<Replay, ReplayError> {
        self.maybe_yield().await;
        self.down()?;
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.replay(id, stream, after).await)
    }
    async fn set_held(&self, id: SessionId, held: bool, at: Timestamp) -> Result<(), StoreUnavailable> {
        self.maybe_yield().await;
        self.down()?;
        let told = {
            let _busy = Busy::new(&self.busy);
            backed!(self, store => store.set_held(id, held, at).await)
        };
        // The store wrote it and its answer is on the way: a caller may go meanwhile.
        self.maybe_yield().await;
        told
    }
    async fn expire(&self, now: Timestamp) -> Result<Vec<SessionId>, StoreUnavailable> {
        self.maybe_yield().await;
        self.down()?;
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.expire(now).await)
    }
    fn next_deadline(&self) -> Option<Timestamp> {
        backed!(self, store => store.next_deadline())
    }
    async fn sessions_of(&self, tenant: &TenantId) -> Result<Vec<(SessionId, McpSession)>, StoreUnavailable> {
        self.maybe_yield().await;
        let _busy = Busy::new(&self.busy);
        backed!(self, store => store.sessions_of(tenant).await)
    }
    fn log_limits(&self) -> LogLimits {
        backed!(self, store => store.log_limits())
    }
    fn is_shared(&self) -> bool {
        backed!(self, store => store.is_shared())
    }
    fn retained_bytes(&self) -> usize {
        backed!(self, store => store.retained_bytes())
    }
    fn len(&self) -> usize {
        backed!(self, store => store.len())
    }
}

#[cfg(feature = "redis")]
impl RedisBacked for YieldingStore {
    fn redis(&self) -> &RedisStore<McpSession> {
        match &self.inner {
            Backing::Redis(store) => store,
            Backing::Memory(_) => unreachable!("the bus runs only beside Redis"),
        }
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

/// Where a world keeps its sessions.
#[derive(Clone)]
pub enum Place {
    /// One process, its sessions in memory.
    Memory,
    /// Two replicas sharing one Redis under a prefix of their own.
    #[cfg(feature = "redis")]
    Redis(RedisPlace),
}

/// A Redis the replicas of one seed share, and the runtime that carries its I/O.
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisPlace {
    pub url: String,
    pub prefix: String,
    pub runtime: tokio::runtime::Handle,
}

/// How long a world over Redis must show no activity to count as settled: far longer than a
/// round trip to a Redis on this machine, or a doorbell's way from one replica to the other.
const QUIET: Duration = Duration::from_millis(3);

/// What every replica of a world shares besides the store's contents.
pub struct Shared {
    outage: Arc<AtomicBool>,
    busy: Arc<AtomicUsize>,
    polls: Rc<Cell<u64>>,
}

/// One engine process: its state, its engine, the pool its tasks run on and, over Redis, its bus
/// (whose follower runs on the same pool).
pub struct Replica {
    pub state: Arc<EngineState<YieldingStore>>,
    pub engine: Engine<YieldingStore>,
    pool: RefCell<LocalPool>,
    #[cfg(feature = "redis")]
    bus: Option<RedisBus>,
}

/// Every process serving the simulated clients, and what they share.
pub struct World {
    pub clock: ManualClock,
    pub ledger: Rc<Ledger>,
    pub settings: Settings,
    pub replicas: Vec<Replica>,
    place: Place,
    shared: Shared,
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
    pub fn new(settings: Settings, seed: u64, clock: ManualClock, ledger: Rc<Ledger>, place: Place) -> Self {
        let shared = Shared {
            outage: Arc::new(AtomicBool::new(false)),
            busy: Arc::new(AtomicUsize::new(0)),
            polls: Rc::new(Cell::new(0)),
        };
        let mut world = Self { clock, ledger, settings, replicas: Vec::new(), place, shared };
        let count = if world.is_shared() { 2 } else { 1 };
        for index in 0..count {
            let seed = seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let store = world.store(seed);
            let replica = world.replica(store, seed);
            world.replicas.push(replica);
        }
        world
    }

    /// Whether the replicas share a remote store (and a bus).
    pub fn is_shared(&self) -> bool {
        !matches!(self.place, Place::Memory)
    }

    fn store(&self, seed: u64) -> YieldingStore {
        let backing = match &self.place {
            Place::Memory => Backing::Memory(Box::new(MemoryStore::new(policy(&self.settings)))),
            #[cfg(feature = "redis")]
            Place::Redis(redis) => {
                let mut config = RedisStoreConfig::default();
                config.prefix = redis.prefix.clone();
                config.policy = policy(&self.settings);
                let store = redis.runtime.block_on(RedisStore::connect(&redis.url, config));
                Backing::Redis(Box::new(store.expect("the simulation's redis answers")))
            }
        };
        YieldingStore::new(backing, &self.settings, seed, &self.shared)
    }

    fn replica(&self, store: YieldingStore, seed: u64) -> Replica {
        let settings = &self.settings;
        let config = SessionsConfig::default().ids(SessionIdGenerator::seeded(seed)).keep_alive(settings.keep_alive);
        #[cfg(feature = "redis")]
        let bus = match (&self.place, &store.inner) {
            (Place::Redis(redis), Backing::Redis(redis_store)) => {
                Some(redis.runtime.block_on(RedisBus::connect(redis_store)).expect("the simulation's redis answers"))
            }
            _ => None,
        };
        let sessions = Sessions::with_store(store, Arc::new(self.clock.clone()), config);
        let engine_config =
            EngineConfig::default().response_mode(settings.mode).max_calls_per_session(settings.max_calls);
        let state = EngineState::new(sessions, engine_config).with_authenticator(HeaderAuth);
        #[cfg(feature = "redis")]
        let state = match &bus {
            Some(bus) => state.with_bus(bus.clone()),
            None => state,
        };
        let state = Arc::new(state);
        state.sessions().store().sessions.set(Arc::downgrade(&state)).ok();
        let pool = LocalPool::new();
        let spawner = pool.spawner();
        let counter = self.shared.polls.clone();
        #[cfg(feature = "redis")]
        if let Some(bus) = &bus {
            let (bus, follower) = (bus.clone(), state.clone());
            let task = Box::pin(async move { bus.follow(&*follower).await });
            spawner.spawn_local(Counted { task, polls: counter.clone() }).expect("a new pool takes tasks");
        }
        let spawn = SpawnFn(move |task: Pin<Box<dyn Future<Output = ()>>>| {
            spawner
                .spawn_local(Counted { task, polls: counter.clone() })
                .expect("the pool lives as long as the engine");
        });
        let engine = Engine::new(state.clone(), server(&self.ledger), spawn);
        // As a host does before it serves: a replica that never held a lease is not known for
        // dead when it dies.
        #[cfg(feature = "redis")]
        if let Some(bus) = &bus {
            self.block_on(bus.renew(&state)).expect("the simulation's redis answers");
        }
        Replica {
            state,
            engine,
            pool: RefCell::new(pool),
            #[cfg(feature = "redis")]
            bus,
        }
    }

    /// Runs every spawned task of every replica until none can make progress. Returns whether
    /// any ran.
    pub fn pump(&self) -> bool {
        let before = self.shared.polls.get();
        for replica in &self.replicas {
            replica.pool.borrow_mut().run_until_stalled();
        }
        self.shared.polls.get() != before
    }

    /// [`World::pump`] until nothing more happens: over Redis, until no task ran for a while (the
    /// replies, doorbells and control messages on their way have arrived). Returns whether any
    /// task ran.
    pub fn quiesce(&self) -> bool {
        let mut ran = self.pump();
        if !self.is_shared() {
            return ran;
        }
        let (started, mut last) = (Instant::now(), Instant::now());
        while last.elapsed() < QUIET && started.elapsed() < Duration::from_secs(5) {
            if self.pump() {
                ran = true;
                last = Instant::now();
            } else {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        ran
    }

    /// A short real wait over Redis, between polls of work that waits for a reply (nothing in
    /// memory: a poll there never waits for anything outside).
    pub fn breathe(&self) {
        if self.is_shared() {
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Store operations under way (a request parked in one may be waiting for Redis's reply).
    pub fn busy(&self) -> usize {
        self.shared.busy.load(Ordering::Relaxed)
    }

    pub fn outage(&self) -> bool {
        self.shared.outage.load(Ordering::Relaxed)
    }

    /// Takes the store down or brings it back; returns whether that changed anything.
    pub fn set_outage(&self, down: bool) -> bool {
        self.shared.outage.swap(down, Ordering::Relaxed) != down
    }

    pub fn occupancy(&self) -> Vec<Occupancy> {
        self.replicas.iter().map(|r| r.state.occupancy()).collect()
    }

    /// How many sessions the store keeps: in memory its count; over Redis, the session records
    /// left under the world's prefix (a replica's count is the one it last saw).
    pub fn stored_sessions(&self) -> usize {
        if self.is_shared() {
            return self.leftover_keys().iter().filter(|key| key.ends_with('}')).count();
        }
        self.replicas.iter().map(|r| r.state.sessions().len()).sum()
    }

    pub fn holds_anything_of(&self, id: SessionId) -> bool {
        self.replicas.iter().any(|r| r.state.holds_anything_of(id))
    }

    /// The replay of a stream, as the store has it.
    pub fn replay(&self, id: SessionId, stream: StreamId) -> Option<Replay> {
        let store = self.replicas[0].state.sessions().store();
        self.block_on(async { backed!(store, store => store.replay(id, stream, 0).await).ok() })
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        match &self.place {
            Place::Memory => futures::executor::block_on(future),
            #[cfg(feature = "redis")]
            Place::Redis(redis) => redis.runtime.block_on(future),
        }
    }

    /// Every live replica renews its lease, as each would have every few seconds while the clock
    /// moved on.
    pub fn renew_leases(&self) {
        #[cfg(feature = "redis")]
        for replica in &self.replicas {
            if let Some(bus) = &replica.bus {
                self.block_on(bus.renew(&replica.state)).ok();
            }
        }
    }

    /// Every replica tends its leases (see `RedisBus::tend`): streams resumed on it whose
    /// producer stopped renewing end with an error per request. Returns how many errors were
    /// sent.
    pub fn tend(&self) -> usize {
        #[cfg(feature = "redis")]
        return self
            .replicas
            .iter()
            .filter_map(|replica| replica.bus.as_ref().map(|bus| self.block_on(bus.tend(&replica.state)).unwrap_or(0)))
            .sum();
        #[cfg(not(feature = "redis"))]
        0
    }

    /// The keys left under the world's prefix in Redis other than the replicas' leases and the
    /// control stream (which outlive sessions by design): none once every session ended.
    pub fn leftover_keys(&self) -> Vec<String> {
        #[cfg(feature = "redis")]
        if let Place::Redis(redis) = &self.place {
            let keys: Vec<String> = redis
                .runtime
                .block_on(async {
                    let client = redis::Client::open(redis.url.as_str()).expect("a redis url");
                    let mut connection = client.get_multiplexed_async_connection().await.expect("redis answers");
                    redis::cmd("KEYS").arg(format!("{}:*", redis.prefix)).query_async(&mut connection).await
                })
                .expect("KEYS answers");
            // The replicas' leases and their index, and the control stream, are the bus's.
            let kept = [format!("{}:node", redis.prefix), format!("{}:ctl", redis.prefix)];
            return keys.into_iter().filter(|key| !kept.iter().any(|k| key.starts_with(k.as_str()))).collect();
        }
        Vec::new()
    }

    /// The node name of a replica over Redis (the prefix of the ids of its requests to clients).
    pub fn node(&self, index: usize) -> Option<String> {
        #[cfg(feature = "redis")]
        if let Some(bus) = &self.replicas[index].bus {
            return mcp_session::bus::Bus::node(bus).map(str::to_owned);
        }
        let _ = index;
        None
    }

    /// One replica over Redis dies and another process takes its place: everything it held
    /// (connections, running calls, its lease's renewals) is gone; the store keeps the rest.
    pub fn restart_replica(&mut self, index: usize, seed: u64) {
        let store = self.store(seed);
        let replica = self.replica(store, seed);
        drop(std::mem::replace(&mut self.replicas[index], replica));
        self.pump();
    }

    /// A process restart over the same storage: a new engine reads back every session and
    /// replay log; connections, running calls and everything live are gone.
    pub fn restart(mut self, seed: u64) -> Self {
        let store = self.store(seed ^ 0x5eed);
        {
            let old = self.replicas[0].state.sessions().store().memory();
            for (id, stored) in sessions_of(old) {
                let mut logs = Vec::new();
                for stream in old.streams(id) {
                    let replay = futures::executor::block_on(old.replay(id, stream, 0)).expect("the log exists");
                    let latest = latest_seq(old, id, stream);
                    let (log, _) = ReplayLog::recover(stream, old.policy().log, latest, replay.events, replay.finished);
                    logs.push(log);
                }
                store.memory().restore(stored, logs).expect("a fresh store has no duplicates");
            }
        }
        self.replicas.clear();
        let replica = self.replica(store, seed ^ 0xface);
        self.replicas.push(replica);
        self
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
