//! Replicas sharing one Redis: several stores (each a replica's) on one key prefix, and HTTP
//! engines over them, against a real `redis-server`. What the store shares holds across
//! replicas: a session made on one is served by another, a stream written on one resumes on
//! another with exactly what was missed, caps count every replica's sessions, updates from two
//! replicas both land, an expiry or DELETE anywhere is a 404 everywhere, and an outage is a 503
//! with `Retry-After` (never a 404), after which the service recovers by itself (invariant 11 of
//! the crate docs).
#![cfg(all(feature = "redis", feature = "tokio", feature = "async-std"))]

mod support_redis;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::header::RETRY_AFTER;
use http::{Method, Response, StatusCode};
use mcp_session::http::headers::{LAST_EVENT_ID, MCP_SESSION_ID};
use mcp_session::http::ResponseMode;
use mcp_session::model::{CallToolResult, LogLevel, Tool};
use mcp_session::redis::RedisStore;
use mcp_session::session::{CreateError, LookupError, StorePolicy, StoreUnavailable};
use mcp_session::{
    Body, Engine, EngineConfig, EngineState, ManualClock, McpSession, Owner, Principal, RequestContext, Server,
    SessionId, SessionIdGenerator, SessionRecord, Sessions, SessionsConfig, SpawnFn, Store, StreamId, TenantId,
    Timestamp,
};
use serde_json::{json, Value};

use support_redis::{call, fresh_prefix, request, Event, RedisServer, VERSION};

fn run(test: impl AsyncFnOnce(&mut RedisServer)) {
    let Some(mut server) = RedisServer::start() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, test(&mut server));
}

fn record(id: SessionId, tenant: &str) -> SessionRecord<u64> {
    let at = Timestamp::from_millis(1_000);
    SessionRecord {
        id,
        owner: Owner::new(TenantId::new(tenant), Principal::anonymous()),
        created_at: at,
        last_seen: at,
        used: true,
        data: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Stores

#[test]
fn a_session_made_on_one_replica_is_found_and_touched_on_another() {
    run(async |server| {
        let prefix = fresh_prefix();
        let a: RedisStore<u64> = server.store_at(&prefix, StorePolicy::default()).await;
        let b: RedisStore<u64> = server.store_at(&prefix, StorePolicy::default()).await;
        let id = SessionIdGenerator::seeded(1).next_id();
        a.create(record(id, "t")).await.unwrap();
        let owner = Owner::new(TenantId::new("t"), Principal::anonymous());
        let seen = b.lookup(id, &owner, Timestamp::from_millis(5_000)).await.unwrap();
        assert_eq!(seen.last_seen, Timestamp::from_millis(5_000));
        let again = a.lookup(id, &owner, Timestamp::from_millis(4_000)).await.unwrap();
        assert_eq!(again.last_seen, Timestamp::from_millis(5_000), "B's touch is what A sees; time never goes back");
    });
}

#[test]
fn a_replica_started_later_sweeps_the_sessions_already_there_on_time() {
    run(async |server| {
        let prefix = fresh_prefix();
        let first: RedisStore<u64> = server.store_at(&prefix, StorePolicy::default()).await;
        let id = SessionIdGenerator::seeded(10).next_id();
        first.create(record(id, "t")).await.unwrap();
        let deadline = StorePolicy::default().expiry.deadline(&record(id, "t"));
        let later: RedisStore<u64> = server.store_at(&prefix, StorePolicy::default()).await;
        assert_eq!(later.next_deadline(), Some(deadline), "known before it served any request");
        assert_eq!(later.len(), 1);
        assert_eq!(later.expire(deadline).await.unwrap(), vec![id]);
        assert_eq!(later.len(), 0);
        let sweep = later.config().sweep_interval;
        assert_eq!(later.next_deadline(), Some(deadline.saturating_add(sweep)), "other replicas may create more");
    });
}

#[test]
fn a_stream_written_on_one_replica_resumes_on_another_with_exact_loss() {
    run(async |server| {
        let prefix = fresh_prefix();
        let mut policy = StorePolicy::default();
        policy.log.events = 8;
        let a: RedisStore<u64> = server.store_at(&prefix, policy.clone()).await;
        let b: RedisStore<u64> = server.store_at(&prefix, policy).await;
        let id = SessionIdGenerator::seeded(2).next_id();
        a.create(record(id, "t")).await.unwrap();
        let stream = a.open_stream(id).await.unwrap();
        for n in 1..=20 {
            // Both replicas write the one stream: numbers stay dense across them.
            let writer = if n % 2 == 0 { &a } else { &b };
            assert_eq!(writer.append(id, stream, Bytes::from(format!("m{n}"))).await.unwrap().id().seq(), n);
        }
        b.finish(id, stream).await.unwrap();
        let replay = b.replay(id, stream, 3).await.unwrap();
        assert_eq!(replay.lost, 9);
        let got: Vec<_> = replay.events.iter().map(|e| (e.id().seq(), e.payload().clone())).collect();
        let want: Vec<_> = (13..=20).map(|n| (n, Bytes::from(format!("m{n}")))).collect();
        assert_eq!(got, want);
        assert!(replay.finished);
        assert_eq!(
            a.append(id, stream, Bytes::from_static(b"late")).await.unwrap_err().to_string(),
            "stream 1 is finished"
        );
    });
}

#[test]
fn a_cap_holds_across_replicas_under_concurrent_creates() {
    run(async |server| {
        let prefix = fresh_prefix();
        let mut policy = StorePolicy::default();
        policy.max_sessions_per_tenant = Some(3);
        let mut replicas: Vec<RedisStore<u64>> = Vec::new();
        for _ in 0..3 {
            replicas.push(server.store_at(&prefix, policy.clone()).await);
        }
        let mut ids = SessionIdGenerator::seeded(3);
        let attempts = (0..10).map(|n| {
            let store = &replicas[n % 3];
            let id = ids.next_id();
            async move { store.create(record(id, "capped")).await }
        });
        let outcomes = futures::future::join_all(attempts).await;
        let created = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(created, 3, "{outcomes:?}");
        assert!(outcomes.iter().all(|o| matches!(o, Ok(()) | Err(CreateError::TooManySessionsForTenant { .. }))));
        assert_eq!(replicas[0].sessions_of(&TenantId::new("capped")).await.unwrap().len(), 3);
    });
}

/// Connections Redis has open, the one asking not counted.
fn clients(server: &RedisServer) -> usize {
    server.cli(&["CLIENT", "LIST"]).lines().count() - 1
}

/// A worker thread sends on a connection of its own once it is made, without a hop to the
/// thread that made the store; when the runtime that drove it is gone, the thread's next
/// runtime works at once and gets a connection of its own again.
#[test]
fn a_thread_gets_a_connection_of_its_own_and_a_new_runtime_a_new_one() {
    let Some(server) = RedisServer::start() else { return };
    // The store's own connection is driven by a runtime that runs all along, as a host's is.
    let driver = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let store: Arc<RedisStore<u64>> = Arc::new(driver.block_on(server.store_at(&fresh_prefix(), long_lived())));
    let id = SessionIdGenerator::seeded(22).next_id();
    driver.block_on(store.create(record(id, "t"))).unwrap();
    let before = clients(&server);
    let owner = Owner::new(TenantId::new("t"), Principal::anonymous());
    let on_a_worker = |store: Arc<RedisStore<u64>>, owner: Owner, server: &RedisServer| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            // The first lookups go on the store's connection while this thread's is made.
            for n in 0..200 {
                store.lookup(id, &owner, Timestamp::from_millis(1_000 + n)).await.expect("a lookup");
                if clients(server) > before {
                    assert_eq!(clients(server), before + 1, "one connection for the thread");
                    return;
                }
            }
            panic!("no connection of the thread's own after 200 lookups");
        });
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            on_a_worker(store.clone(), owner.clone(), &server);
            // The runtime is dropped with its connection's task; the next one finds it gone
            // (sending on it would fail) and sends on the store's connection meanwhile.
            on_a_worker(store.clone(), owner.clone(), &server);
        });
    });
}

/// How often Redis ran each command since its statistics were last reset (`INFO
/// commandstats`), the commands scripts ran included.
fn command_calls(server: &RedisServer) -> Vec<(String, u64)> {
    let stats = server.cli(&["INFO", "commandstats"]);
    let parse = |line: &str| -> Option<(String, u64)> {
        let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
        let calls = rest.strip_prefix("calls=")?.split(',').next()?.parse().ok()?;
        Some((name.to_owned(), calls))
    };
    stats.lines().filter(|l| l.starts_with("cmdstat_")).map(|l| parse(l).expect("a commandstats line")).collect()
}

/// Scripts Redis ran since the statistics were last reset.
fn scripts_run(server: &RedisServer) -> u64 {
    command_calls(server).into_iter().filter(|(name, _)| name == "evalsha" || name == "eval").map(|(_, n)| n).sum()
}

/// The engine's usual order (look the session up, then change its state) costs one round trip
/// for the change, and a write another replica made in between is built on, never overwritten.
#[test]
fn an_update_after_a_lookup_is_one_round_trip_and_keeps_a_write_made_between() {
    run(async |server| {
        let prefix = fresh_prefix();
        let a: RedisStore<u64> = server.store_at(&prefix, long_lived()).await;
        let b: RedisStore<u64> = server.store_at(&prefix, long_lived()).await;
        let id = SessionIdGenerator::seeded(23).next_id();
        a.create(record(id, "t")).await.unwrap();
        let owner = Owner::new(TenantId::new("t"), Principal::anonymous());
        // Every script once, so that none is loaded (a refused run, then a load) below.
        a.lookup(id, &owner, Timestamp::from_millis(1_001)).await.unwrap();
        a.update(id, |n| *n += 1).await.unwrap();
        server.cli(&["CONFIG", "RESETSTAT"]);
        a.lookup(id, &owner, Timestamp::from_millis(1_002)).await.unwrap();
        a.update(id, |n| *n += 1).await.unwrap();
        assert_eq!(scripts_run(server), 2, "the lookup, then the write");
        a.lookup(id, &owner, Timestamp::from_millis(1_003)).await.unwrap();
        b.update(id, |n| *n += 10).await.unwrap();
        a.update(id, |n| *n += 100).await.unwrap();
        let read = a.lookup(id, &owner, Timestamp::from_millis(1_004)).await.unwrap();
        assert_eq!(read.data, 112, "both writes land on top of the two before");
    });
}

#[test]
fn concurrent_updates_from_two_replicas_all_land() {
    run(async |server| {
        let prefix = fresh_prefix();
        let a: RedisStore<u64> = server.store_at(&prefix, StorePolicy::default()).await;
        let b: RedisStore<u64> = server.store_at(&prefix, StorePolicy::default()).await;
        let id = SessionIdGenerator::seeded(4).next_id();
        a.create(record(id, "t")).await.unwrap();
        let updates = (0..40).map(|n| {
            let store = if n % 2 == 0 { &a } else { &b };
            async move { store.update(id, |count| *count += 1).await }
        });
        for outcome in futures::future::join_all(updates).await {
            outcome.unwrap();
        }
        let owner = Owner::new(TenantId::new("t"), Principal::anonymous());
        assert_eq!(b.lookup(id, &owner, Timestamp::from_millis(1_001)).await.unwrap().data, 40);
    });
}

#[test]
fn keys_of_ended_sessions_are_removed() {
    run(async |server| {
        let prefix = fresh_prefix();
        let mut policy = StorePolicy::default();
        policy.expiry.idle = Duration::from_secs(10);
        let store: RedisStore<u64> = server.store_at(&prefix, policy).await;
        let mut ids = SessionIdGenerator::seeded(5);
        let (deleted, expired) = (ids.next_id(), ids.next_id());
        for id in [deleted, expired] {
            store.create(record(id, "t")).await.unwrap();
            let stream = store.open_stream(id).await.unwrap();
            store.append(id, stream, Bytes::from_static(b"x")).await.unwrap();
            store.append(id, StreamId::STANDALONE, Bytes::from_static(b"y")).await.unwrap();
        }
        assert!(keys(server, &prefix).len() >= 8, "{:?}", keys(server, &prefix));
        assert_eq!(store.remove(deleted).await, Ok(true));
        assert_eq!(store.expire(Timestamp::from_millis(11_000)).await.unwrap(), vec![expired]);
        // The control stream, which told the replicas of both ends, is the bus's (and bounded).
        let left: Vec<String> = keys(server, &prefix).into_iter().filter(|k| *k != format!("{prefix}:ctl")).collect();
        assert_eq!(left, Vec::<String>::new(), "no record, log or index outlives its session");
        let told = server.cli(&["XLEN", &format!("{prefix}:ctl")]);
        assert_eq!(told, "2", "one end told for each session, atomically with its removal");
    });
}

fn keys(server: &RedisServer, prefix: &str) -> Vec<String> {
    let listed = server.cli(&["--scan", "--pattern", &format!("{prefix}:*")]);
    listed.lines().map(str::to_owned).filter(|k| !k.is_empty()).collect()
}

/// The keys of session `id`, sorted.
fn keys_of(server: &RedisServer, prefix: &str, id: SessionId) -> Vec<String> {
    let mut own: Vec<String> = keys(server, prefix).into_iter().filter(|k| k.contains(&format!("{{{id}}}"))).collect();
    own.sort();
    own
}

/// How many ms Redis keeps `key` (-1: no TTL, -2: no such key).
fn ttl(server: &RedisServer, key: &str) -> i64 {
    server.cli(&["PTTL", key]).parse().expect("PTTL answers a number")
}

/// A policy whose idle timeout outlasts the touches of the backstop tests: 2 h idle, 8 h in all.
fn long_lived() -> StorePolicy {
    let mut policy = StorePolicy::default();
    policy.expiry.idle = Duration::from_secs(2 * 60 * 60);
    policy.expiry.absolute = Duration::from_secs(8 * 60 * 60);
    policy
}

/// A session of `record` with a request stream and the standalone one, each with an event, and
/// its state updated: every kind of key a session has.
async fn every_kind_of_key(store: &RedisStore<u64>, id: SessionId) {
    store.create(record(id, "t")).await.unwrap();
    let stream = store.open_stream(id).await.unwrap();
    store.append(id, stream, Bytes::from_static(b"x")).await.unwrap();
    store.append(id, StreamId::STANDALONE, Bytes::from_static(b"y")).await.unwrap();
    store.update(id, |n| *n += 1).await.unwrap();
}

/// Asserts that every key in `keys` lives `want` ms, give or take the test's own run time.
fn assert_kept_for(server: &RedisServer, keys: &[String], want: i64) {
    for key in keys {
        let left = ttl(server, key);
        assert!(want - 60_000 < left && left <= want, "{key} kept {left} ms, not about {want}");
    }
}

#[test]
fn every_key_of_a_session_carries_a_backstop_ttl_past_its_deadline() {
    run(async |server| {
        let prefix = fresh_prefix();
        let store: RedisStore<u64> = server.store_at(&prefix, long_lived()).await;
        let id = SessionIdGenerator::seeded(11).next_id();
        every_kind_of_key(&store, id).await;
        let own = keys_of(server, &prefix, id);
        assert_eq!(own.len(), 5, "record, state, log index and two logs: {own:?}");
        // Created at 1 s and used: due 2 h later; Redis keeps the keys the backstop beyond that.
        let idle = i64::try_from(long_lived().expiry.idle.as_millis()).unwrap();
        let backstop = i64::try_from(store.config().backstop.as_millis()).unwrap();
        assert_kept_for(server, &own, idle + backstop);
        // The indexes outlive every session in them (read a moment after the record: allow it),
        // and are extended by twice what they need, not kept for ever.
        let record_left = ttl(server, &format!("{prefix}:{{{id}}}"));
        let tenant = keys(server, &prefix).into_iter().find(|k| k.starts_with(&format!("{prefix}:t:"))).unwrap();
        for index in [format!("{prefix}:dl"), tenant] {
            let left = ttl(server, &index);
            assert!(left >= record_left - 1_000, "{index} kept {left} ms, the record {record_left} ms");
            assert!(left <= 2 * (idle + backstop), "{index} kept {left} ms");
        }
    });
}

#[test]
fn a_touch_extends_the_backstop_once_the_deadline_moved_half_of_it() {
    run(async |server| {
        let prefix = fresh_prefix();
        let store: RedisStore<u64> = server.store_at(&prefix, long_lived()).await;
        let id = SessionIdGenerator::seeded(12).next_id();
        every_kind_of_key(&store, id).await;
        let own = keys_of(server, &prefix, id);
        // As if Redis's clock had run on to 10 s before the keys go.
        for key in &own {
            server.cli(&["PEXPIRE", key, "10000"]);
        }
        let owner = Owner::new(TenantId::new("t"), Principal::anonymous());
        let backstop = store.config().backstop;
        let created = Timestamp::from_millis(1_000);
        // A quarter of the backstop later: the deadline moved too little to pay for new TTLs.
        store.lookup(id, &owner, created.saturating_add(backstop / 4)).await.unwrap();
        for key in &own {
            assert!((0..=10_000).contains(&ttl(server, key)), "{key} extended early: {} ms", ttl(server, key));
        }
        // Past half of it: every key is kept the backstop past the new deadline, counted from now.
        store.lookup(id, &owner, created.saturating_add(backstop / 2 + Duration::from_secs(1))).await.unwrap();
        let idle = i64::try_from(long_lived().expiry.idle.as_millis()).unwrap();
        assert_kept_for(server, &own, idle + i64::try_from(backstop.as_millis()).unwrap());
    });
}

#[test]
fn sessions_whose_keys_redis_removed_by_their_backstop_leave_no_index_behind() {
    run(async |server| {
        let prefix = fresh_prefix();
        let mut policy = long_lived();
        policy.max_sessions_per_tenant = Some(1);
        let store: RedisStore<u64> = server.store_at(&prefix, policy).await;
        let mut ids = SessionIdGenerator::seeded(13);
        let (gone, kept) = (ids.next_id(), ids.next_id());
        every_kind_of_key(&store, gone).await;
        // What Redis does when the TTLs run out, without waiting for them: an expiry in the past.
        for key in keys_of(server, &prefix, gone) {
            server.cli(&["PEXPIREAT", &key, "1"]);
        }
        assert_eq!(keys_of(server, &prefix, gone), Vec::<String>::new());
        // The tenant's cap counts only sessions that still exist.
        store.create(record(kept, "t")).await.unwrap();
        let members: Vec<SessionId> =
            store.sessions_of(&TenantId::new("t")).await.unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(members, vec![kept]);
        // The deadline index named the vanished session until a sweep: the sweep takes it out.
        assert_eq!(store.remove(kept).await, Ok(true));
        assert_eq!(store.expire(Timestamp::from_millis(u64::MAX / 2)).await.unwrap(), vec![gone]);
        let left: Vec<String> = keys(server, &prefix).into_iter().filter(|k| *k != format!("{prefix}:ctl")).collect();
        assert_eq!(left, Vec::<String>::new(), "no index outlives the sessions Redis removed");
    });
}

#[test]
fn an_idle_session_costs_redis_under_a_kilobyte() {
    run(async |server| {
        let prefix = fresh_prefix();
        let store: RedisStore<McpSession> = server.store_at(&prefix, StorePolicy::default()).await;
        let used = |server: &RedisServer| -> i64 {
            let info = server.cli(&["INFO", "memory"]);
            let line = info.lines().find(|l| l.starts_with("used_memory:")).expect("used_memory in INFO");
            line["used_memory:".len()..].trim().parse().unwrap()
        };
        let before = used(server);
        let mut ids = SessionIdGenerator::seeded(6);
        const SESSIONS: i64 = 2_000;
        let version = mcp_session::model::ProtocolVersion::V2025_11_25;
        for _ in 0..SESSIONS {
            let at = Timestamp::from_millis(1_000);
            let record = SessionRecord {
                id: ids.next_id(),
                owner: Owner::new(TenantId::new("tenant-a"), Principal::new("user-1")),
                created_at: at,
                last_seen: at,
                used: true,
                data: McpSession::new(version, Default::default()),
            };
            store.create(record).await.unwrap();
        }
        let per_session = (used(server) - before) / SESSIONS;
        println!("redis memory per idle session: {per_session} B (used_memory delta over {SESSIONS} sessions)");
        let sample = keys(server, &prefix).into_iter().find(|k| k.ends_with('}')).expect("a record key");
        assert_eq!(server.cli(&["OBJECT", "ENCODING", &sample]), "listpack", "a record stays compact");
        assert!(per_session <= 1024, "{per_session} B per idle session");
    });
}

/// Every command a script runs costs Redis a few microseconds whatever it does, and the lookup
/// is on every request's path: a touch is one script of three commands (read the record, write
/// it, read the state), counted by Redis itself.
#[test]
fn a_touch_is_one_round_trip_of_three_commands_in_redis() {
    run(async |server| {
        let store: RedisStore<u64> = server.store_at(&fresh_prefix(), long_lived()).await;
        let id = SessionIdGenerator::seeded(21).next_id();
        store.create(record(id, "t")).await.unwrap();
        let owner = Owner::new(TenantId::new("t"), Principal::anonymous());
        // The first run of a script loads it (a refused EVALSHA, then SCRIPT LOAD): once a store.
        store.lookup(id, &owner, Timestamp::from_millis(1_000)).await.unwrap();
        server.cli(&["CONFIG", "RESETSTAT"]);
        const TOUCHES: u64 = 100;
        for n in 1..=TOUCHES {
            store.lookup(id, &owner, Timestamp::from_millis(1_000 + n)).await.unwrap();
        }
        let calls = command_calls(server);
        let in_scripts =
            |(name, _): &&(String, u64)| !matches!(&name[..], "evalsha" | "eval" | "config|resetstat" | "info");
        let commands: u64 = calls.iter().filter(in_scripts).map(|(_, n)| n).sum();
        assert_eq!(scripts_run(server), TOUCHES, "one script a touch: {calls:?}");
        assert_eq!(commands, 3 * TOUCHES, "three commands a touch: {calls:?}");
    });
}

#[test]
fn a_retained_event_costs_redis_its_payload_and_a_bounded_overhead() {
    run(async |server| {
        let prefix = fresh_prefix();
        let store: RedisStore<u64> = server.store_at(&prefix, StorePolicy::default()).await;
        let id = SessionIdGenerator::seeded(9).next_id();
        store.create(record(id, "t")).await.unwrap();
        let stream = store.open_stream(id).await.unwrap();
        const EVENTS: i64 = 256;
        const PAYLOAD: usize = 300;
        for _ in 0..EVENTS {
            store.append(id, stream, Bytes::from(vec![b'x'; PAYLOAD])).await.unwrap();
        }
        let log = format!("{prefix}:{{{id}}}:l:{}", stream.number());
        let usage: i64 = server.cli(&["MEMORY", "USAGE", &log, "SAMPLES", "0"]).parse().expect("the log exists");
        let overhead = usage / EVENTS - PAYLOAD as i64;
        println!("redis memory per retained event: {PAYLOAD} B payload + {overhead} B (MEMORY USAGE of a full log)");
        assert!(overhead <= 128, "{overhead} B per event beyond its payload");
    });
}

#[test]
fn an_outage_is_unavailable_never_unknown_and_the_store_recovers() {
    run(async |server| {
        let prefix = fresh_prefix();
        let store: RedisStore<u64> = server.store_at(&prefix, StorePolicy::default()).await;
        let id = SessionIdGenerator::seeded(7).next_id();
        store.create(record(id, "t")).await.unwrap();
        server.kill();
        let owner = Owner::new(TenantId::new("t"), Principal::anonymous());
        let now = Timestamp::from_millis(2_000);
        assert_eq!(store.lookup(id, &owner, now).await, Err(LookupError::Unavailable(StoreUnavailable)));
        let other = SessionIdGenerator::seeded(8).next_id();
        assert_eq!(store.create(record(other, "t")).await, Err(CreateError::Unavailable(StoreUnavailable)));
        assert_eq!(store.remove(id).await, Err(StoreUnavailable));
        assert_eq!(store.expire(now).await, Err(StoreUnavailable));
        server.restart();
        // The connection comes back by itself; persistence is off, so the restarted Redis is empty.
        let mut outcome = store.create(record(other, "t")).await;
        for _ in 0..50 {
            if outcome.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            outcome = store.create(record(other, "t")).await;
        }
        outcome.expect("the store recovers when Redis returns");
        assert!(store.lookup(other, &owner, now).await.is_ok());
    });
}

// ---------------------------------------------------------------------------------------------
// Engines

/// One replica: an HTTP engine over a Redis store on the shared prefix.
struct Replica {
    state: Arc<EngineState<RedisStore<McpSession>>>,
    engine: Engine<RedisStore<McpSession>>,
}

async fn replica(server: &RedisServer, prefix: &str, clock: &ManualClock) -> Replica {
    let store: RedisStore<McpSession> = server.store_at(prefix, StorePolicy::default()).await;
    let sessions = Sessions::with_store(store, Arc::new(clock.clone()), SessionsConfig::default());
    let config = EngineConfig::default().response_mode(ResponseMode::Sse);
    let state = Arc::new(EngineState::new(sessions, config));
    let server = Server::builder("replica", "0.0.0")
        .tool(Tool::new("echo", "Returns `text`"), |args: Value, _| async move {
            Ok(CallToolResult::text(args["text"].as_str().unwrap_or_default()))
        })
        .tool(Tool::new("burst", "Logs five messages, then returns"), |_, ctx: RequestContext| async move {
            for n in 1..=5 {
                ctx.log(LogLevel::Info, None, json!(n))
                    .await
                    .map_err(|e| mcp_session::jsonrpc::ErrorObject::internal(e.to_string()))?;
            }
            Ok(CallToolResult::text("burst done"))
        })
        .build();
    let spawn = SpawnFn(|task| {
        tokio::task::spawn_local(task);
    });
    let engine = Engine::new(state.clone(), server, spawn);
    Replica { state, engine }
}

/// Reads an SSE body to its end (bounded in time: a stream that does not end fails the test).
async fn read_sse(response: Response<Body>) -> Vec<Event> {
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut text = String::new();
    let all = async {
        while let Some(chunk) = body.next().await {
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(10), all).await.expect("the stream ends");
    text.split("\n\n").filter(|block| !block.trim().is_empty()).map(Event::parse).collect()
}

async fn json_of(response: Response<Body>) -> Value {
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

async fn initialize(replica: &Replica) -> String {
    let message = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": VERSION, "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } },
    });
    let response = replica.engine.handle(request(Method::POST, None, Some(&message))).await;
    let session = response.headers().get(MCP_SESSION_ID).expect("a session id").to_str().unwrap().to_owned();
    let events = read_sse(response).await;
    assert!(events.iter().any(|e| e.data.as_ref().is_some_and(|d| d["result"]["protocolVersion"] == VERSION)));
    session
}

fn result_text(events: &[Event], id: u64) -> Option<String> {
    events
        .iter()
        .filter_map(|e| e.data.as_ref())
        .find(|d| d["id"] == id)
        .map(|d| d["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn any_replica_serves_any_request_of_a_session_and_a_delete_anywhere_is_404_everywhere() {
    run(async |server| {
        let (prefix, clock) = (fresh_prefix(), ManualClock::new(Timestamp::from_millis(1_000_000)));
        let a = replica(server, &prefix, &clock).await;
        let b = replica(server, &prefix, &clock).await;
        let session = initialize(&a).await;
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = b.engine.handle(request(Method::POST, Some(&session), Some(&initialized))).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let events = read_sse(
            b.engine
                .handle(request(Method::POST, Some(&session), Some(&call(1, "echo", json!({ "text": "hi" })))))
                .await,
        )
        .await;
        assert_eq!(result_text(&events, 1).as_deref(), Some("hi"));

        let response = b.engine.handle(request(Method::DELETE, Some(&session), None)).await;
        assert_eq!(response.status(), StatusCode::OK);
        for replica in [&a, &b] {
            let response =
                replica.engine.handle(request(Method::POST, Some(&session), Some(&call(2, "echo", json!({}))))).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            let response = replica.engine.handle(request(Method::GET, Some(&session), None)).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
        }
    });
}

#[test]
fn a_stream_of_one_replica_resumes_on_another_from_its_last_event_id() {
    run(async |server| {
        let (prefix, clock) = (fresh_prefix(), ManualClock::new(Timestamp::from_millis(1_000_000)));
        let a = replica(server, &prefix, &clock).await;
        let b = replica(server, &prefix, &clock).await;
        let session = initialize(&a).await;
        let events =
            read_sse(a.engine.handle(request(Method::POST, Some(&session), Some(&call(7, "burst", json!({}))))).await)
                .await;
        let messages: Vec<&Event> = events.iter().filter(|e| e.data.is_some()).collect();
        assert_eq!(messages.len(), 6, "five logs and the result: {events:?}");
        // The client saw the first two messages on A, then lost the connection.
        let last_seen = messages[1].id.clone().expect("events carry ids");
        let mut resume = request(Method::GET, Some(&session), None);
        resume.headers_mut().insert(LAST_EVENT_ID, last_seen.parse().unwrap());
        let resumed = read_sse(b.engine.handle(resume).await).await;
        let got: Vec<&Value> = resumed.iter().filter_map(|e| e.data.as_ref()).collect();
        let want: Vec<&Value> = messages[2..].iter().filter_map(|e| e.data.as_ref()).collect();
        assert_eq!(got, want, "exactly what was missed, in order, once");
        assert_eq!(result_text(&resumed, 7).as_deref(), Some("burst done"));
    });
}

#[test]
fn an_expiry_swept_on_one_replica_is_404_on_every_replica() {
    run(async |server| {
        let (prefix, clock) = (fresh_prefix(), ManualClock::new(Timestamp::from_millis(1_000_000)));
        let a = replica(server, &prefix, &clock).await;
        let b = replica(server, &prefix, &clock).await;
        let session = initialize(&a).await;
        clock.advance(Duration::from_secs(2 * 60 * 60));
        b.state.handle_timeout().await;
        assert_eq!(b.state.sessions().len(), 0);
        let response = a.engine.handle(request(Method::POST, Some(&session), Some(&call(1, "echo", json!({}))))).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    });
}

#[test]
fn a_redis_outage_is_503_with_retry_after_and_the_engine_recovers() {
    run(async |server| {
        let (prefix, clock) = (fresh_prefix(), ManualClock::new(Timestamp::from_millis(1_000_000)));
        let a = replica(server, &prefix, &clock).await;
        let session = initialize(&a).await;
        server.kill();
        let requests = [
            request(Method::POST, Some(&session), Some(&call(1, "echo", json!({})))),
            request(Method::GET, Some(&session), None),
            request(Method::DELETE, Some(&session), None),
        ];
        for request in requests {
            let response = a.engine.handle(request).await;
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(response.headers().get(RETRY_AFTER).is_some());
            let body = json_of(response).await;
            assert_eq!(body["error"]["code"], -32000, "{body}");
        }
        let message = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": { "protocolVersion": VERSION, "capabilities": {}, "clientInfo": { "name": "t", "version": "0" } },
        });
        let response = a.engine.handle(request(Method::POST, None, Some(&message))).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        server.restart();
        let mut recovered = false;
        for _ in 0..50 {
            let response = a.engine.handle(request(Method::POST, None, Some(&message))).await;
            if response.status() == StatusCode::OK {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(recovered, "initialize works again once Redis is back");
    });
}

#[test]
fn a_stalled_redis_is_503_with_retry_after_never_a_hang_or_a_404() {
    run(async |server| {
        let (prefix, clock) = (fresh_prefix(), ManualClock::new(Timestamp::from_millis(1_000_000)));
        let a = replica(server, &prefix, &clock).await;
        let session = initialize(&a).await;
        // Redis stops answering every client (as under a long blocking script or a failover).
        assert_eq!(server.cli(&["CLIENT", "PAUSE", "3000", "ALL"]), "OK");
        let echo = call(1, "echo", json!({ "text": "stalled" }));
        let stalled = a.engine.handle(request(Method::POST, Some(&session), Some(&echo)));
        let response = tokio::time::timeout(Duration::from_secs(10), stalled).await.expect("an answer, not a hang");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().get(RETRY_AFTER).is_some());
        // The session outlives the stall.
        let mut served = false;
        for _ in 0..100 {
            let response = a.engine.handle(request(Method::POST, Some(&session), Some(&echo))).await;
            assert_ne!(response.status(), StatusCode::NOT_FOUND, "a stall never ends a session");
            if response.status() == StatusCode::OK {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(served, "the session serves again once Redis does");
    });
}
