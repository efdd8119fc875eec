//! One set of rules for every store: each check below runs against `MemoryStore` and against
//! `RedisStore` on a real `redis-server` (under tokio, and under smol as the async-std host runs
//! it). A store that breaks a rule the engine relies on (exact loss counts, caps without side
//! effects, expiry on the engine's clock) fails here by name.
#![cfg(all(feature = "redis", feature = "tokio", feature = "async-std"))]

mod support_redis;

use std::time::Duration;

use bytes::Bytes;
use mcp_session::session::{
    CreateError, ExpiryPolicy, LookupError, MemoryStore, ReplayError, SessionIdGenerator, StorePolicy, StreamError,
};
use mcp_session::stream::{AheadOfStream, LogLimits};
use mcp_session::{Owner, Principal, SessionId, SessionRecord, Store, StreamId, TenantId, Timestamp};

use support_redis::RedisServer;

/// The application state the checks store: a counter, so that updates are observable.
type Data = u64;

fn policy() -> StorePolicy {
    let mut policy = StorePolicy::default();
    policy.expiry = ExpiryPolicy {
        idle: Duration::from_millis(100),
        absolute: Duration::from_millis(250),
        initialization: Duration::from_millis(30),
    };
    policy.max_sessions = Some(4);
    policy.max_sessions_per_tenant = Some(3);
    policy.log = LogLimits { events: 8, bytes: 4096 };
    policy.max_streams_per_session = 3;
    policy
}

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn owner(tenant: &str) -> Owner {
    Owner::new(TenantId::new(tenant), Principal::new("alice"))
}

fn record(id: SessionId, tenant: &str, at: u64) -> SessionRecord<Data> {
    SessionRecord { id, owner: owner(tenant), created_at: t(at), last_seen: t(at), used: true, data: 0 }
}

fn ids(n: usize) -> Vec<SessionId> {
    let mut ids = SessionIdGenerator::seeded(7);
    (0..n).map(|_| ids.next_id()).collect()
}

fn payload(text: impl Into<String>) -> Bytes {
    Bytes::from(text.into())
}

async fn deadline_is_the_earlier_of_idle_and_absolute_and_a_touch_moves_only_idle(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    store.lookup(id, &owner("a"), t(90)).await.unwrap();
    store.lookup(id, &owner("a"), t(189)).await.unwrap();
    assert_eq!(store.expire(t(249)).await.unwrap(), vec![], "touched at 189: idle until 289, absolute 250");
    assert_eq!(store.expire(t(250)).await.unwrap(), vec![id], "the absolute timeout binds");
    assert_eq!(store.lookup(id, &owner("a"), t(251)).await, Err(LookupError::Unknown));
}

async fn a_lookup_at_the_deadline_finds_it_expired_and_removes_it(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    assert_eq!(store.lookup(id, &owner("a"), t(100)).await, Err(LookupError::Expired));
    assert_eq!(store.lookup(id, &owner("a"), t(100)).await, Err(LookupError::Unknown));
    assert_eq!(store.sessions_of(&TenantId::new("a")).await.unwrap(), vec![]);
    assert!(store.replay(id, StreamId::STANDALONE, 0).await == Err(ReplayError::UnknownSession));
}

async fn a_foreign_owner_is_refused_and_touches_nothing(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    let stranger = Owner::new(TenantId::new("a"), Principal::new("mallory"));
    assert_eq!(store.lookup(id, &stranger, t(50)).await, Err(LookupError::Forbidden));
    assert_eq!(store.lookup(id, &owner("b"), t(60)).await, Err(LookupError::Forbidden));
    assert_eq!(store.lookup(id, &owner("a"), t(100)).await, Err(LookupError::Expired), "not touched at 50 or 60");
}

async fn caps_refuse_without_side_effects(store: impl Store<Data>) {
    let all = ids(6);
    for &id in &all[..3] {
        store.create(record(id, "a", 0)).await.unwrap();
    }
    assert_eq!(
        store.create(record(all[3], "a", 0)).await,
        Err(CreateError::TooManySessionsForTenant { tenant: TenantId::new("a"), limit: 3 })
    );
    store.create(record(all[4], "b", 0)).await.unwrap();
    assert_eq!(store.create(record(all[5], "c", 0)).await, Err(CreateError::TooManySessions { limit: 4 }));
    assert_eq!(store.sessions_of(&TenantId::new("a")).await.unwrap().len(), 3);
    assert_eq!(store.sessions_of(&TenantId::new("c")).await.unwrap(), vec![]);
    assert_eq!(store.lookup(all[3], &owner("a"), t(1)).await, Err(LookupError::Unknown));
    assert_eq!(store.len(), 4);
}

async fn duplicate_ids_are_refused(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    assert_eq!(store.create(record(id, "b", 5)).await, Err(CreateError::Duplicate));
    assert_eq!(store.lookup(id, &owner("a"), t(1)).await.unwrap().created_at, t(0), "the first one stays");
}

async fn expire_removes_exactly_the_due_sessions_in_deadline_order(store: impl Store<Data>) {
    let [late, early, live] = ids(3)[..] else { unreachable!() };
    store.create(record(late, "a", 10)).await.unwrap();
    store.create(record(early, "a", 0)).await.unwrap();
    store.create(record(live, "a", 50)).await.unwrap();
    assert_eq!(store.expire(t(99)).await.unwrap(), vec![]);
    assert_eq!(store.expire(t(110)).await.unwrap(), vec![early, late]);
    assert_eq!(store.len(), 1);
    assert!(store.lookup(live, &owner("a"), t(111)).await.is_ok());
}

async fn a_session_never_used_expires_at_the_initialization_timeout(store: impl Store<Data>) {
    let [bare, used] = ids(2)[..] else { unreachable!() };
    store.create(SessionRecord { used: false, ..record(bare, "a", 0) }).await.unwrap();
    store.create(SessionRecord { used: false, ..record(used, "a", 0) }).await.unwrap();
    store.lookup(used, &owner("a"), t(10)).await.unwrap();
    assert_eq!(store.expire(t(29)).await.unwrap(), vec![]);
    assert_eq!(store.expire(t(30)).await.unwrap(), vec![bare]);
    assert_eq!(store.expire(t(109)).await.unwrap(), vec![], "once used, the idle timeout applies");
    assert_eq!(store.expire(t(110)).await.unwrap(), vec![used]);
}

async fn a_held_session_does_not_idle_and_its_idle_timeout_starts_at_release(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    store.set_held(id, true, t(0)).await.unwrap();
    assert_eq!(store.expire(t(150)).await.unwrap(), vec![], "held: only the absolute timeout runs");
    store.set_held(id, false, t(120)).await.unwrap();
    assert_eq!(store.expire(t(219)).await.unwrap(), vec![]);
    assert_eq!(store.expire(t(220)).await.unwrap(), vec![id]);
    store.set_held(id, true, t(221)).await.expect("an unknown session is ignored");
}

async fn a_repeated_release_still_starts_the_idle_timeout_at_its_time(store: impl Store<Data>) {
    // The engine may tell a release twice, the second later (a hold between them ended before
    // the store heard of it): the idle timeout runs from the later.
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    store.set_held(id, true, t(0)).await.unwrap();
    store.set_held(id, false, t(10)).await.unwrap();
    store.set_held(id, false, t(60)).await.unwrap();
    assert_eq!(store.expire(t(159)).await.unwrap(), vec![], "idle since 60, not 10");
    assert_eq!(store.expire(t(160)).await.unwrap(), vec![id]);
}

async fn a_log_keeps_the_newest_events_and_counts_the_lost_exactly(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    let stream = store.open_stream(id).await.unwrap();
    for n in 1..=20u64 {
        let event = store.append(id, stream, payload(format!("e{n}"))).await.unwrap();
        assert_eq!(event.id().seq(), n);
        assert_eq!(event.id().stream(), stream);
    }
    let replay = store.replay(id, stream, 3).await.unwrap();
    assert_eq!(replay.lost, 9, "capacity 8: 13..=20 remain, 4..=12 are lost");
    let seqs: Vec<u64> = replay.events.iter().map(|e| e.id().seq()).collect();
    assert_eq!(seqs, (13..=20).collect::<Vec<_>>());
    assert_eq!(replay.events[0].payload(), &payload("e13"));
    assert!(!replay.finished);
    assert_eq!(store.replay(id, stream, 0).await.unwrap().lost, 12);
    let tail = store.replay(id, stream, 17).await.unwrap();
    assert_eq!((tail.lost, tail.events.len()), (0, 3));
    let caught_up = store.replay(id, stream, 20).await.unwrap();
    assert_eq!((caught_up.lost, caught_up.events.len()), (0, 0));
    assert_eq!(
        store.replay(id, stream, 21).await,
        Err(ReplayError::Ahead(AheadOfStream { requested: 21, latest: 20 }))
    );
}

async fn the_byte_limit_drops_the_oldest_and_an_oversized_event_is_not_kept(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    let stream = store.open_stream(id).await.unwrap();
    for _ in 0..5 {
        store.append(id, stream, payload("x".repeat(1000))).await.unwrap();
    }
    // Each event counts 1000 + 96 bytes against 4096: three fit.
    let replay = store.replay(id, stream, 0).await.unwrap();
    assert_eq!((replay.lost, replay.events.len()), (2, 3));
    let huge = store.append(id, stream, payload("y".repeat(5000))).await.unwrap();
    assert_eq!(huge.id().seq(), 6, "an event too big to keep still takes its number");
    let replay = store.replay(id, stream, 0).await.unwrap();
    assert_eq!((replay.lost, replay.events.len()), (6, 0));
    store.append(id, stream, payload("z")).await.unwrap();
    let replay = store.replay(id, stream, 5).await.unwrap();
    assert_eq!((replay.lost, replay.events.len()), (1, 1));
}

async fn stream_logs_are_bounded_and_the_oldest_finished_goes_first(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    let s1 = store.open_stream(id).await.unwrap();
    let s2 = store.open_stream(id).await.unwrap();
    let s3 = store.open_stream(id).await.unwrap();
    assert_eq!((s1.number(), s2.number(), s3.number()), (1, 2, 3));
    assert_eq!(store.open_stream(id).await, Err(StreamError::TooManyStreams { limit: 3 }), "every call is running");
    store.append(id, s2, payload("done")).await.unwrap();
    store.finish(id, s2).await.unwrap();
    store.finish(id, s3).await.unwrap();
    let s4 = store.open_stream(id).await.unwrap();
    assert_eq!(s4.number(), 4);
    assert_eq!(store.replay(id, s2, 0).await, Err(ReplayError::UnknownStream(s2)), "the oldest finished went");
    assert!(store.replay(id, s3, 0).await.unwrap().finished, "a younger finished log stays");
    assert!(store.replay(id, s1, 0).await.is_ok());
}

async fn appends_to_finished_or_unknown_streams_fail(store: impl Store<Data>) {
    let [id, nobody] = ids(2)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    let stream = store.open_stream(id).await.unwrap();
    store.append(id, stream, payload("last")).await.unwrap();
    store.finish(id, stream).await.unwrap();
    assert_eq!(store.append(id, stream, payload("late")).await, Err(StreamError::Finished(stream)));
    let stray = StreamId::new(99);
    assert_eq!(store.append(id, stray, payload("x")).await, Err(StreamError::UnknownStream(stray)));
    assert_eq!(store.finish(id, stray).await, Err(StreamError::UnknownStream(stray)));
    assert_eq!(store.replay(id, stray, 0).await, Err(ReplayError::UnknownStream(stray)));
    assert_eq!(store.append(nobody, stream, payload("x")).await, Err(StreamError::UnknownSession));
    assert_eq!(store.open_stream(nobody).await, Err(StreamError::UnknownSession));
    let replay = store.replay(id, stream, 0).await.unwrap();
    assert!(replay.finished);
    assert_eq!(replay.events.len(), 1);
}

async fn the_standalone_log_exists_from_the_start_and_is_kept_from_the_first_append(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    let standalone = StreamId::STANDALONE;
    let empty = store.replay(id, standalone, 0).await.unwrap();
    assert_eq!((empty.lost, empty.events.len(), empty.finished), (0, 0, false));
    assert_eq!(
        store.replay(id, standalone, 1).await,
        Err(ReplayError::Ahead(AheadOfStream { requested: 1, latest: 0 }))
    );
    assert_eq!(store.append(id, standalone, payload("hello")).await.unwrap().id().seq(), 1);
    assert_eq!(store.replay(id, standalone, 0).await.unwrap().events.len(), 1);
    assert_eq!(store.open_stream(id).await.unwrap().number(), 1, "request streams are numbered from 1");
}

async fn updates_change_the_state_and_a_tenant_lists_its_sessions_with_it(store: impl Store<Data>) {
    let [id, other] = ids(2)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    store.create(record(other, "b", 0)).await.unwrap();
    store.update(id, |n| *n += 1).await.unwrap();
    store.update(id, |n| *n += 2).await.unwrap();
    assert_eq!(store.lookup(id, &owner("a"), t(1)).await.unwrap().data, 3);
    assert_eq!(store.sessions_of(&TenantId::new("a")).await.unwrap(), vec![(id, 3)]);
    assert_eq!(store.sessions_of(&TenantId::new("b")).await.unwrap(), vec![(other, 0)]);
    let [unknown] = SessionIdGenerator::seeded(99).next_id().to_string().parse::<SessionId>().map(|s| [s]).unwrap();
    assert_eq!(store.update(unknown, |n| *n += 1).await, Err(LookupError::Unknown));
}

async fn remove_ends_the_session_with_its_logs(store: impl Store<Data>) {
    let [id] = ids(1)[..] else { unreachable!() };
    store.create(record(id, "a", 0)).await.unwrap();
    let stream = store.open_stream(id).await.unwrap();
    store.append(id, stream, payload("x")).await.unwrap();
    assert_eq!(store.remove(id).await, Ok(true));
    assert_eq!(store.remove(id).await, Ok(false));
    assert_eq!(store.lookup(id, &owner("a"), t(1)).await, Err(LookupError::Unknown));
    assert_eq!(store.replay(id, stream, 0).await, Err(ReplayError::UnknownSession));
    assert_eq!(store.sessions_of(&TenantId::new("a")).await.unwrap(), vec![]);
    assert_eq!(store.len(), 0);
    store.create(record(id, "a", 5)).await.expect("the id is free again");
    assert_eq!(store.replay(id, stream, 0).await, Err(ReplayError::UnknownStream(stream)), "no log comes back");
}

async fn the_next_deadline_is_never_later_than_the_earliest_session_deadline(store: impl Store<Data>) {
    let [first, second] = ids(2)[..] else { unreachable!() };
    store.create(record(first, "a", 40)).await.unwrap();
    store.create(record(second, "a", 0)).await.unwrap();
    let next = store.next_deadline().expect("two sessions: a deadline");
    assert!(next <= t(100), "{next:?} is after the earliest deadline, 100");
    store.expire(t(100)).await.unwrap();
    let next = store.next_deadline().expect("one session left");
    assert!(next <= t(140), "{next:?} is after the remaining deadline, 140");
}

/// Sessions touched in another order than they were created expire in the order of their
/// deadlines as touched, each at its own, and never before: a store may index a bound that
/// the touches left behind, but a sweep goes by the deadlines.
async fn touched_sessions_expire_at_their_moved_deadlines_in_order(store: impl Store<Data>) {
    let [first, second, third] = ids(3)[..] else { unreachable!() };
    for id in [first, second, third] {
        store.create(record(id, "a", 0)).await.unwrap();
    }
    store.lookup(first, &owner("a"), t(60)).await.unwrap();
    store.lookup(second, &owner("a"), t(40)).await.unwrap();
    let next = store.next_deadline().expect("a deadline");
    assert!(next <= t(100), "{next:?} is after the untouched session's deadline, 100");
    assert_eq!(store.expire(t(100)).await.unwrap(), vec![third]);
    let next = store.next_deadline().expect("a deadline");
    assert!(next <= t(140), "{next:?} is after the earliest deadline left, 140");
    assert_eq!(store.expire(t(139)).await.unwrap(), vec![], "touched at 40 and 60: due at 140 and 160");
    store.lookup(second, &owner("a"), t(139)).await.unwrap();
    assert_eq!(store.expire(t(238)).await.unwrap(), vec![first], "touched again at 139: due at 239");
    assert_eq!(store.expire(t(239)).await.unwrap(), vec![second]);
    assert_eq!(store.len(), 0);
}

/// Runs each named check on a fresh store of each kind.
macro_rules! parity {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(
                #[test]
                fn $check() {
                    futures::executor::block_on(super::$check(super::MemoryStore::new(super::policy())));
                }
            )*
        }

        mod redis_on_tokio {
            $(
                #[test]
                fn $check() {
                    let Some(server) = super::RedisServer::start() else { return };
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    runtime.block_on(async {
                        let store = server.store::<super::Data>(super::policy()).await;
                        super::$check(store).await;
                    });
                }
            )*
        }

        mod redis_on_smol {
            $(
                #[test]
                fn $check() {
                    let Some(server) = super::RedisServer::start() else { return };
                    smol::block_on(async {
                        let store = server.store::<super::Data>(super::policy()).await;
                        super::$check(store).await;
                    });
                }
            )*
        }
    };
}

parity!(
    deadline_is_the_earlier_of_idle_and_absolute_and_a_touch_moves_only_idle,
    a_lookup_at_the_deadline_finds_it_expired_and_removes_it,
    a_foreign_owner_is_refused_and_touches_nothing,
    caps_refuse_without_side_effects,
    duplicate_ids_are_refused,
    expire_removes_exactly_the_due_sessions_in_deadline_order,
    a_session_never_used_expires_at_the_initialization_timeout,
    a_held_session_does_not_idle_and_its_idle_timeout_starts_at_release,
    a_repeated_release_still_starts_the_idle_timeout_at_its_time,
    a_log_keeps_the_newest_events_and_counts_the_lost_exactly,
    the_byte_limit_drops_the_oldest_and_an_oversized_event_is_not_kept,
    stream_logs_are_bounded_and_the_oldest_finished_goes_first,
    appends_to_finished_or_unknown_streams_fail,
    the_standalone_log_exists_from_the_start_and_is_kept_from_the_first_append,
    updates_change_the_state_and_a_tenant_lists_its_sessions_with_it,
    remove_ends_the_session_with_its_logs,
    the_next_deadline_is_never_later_than_the_earliest_session_deadline,
    touched_sessions_expire_at_their_moved_deadlines_in_order,
);
