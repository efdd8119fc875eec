//! Sessions and replay logs in Redis (or Valkey), shared by every replica of a service.
//!
//! [`RedisStore`] implements [`Store`] with one Lua script per operation, so each check and its
//! writes are one atomic step on the Redis server, whichever replica runs it: admission caps hold
//! across replicas, a lookup's expiry check and touch cannot race a DELETE, and a stream's
//! sequence numbers stay dense with appends from any replica. Deadlines are decided on the
//! engine's clock (every script takes `now` as an argument); Redis's own clock is never asked.
//!
//! What the store shares is what is persisted: records, application state, replay logs. A client
//! may send any request of a session to any replica, resume a stream there with
//! `Last-Event-ID` and get exactly what it missed, or the exact number it lost. What is live
//! (a handler on one replica emitting to a stream another holds, a request to the client
//! answered on another replica, a cancellation or DELETE posted to another replica, a change
//! for listen streams held elsewhere) crosses on the [`RedisBus`]: give it to the engine
//! ([`EngineState::with_bus`](crate::EngineState::with_bus)) and run [`RedisBus::follow`], and
//! replicas need no sticky load balancer.
//!
//! One difference in what a client sees: a GET without `Last-Event-ID` starts after the
//! standalone stream's latest event, since this replica cannot know what another one already
//! delivered. Events published while no GET was attached are reached by resuming with
//! `Last-Event-ID`, as the official clients do.
//!
//! A Redis that cannot be reached, or refuses a write (`maxmemory` with `noeviction`), makes the
//! operation fail with [`StoreUnavailable`]: the HTTP engine answers 503 with `Retry-After`,
//! never 404, so clients keep their sessions. The connection reconnects by itself.
//!
//! Memory in Redis is bounded per session as in memory: [`StorePolicy::log`] per stream log
//! (events and bytes) and [`StorePolicy::max_streams_per_session`] logs. The store-wide
//! [`StorePolicy::retained_bytes`] budget is not applied: bound the whole with Redis's
//! `maxmemory` and `maxmemory-policy noeviction` (an evicting policy would drop logs silently).
//!
//! Keys of ended sessions are removed with the session, atomically. Each also carries a TTL as a
//! backstop ([`RedisStoreConfig::backstop`]) for sessions that no replica is left to sweep.
//!
//! All keys of one session share the hash tag `{id}`; the deadline, tenant and hold indexes are
//! keys of their own, so the store needs a single primary (standalone, or with replicas and
//! Sentinel), not Redis Cluster (`docs/ARCHITECTURE.md` says why).

mod bus;
mod connections;
mod scripts;

pub use bus::{RedisBacked, RedisBus};

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use connections::Connections;
use redis::aio::ConnectionManager;
use redis::{RedisError, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;
use thread_local::ThreadLocal;

use crate::clock::Timestamp;
use crate::jsonrpc::Id;
use crate::session::{
    CreateError, LookupError, Owner, ReplayError, SessionId, SessionRecord, Store, StorePolicy, StoreUnavailable,
    StreamError, TenantId,
};
use crate::stream::{AheadOfStream, Event, EventId, LogLimits, Replay, StreamId, EVENT_OVERHEAD_BYTES};

use scripts::Scripts;

/// How a [`RedisStore`] talks to Redis.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisStoreConfig {
    /// Prepended to every key (`<prefix>:{<session>}` …), so several services or test runs share
    /// one Redis. Default `mcp`.
    pub prefix: String,
    /// The limits and expiry rules, as for [`MemoryStore`](crate::session::MemoryStore).
    pub policy: StorePolicy,
    /// How long one command may take before the operation fails with [`StoreUnavailable`].
    /// Default 2 s.
    pub response_timeout: Duration,
    /// How long connecting (and each reconnection) may take. Default 2 s.
    pub connection_timeout: Duration,
    /// The longest a replica waits between expiry sweeps even when it knows of no deadline:
    /// other replicas create sessions this one never sees. Default 5 s.
    pub sweep_interval: Duration,
    /// How long past a session's deadline Redis removes its keys by itself, should no replica
    /// sweep it first (every replica stopped, say): a backstop, never what decides expiry. The
    /// keys' TTLs are extended as the deadline moves, once it has moved half this margin, so a
    /// session's keys outlive its deadline by at least half of it. Counted on Redis's clock
    /// from each extension, so keep it far above the drift between the engine's clock and
    /// Redis's over a session's idle timeout. Default 1 h.
    pub backstop: Duration,
}

impl Default for RedisStoreConfig {
    fn default() -> Self {
        Self {
            prefix: "mcp".to_owned(),
            policy: StorePolicy::default(),
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(2),
            sweep_interval: Duration::from_secs(5),
            backstop: Duration::from_secs(60 * 60),
        }
    }
}

/// Sessions and replay logs in Redis; see the [module docs](self).
///
/// `D` is stored as JSON. Updates are optimistic: read, change, and write back only if no other
/// replica wrote in between (else retry), so [`Store::update`]'s closure may run more than once.
/// An update that follows a lookup of the same session on the same thread starts from what the
/// lookup read, so it costs one round trip when nothing was written in between.
pub struct RedisStore<D> {
    connections: Connections,
    config: RedisStoreConfig,
    scripts: Scripts,
    /// The earliest deadline (ms) the last script reported, `u64::MAX` for none.
    earliest: AtomicU64,
    /// The latest `now` (ms) the engine passed, for [`RedisStoreConfig::sweep_interval`].
    last_now: AtomicU64,
    sessions: AtomicUsize,
    /// See [`RedisStore::node`].
    node: Arc<str>,
    /// Where the connection came from, for the bus's connections of its own.
    client: redis::Client,
    /// The state the latest lookup on each thread read, with its version: an update that
    /// follows it (the engine's usual order) writes without reading it again.
    last_read: ThreadLocal<RefCell<Option<ReadState>>>,
    _data: PhantomData<fn() -> D>,
}

/// A session's application state as read, and the version it had.
struct ReadState {
    id: SessionId,
    version: String,
    data: String,
}

impl<D> std::fmt::Debug for RedisStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.config.prefix).finish_non_exhaustive()
    }
}

/// Times travel as whole milliseconds well inside a Lua number's exact range: a timeout of
/// centuries is as good as none.
const MAX_MS: u64 = 1 << 43;

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).min(MAX_MS)
}

fn at(timestamp: Timestamp) -> u64 {
    timestamp.as_millis().min(MAX_MS)
}

/// Updates retried this often against concurrent writers before the store gives up. A failed
/// attempt means another writer succeeded, so this many writers racing on one session all land.
const UPDATE_ATTEMPTS: usize = 64;

/// Sessions removed per expiry script, so one sweep never blocks Redis for long.
const EXPIRE_BATCH: usize = 256;

/// Holds of a dead replica ended per script, and dead replicas looked at per tend, for the same
/// reason.
const REAP_BATCH: usize = 256;

fn unavailable(error: RedisError) -> StoreUnavailable {
    tracing::warn!(target: "mcp_session::store", %error, "redis unavailable");
    StoreUnavailable
}

fn corrupt(what: &str) -> StoreUnavailable {
    tracing::error!(target: "mcp_session::store", what, "unexpected reply from redis");
    StoreUnavailable
}

impl<D> RedisStore<D> {
    /// Connects to the Redis at `url` (`redis://127.0.0.1:6379/0`, `unix:///run/redis.sock`)
    /// and reads when the sessions already there are due, so that a replica started later
    /// sweeps them on time. Commands need a runtime: enable the `tokio` or `async-std` feature
    /// and call this inside one that outlives the store (it drives the connection). Under
    /// tokio, each thread that sends commands from inside a runtime also gets a connection of
    /// its own, driven there, so that a host's workers send without a hop between threads.
    ///
    /// # Panics
    ///
    /// If `config.policy` keeps no event per stream or fewer than 2 streams per session, as
    /// [`MemoryStore::new`](crate::session::MemoryStore::new).
    pub async fn connect(url: &str, config: RedisStoreConfig) -> Result<Self, RedisError> {
        assert!(config.policy.log.events > 0, "replay capacity must be at least 1");
        assert!(config.policy.max_streams_per_session >= 2, "max_streams_per_session must be at least 2");
        let client = redis::Client::open(url)?;
        let manager = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.response_timeout))
            .set_connection_timeout(Some(config.connection_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connections = Connections::connect(client.clone(), manager).await?;
        // 48 random bits: ids of requests to clients carry it, so it stays short.
        let node = format!("{:012x}", uuid::Uuid::new_v4().as_u128() >> 80);
        let store = Self {
            connections,
            config,
            scripts: Scripts::new(),
            earliest: AtomicU64::new(u64::MAX),
            last_now: AtomicU64::new(u64::MAX),
            sessions: AtomicUsize::new(0),
            node: node.into(),
            client,
            last_read: ThreadLocal::new(),
            _data: PhantomData,
        };
        let summary: Value =
            store.scripts.summary.key(store.deadlines_key()).invoke_async(&mut store.connection()).await?;
        if let Value::Array(items) = &summary {
            if let [earliest, count] = &items[..] {
                store.note_summary(earliest, count);
            }
        }
        Ok(store)
    }

    /// The configuration this store was built with.
    pub fn config(&self) -> &RedisStoreConfig {
        &self.config
    }

    fn record_key(&self, id: SessionId) -> String {
        format!("{}:{{{id}}}", self.config.prefix)
    }

    fn logs_key(&self, id: SessionId) -> String {
        format!("{}:{{{id}}}:l", self.config.prefix)
    }

    fn log_key(&self, id: SessionId, stream: StreamId) -> String {
        format!("{}:{{{id}}}:l:{}", self.config.prefix, stream.number())
    }

    /// The pub/sub channel of doorbells (see [`RedisBus`]).
    fn bell_key(&self) -> String {
        format!("{}:bell", self.config.prefix)
    }

    /// The stream of control messages between replicas (see [`RedisBus`]).
    fn control_key(&self) -> String {
        format!("{}:ctl", self.config.prefix)
    }

    /// A doorbell of this replica for `id`, without the stream number the script appends.
    fn bell(&self, id: SessionId) -> String {
        format!("{} {id}", self.node)
    }

    /// The key of a replica's lease (see [`RedisBus`]).
    fn lease_key(&self, node: &str) -> String {
        format!("{}:node:{node}", self.config.prefix)
    }

    /// Every replica with a lease, scored by its lease's end.
    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.config.prefix)
    }

    /// The sessions a replica holds (an attached stream or a running call there).
    fn holds_key(&self, node: &str) -> String {
        format!("{}:holds:{node}", self.config.prefix)
    }

    /// Ends the holds of every replica whose lease ran out by `now`, so that the sessions they
    /// held idle out as if each had been released when its replica's lease ended: a replica
    /// that dies releases nothing itself. Returns how many holds were ended.
    async fn reap_dead(&self, now: Timestamp) -> Result<usize, StoreUnavailable> {
        let dead: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.nodes_key())
            .arg("-inf")
            .arg(at(now))
            .arg("LIMIT")
            .arg(0)
            .arg(REAP_BATCH)
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        let [idle, absolute, init] = self.expiry_args();
        let mut ended = 0;
        for node in dead {
            loop {
                let items = self
                    .run(
                        self.scripts
                            .reap
                            .key(self.nodes_key())
                            .key(self.holds_key(&node))
                            .key(self.deadlines_key())
                            .arg(&node)
                            .arg(at(now))
                            .arg(&self.config.prefix)
                            .arg(idle)
                            .arg(absolute)
                            .arg(init)
                            .arg(self.backstop_ms())
                            .arg(REAP_BATCH),
                    )
                    .await?;
                let [released, left, earliest, count] = &items[..] else { return Err(corrupt("reap")) };
                self.note_summary(earliest, count);
                let released = integer(released).ok_or_else(|| corrupt("reap"))?;
                ended += usize::try_from(released).unwrap_or(0);
                if released < 0 || integer(left) == Some(0) {
                    break;
                }
            }
        }
        Ok(ended)
    }

    /// Ends stream `stream` of `id` if the replica producing it holds no lease at `now`, with one
    /// JSON-RPC error per request it answers that the log holds no response to. Returns how many
    /// errors were appended, or `None` when the stream was not ended here.
    async fn abandon_if_orphaned(
        &self,
        id: SessionId,
        stream: StreamId,
        now: Timestamp,
    ) -> Result<Option<u64>, StoreUnavailable> {
        let limits = self.config.policy.log;
        let outcome: i64 = self
            .scripts
            .abandon
            .key(self.record_key(id))
            .key(self.logs_key(id))
            .key(self.log_key(id, stream))
            .arg(stream.number())
            .arg(at(now))
            .arg(self.lease_key(""))
            .arg("the server replica running this request stopped")
            .arg(limits.events)
            .arg(limits.bytes)
            .arg(EVENT_OVERHEAD_BYTES)
            .arg(self.bell_key())
            .arg(self.bell(id))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(u64::try_from(outcome).ok())
    }

    /// This replica's name among those sharing the store: random per connection, so a
    /// restarted process is a new replica.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn deadlines_key(&self) -> String {
        format!("{}:dl", self.config.prefix)
    }

    /// Tenant names are arbitrary text (braces included, any length), so the key carries a
    /// digest of the name.
    fn tenant_key(&self, tenant: &TenantId) -> String {
        format!("{}:t:{}", self.config.prefix, digest(tenant.as_str().as_bytes()))
    }

    fn expiry_args(&self) -> [u64; 3] {
        let expiry = &self.config.policy.expiry;
        [ms(expiry.idle), ms(expiry.absolute), ms(expiry.initialization)]
    }

    /// [`RedisStoreConfig::backstop`] in ms; the scripts add it to deadlines, so it stays in
    /// the range where the sum is exact.
    fn backstop_ms(&self) -> u64 {
        ms(self.config.backstop)
    }

    /// The connection for this thread's commands (see `connections.rs`).
    fn connection(&self) -> ConnectionManager {
        self.connections.get()
    }

    /// The connection the store was made with, the same from every thread.
    fn shared_connection(&self) -> ConnectionManager {
        self.connections.shared()
    }

    /// Keeps what a script said about the whole store: the earliest deadline and the count.
    fn note_summary(&self, earliest: &Value, count: &Value) {
        let earliest = text(earliest).and_then(|s| s.parse::<f64>().ok()).map_or(u64::MAX, |v| v as u64);
        self.earliest.store(earliest, Ordering::Relaxed);
        if let Some(count) = integer(count) {
            self.sessions.store(usize::try_from(count).unwrap_or(usize::MAX), Ordering::Relaxed);
        }
    }

    fn note_now(&self, now: Timestamp) {
        let now = now.as_millis();
        let _ = self
            .last_now
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |seen| (seen == u64::MAX || now > seen).then_some(now));
    }
}

/// The first 128 bits of SHA-256, in hex: a fixed-length stand-in for a name of any length
/// (an owner, a tenant) that is only ever compared.
fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    hash[..16].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What the record keeps of an owner: a digest, so the record stays compact however long the
/// tenant and principal names are.
fn owner_digest(owner: &Owner) -> Result<String, StoreUnavailable> {
    let json = serde_json::to_vec(owner).map_err(|_| corrupt("an owner"))?;
    Ok(digest(&json))
}

impl<D> RedisStore<D> {
    /// Runs a script (loading it first where Redis lost it) and returns its reply's items.
    async fn run(&self, invocation: &redis::ScriptInvocation<'_>) -> Result<Vec<Value>, StoreUnavailable> {
        let reply: Value = invocation.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        items(reply)
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok().filter(|s| !s.is_empty()),
        Value::SimpleString(s) => Some(s.as_str()).filter(|s| !s.is_empty()),
        _ => None,
    }
}

fn bytes(value: &Value) -> Option<Bytes> {
    match value {
        Value::BulkString(bytes) => Some(Bytes::copy_from_slice(bytes)),
        Value::SimpleString(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        _ => None,
    }
}

fn items(value: Value) -> Result<Vec<Value>, StoreUnavailable> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(corrupt("a script reply that is not an array")),
    }
}

fn code(items: &[Value]) -> Result<i64, StoreUnavailable> {
    items.first().and_then(integer).ok_or_else(|| corrupt("a script reply without its code"))
}

fn ms_field(value: Option<&Value>) -> Result<Timestamp, StoreUnavailable> {
    let millis = value.and_then(integer).ok_or_else(|| corrupt("a time field"))?;
    Ok(Timestamp::from_millis(u64::try_from(millis).unwrap_or(0)))
}

impl<D: Serialize + DeserializeOwned> Store<D> for RedisStore<D> {
    async fn create(&self, record: SessionRecord<D>) -> Result<(), CreateError> {
        let policy = &self.config.policy;
        let owner = owner_digest(&record.owner)?;
        let data = serde_json::to_string(&record.data).map_err(|_| corrupt("session data that does not serialize"))?;
        let deadline = at(policy.expiry.deadline(&record));
        let cap = |limit: Option<usize>| limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let tenant_key = self.tenant_key(&record.owner.tenant);
        let items = self
            .run(
                self.scripts
                    .create
                    .key(self.record_key(record.id))
                    .key(self.deadlines_key())
                    .key(&tenant_key)
                    .arg(record.id.to_string())
                    .arg(owner)
                    .arg(&tenant_key)
                    .arg(at(record.created_at))
                    .arg(at(record.last_seen))
                    .arg(u8::from(record.used))
                    .arg(data)
                    .arg(deadline)
                    .arg(cap(policy.max_sessions))
                    .arg(cap(policy.max_sessions_per_tenant))
                    .arg(self.backstop_ms()),
            )
            .await?;
        match code(&items)? {
            0 => {
                // What the store knew was due first, or this session; the count Redis had.
                self.earliest.fetch_min(deadline, Ordering::Relaxed);
                let count = items.get(1).and_then(integer).ok_or_else(|| corrupt("create"))?;
                self.sessions.store(usize::try_from(count).unwrap_or(usize::MAX), Ordering::Relaxed);
                Ok(())
            }
            1 => Err(CreateError::Duplicate),
            2 => Err(CreateError::TooManySessions { limit: policy.max_sessions.unwrap_or(0) }),
            3 => Err(CreateError::TooManySessionsForTenant {
                tenant: record.owner.tenant,
                limit: policy.max_sessions_per_tenant.unwrap_or(0),
            }),
            _ => Err(corrupt("create").into()),
        }
    }

    async fn lookup(&self, id: SessionId, owner: &Owner, now: Timestamp) -> Result<SessionRecord<D>, LookupError> {
        self.note_now(now);
        let owner_json = owner_digest(owner)?;
        let [idle, absolute, init] = self.expiry_args();
        let items = self
            .run(
                self.scripts
                    .lookup
                    .key(self.record_key(id))
                    .key(self.deadlines_key())
                    .arg(id.to_string())
                    .arg(owner_json)
                    .arg(at(now))
                    .arg(idle)
                    .arg(absolute)
                    .arg(init)
                    .arg(self.backstop_ms()),
            )
            .await?;
        match code(&items)? {
            0 => {
                let [_, created, seen, data, version] = &items[..] else { return Err(corrupt("lookup").into()) };
                let text_data = text(data).ok_or_else(|| corrupt("session data"))?;
                let data = serde_json::from_str(text_data).map_err(|_| corrupt("session data that does not parse"))?;
                if let Some(version) = text(version) {
                    let read = ReadState { id, version: version.to_owned(), data: text_data.to_owned() };
                    *self.last_read.get_or_default().borrow_mut() = Some(read);
                }
                Ok(SessionRecord {
                    id,
                    owner: owner.clone(),
                    created_at: ms_field(Some(created))?,
                    last_seen: ms_field(Some(seen))?,
                    used: true,
                    data,
                })
            }
            1 => Err(LookupError::Unknown),
            2 => {
                if let [_, earliest, count] = &items[..] {
                    self.note_summary(earliest, count);
                }
                Err(LookupError::Expired)
            }
            3 => Err(LookupError::Forbidden),
            _ => Err(corrupt("lookup").into()),
        }
    }

    async fn update<F: FnMut(&mut D)>(&self, id: SessionId, mut change: F) -> Result<(), LookupError> {
        let key = self.record_key(id);
        // What this thread's latest lookup read, if it was of this session: the version check
        // below refuses it if another write came since, and the loop then reads afresh.
        let mut hint = self.last_read.get_or_default().borrow_mut().take().filter(|read| read.id == id);
        for _ in 0..UPDATE_ATTEMPTS {
            let (version, data, fresh) = match hint.take() {
                Some(read) => (read.version, read.data, false),
                None => {
                    let read: Vec<String> = self
                        .scripts
                        .read_state
                        .key(&key)
                        .invoke_async(&mut self.connection())
                        .await
                        .map_err(unavailable)?;
                    let [version, data] = &read[..] else { return Err(LookupError::Unknown) };
                    (version.clone(), data.clone(), true)
                }
            };
            let mut state: D = serde_json::from_str(&data).map_err(|_| corrupt("session data that does not parse"))?;
            change(&mut state);
            let written = serde_json::to_string(&state).map_err(|_| corrupt("session data that does not serialize"))?;
            if written == data {
                // Nothing to write, as far as a fresh read can tell; a hint may be out of date.
                if fresh {
                    return Ok(());
                }
                continue;
            }
            let outcome: i64 = self
                .scripts
                .update
                .key(&key)
                .arg(version)
                .arg(written)
                .invoke_async(&mut self.connection())
                .await
                .map_err(unavailable)?;
            match outcome {
                0 => return Ok(()),
                1 => return Err(LookupError::Unknown),
                _ => continue,
            }
        }
        tracing::warn!(target: "mcp_session::store", session = %id, "update kept meeting concurrent writes");
        Err(StoreUnavailable.into())
    }

    async fn remove(&self, id: SessionId) -> Result<bool, StoreUnavailable> {
        let items = self
            .run(self.scripts.remove.key(self.record_key(id)).key(self.deadlines_key()).arg(id.to_string()))
            .await?;
        let [existed, earliest, count] = &items[..] else { return Err(corrupt("remove")) };
        self.note_summary(earliest, count);
        Ok(integer(existed) == Some(1))
    }

    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError> {
        self.open_stream_answering(id, &[]).await
    }

    async fn open_stream_answering(&self, id: SessionId, requests: &[Id]) -> Result<StreamId, StreamError> {
        let limit = self.config.policy.max_streams_per_session;
        let answers = serde_json::to_string(requests).map_err(|_| corrupt("request ids that do not serialize"))?;
        let items = self
            .run(
                self.scripts
                    .open_stream
                    .key(self.record_key(id))
                    .key(self.logs_key(id))
                    .arg(limit)
                    .arg(&*self.node)
                    .arg(answers),
            )
            .await?;
        match code(&items)? {
            0 => {
                let number = items.get(1).and_then(integer).and_then(|n| u32::try_from(n).ok());
                Ok(StreamId::new(number.ok_or_else(|| corrupt("a stream number"))?))
            }
            1 => Err(StreamError::UnknownSession),
            2 => Err(StreamError::TooManyStreams { limit }),
            _ => Err(corrupt("open_stream").into()),
        }
    }

    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<Event, StreamError> {
        let limits = self.config.policy.log;
        let items = self
            .run(
                self.scripts
                    .append
                    .key(self.record_key(id))
                    .key(self.logs_key(id))
                    .key(self.log_key(id, stream))
                    .arg(stream.number())
                    .arg(payload.as_ref())
                    .arg(limits.events)
                    .arg(limits.bytes)
                    .arg(EVENT_OVERHEAD_BYTES)
                    .arg(self.bell_key())
                    .arg(self.bell(id)),
            )
            .await?;
        match code(&items)? {
            0 => {
                let seq = items.get(1).and_then(integer).and_then(|n| u64::try_from(n).ok());
                let seq = seq.ok_or_else(|| corrupt("a sequence number"))?;
                Ok(Event::new(EventId::message(stream, seq), payload))
            }
            1 => Err(StreamError::UnknownSession),
            2 => Err(StreamError::UnknownStream(stream)),
            3 => Err(StreamError::Finished(stream)),
            _ => Err(corrupt("append").into()),
        }
    }

    async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError> {
        let outcome: i64 = self
            .scripts
            .finish
            .key(self.record_key(id))
            .key(self.logs_key(id))
            .arg(stream.number())
            .arg(self.bell_key())
            .arg(self.bell(id))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        match outcome {
            0 => Ok(()),
            1 => Err(StreamError::UnknownSession),
            _ => Err(StreamError::UnknownStream(stream)),
        }
    }

    async fn replay(&self, id: SessionId, stream: StreamId, after: u64) -> Result<Replay, ReplayError> {
        let items = self
            .run(
                self.scripts
                    .replay
                    .key(self.record_key(id))
                    .key(self.logs_key(id))
                    .key(self.log_key(id, stream))
                    .arg(stream.number())
                    .arg(after),
            )
            .await?;
        match code(&items)? {
            0 => {
                let latest = items.get(1).and_then(integer).and_then(|n| u64::try_from(n).ok());
                let latest = latest.ok_or_else(|| corrupt("a latest sequence number"))?;
                let finished = items.get(2).and_then(integer) == Some(1);
                let mut events = Vec::with_capacity(items.len().saturating_sub(3) / 2);
                for pair in items.get(3..).unwrap_or_default().chunks(2) {
                    let [entry, payload] = pair else { return Err(corrupt("a log entry").into()) };
                    let seq = text(entry)
                        .and_then(|id| id.strip_prefix("0-"))
                        .and_then(|seq| seq.parse::<u64>().ok())
                        .ok_or_else(|| corrupt("a log entry id"))?;
                    let payload = bytes(payload).ok_or_else(|| corrupt("a log payload"))?;
                    events.push(Event::new(EventId::message(stream, seq), payload));
                }
                // Sequence numbers are dense, so what the log no longer has is exactly countable.
                let first = events.first().map_or(latest + 1, |e| e.id().seq());
                let lost = first.saturating_sub(after + 1);
                // Any replica may have handed any of them to a stream: a subscription without
                // `Last-Event-ID` starts after the latest, so nothing reaches a client twice.
                Ok(Replay { lost, events, finished, maybe_delivered: latest })
            }
            1 => Err(ReplayError::UnknownSession),
            2 => Err(ReplayError::UnknownStream(stream)),
            3 => {
                let latest = items.get(1).and_then(integer).and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
                Err(AheadOfStream { requested: after, latest }.into())
            }
            _ => Err(corrupt("replay").into()),
        }
    }

    async fn set_held(&self, id: SessionId, held: bool, at_time: Timestamp) -> Result<(), StoreUnavailable> {
        let [idle, absolute, init] = self.expiry_args();
        let items = self
            .run(
                self.scripts
                    .set_held
                    .key(self.record_key(id))
                    .key(self.deadlines_key())
                    .key(self.holds_key(&self.node))
                    .arg(id.to_string())
                    .arg(u8::from(held))
                    .arg(at(at_time))
                    .arg(idle)
                    .arg(absolute)
                    .arg(init)
                    .arg(self.backstop_ms())
                    .arg(&*self.node),
            )
            .await?;
        if let [earliest, count] = &items[..] {
            self.note_summary(earliest, count);
        }
        Ok(())
    }

    async fn expire(&self, now: Timestamp) -> Result<Vec<SessionId>, StoreUnavailable> {
        self.note_now(now);
        let [idle, absolute, init] = self.expiry_args();
        let mut expired = Vec::new();
        loop {
            let items = self
                .run(
                    self.scripts
                        .expire
                        .key(self.deadlines_key())
                        .arg(at(now))
                        .arg(&self.config.prefix)
                        .arg(EXPIRE_BATCH)
                        .arg(idle)
                        .arg(absolute)
                        .arg(init),
                )
                .await?;
            let [earliest, count, examined, ids @ ..] = &items[..] else { return Err(corrupt("expire")) };
            self.note_summary(earliest, count);
            for id in ids {
                let id = text(id).and_then(|id| id.parse().ok()).ok_or_else(|| corrupt("a session id"))?;
                expired.push(id);
            }
            // Entries the batch scored anew left the due range as surely as those it removed.
            if integer(examined).is_none_or(|n| n < EXPIRE_BATCH as i64) {
                return Ok(expired);
            }
        }
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        let earliest = self.earliest.load(Ordering::Relaxed);
        let last_now = self.last_now.load(Ordering::Relaxed);
        let sweep =
            (last_now != u64::MAX).then(|| Timestamp::from_millis(last_now).saturating_add(self.config.sweep_interval));
        let known = (earliest != u64::MAX).then(|| Timestamp::from_millis(earliest));
        match (known, sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn sessions_of(&self, tenant: &TenantId) -> Result<Vec<(SessionId, D)>, StoreUnavailable> {
        let items = self.run(self.scripts.sessions_of.key(self.tenant_key(tenant)).arg(&self.config.prefix)).await?;
        let mut members = Vec::with_capacity(items.len() / 2);
        for pair in items.chunks(2) {
            let [id, data] = pair else { return Err(corrupt("a tenant member")) };
            let id = text(id).and_then(|id| id.parse().ok()).ok_or_else(|| corrupt("a session id"))?;
            let data = text(data).ok_or_else(|| corrupt("session data"))?;
            let data = serde_json::from_str(data).map_err(|_| corrupt("session data that does not parse"))?;
            members.push((id, data));
        }
        Ok(members)
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn log_limits(&self) -> LogLimits {
        self.config.policy.log
    }

    fn len(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }
}
