//! The default store: everything in this process's memory.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use hashbrown::{HashMap, HashSet};
use serde::{Deserialize, Serialize};

use super::id::SessionId;
use super::owner::{Owner, TenantId};
use super::record::{ExpiryPolicy, SessionRecord};
use super::store::{CreateError, LookupError, ReplayError, Store, StoreUnavailable, StreamError};
use crate::clock::Timestamp;
use crate::stream::{Event, LogLimits, Replay, ReplayLog, StreamId};

/// Limits and rules a store enforces. Every limit is on by default: a server that meets a flood
/// of sessions or events degrades by refusing (sessions) or forgetting the oldest (events, each
/// loss reported exactly on resume), never by growing without bound.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorePolicy {
    /// When sessions expire.
    pub expiry: ExpiryPolicy,
    /// Cap on sessions in total; `None` for no cap. Default 100,000: an idle session costs a few
    /// hundred bytes, so the cap holds idle sessions to tens of MiB.
    pub max_sessions: Option<usize>,
    /// Cap on sessions per tenant; `None` for no cap. Default 25,000, a quarter of the total, so
    /// no single tenant can take the whole service. (Without authentication every session is in
    /// the default tenant: raise it for such a deployment.)
    pub max_sessions_per_tenant: Option<usize>,
    /// What each stream's replay log retains for `Last-Event-ID`: 256 events and 8 MiB by
    /// default. The live window of a connected subscriber has the same limits.
    pub log: LogLimits,
    /// Bytes of retained events across all sessions (payloads plus a per-event overhead, see
    /// [`event_cost`](crate::stream::event_cost)). When a publish would exceed it, the oldest
    /// retained events of any session are dropped first. Default 64 MiB: enough for a thousand
    /// busy streams of small messages, small next to the host's memory.
    pub retained_bytes: usize,
    /// Replay logs a session keeps: the standalone stream's plus request streams, finished ones
    /// included so that a client can still resume a call that completed while it was away. When a
    /// new stream would exceed this, the oldest finished log is dropped; if every log belongs to
    /// a call still running, the new stream is refused. Default 32.
    pub max_streams_per_session: usize,
}

impl Default for StorePolicy {
    fn default() -> Self {
        Self {
            expiry: ExpiryPolicy::default(),
            max_sessions: Some(100_000),
            max_sessions_per_tenant: Some(25_000),
            log: LogLimits::default(),
            retained_bytes: 64 * 1024 * 1024,
            max_streams_per_session: 32,
        }
    }
}

/// Sessions and replay logs in memory, with an ordered expiry index.
///
/// Lookups are O(1); expiry costs O(expired · log n) and [`Store::next_deadline`] O(log n),
/// whatever the number of live sessions. Internally one mutex, never held across an `.await`.
#[derive(Debug)]
pub struct MemoryStore<D> {
    policy: StorePolicy,
    inner: Mutex<Inner<D>>,
}

#[derive(Debug)]
struct Inner<D> {
    sessions: HashMap<SessionId, Entry<D>>,
    /// `(deadline, id)` of every session, earliest first.
    deadlines: BTreeSet<(Timestamp, SessionId)>,
    tenants: HashMap<TenantId, HashSet<SessionId>>,
    /// One key per non-empty log: `(stamp, session, stream)`, where the stamp is at most that
    /// of the log's oldest event (a log's own limits drop its oldest events without updating the
    /// key; the budget re-keys a stale entry when it meets it). Its first entry leads to the
    /// oldest retained event of the whole store.
    oldest: BTreeSet<(u64, SessionId, StreamId)>,
    /// Next publication stamp.
    next_stamp: u64,
    /// Bytes retained by every log together.
    retained: usize,
    /// Events dropped to keep within [`StorePolicy::retained_bytes`].
    evicted_by_budget: u64,
}

#[derive(Debug)]
struct Entry<D> {
    record: SessionRecord<D>,
    deadline: Timestamp,
    /// Something in this process holds the session (see [`Store::set_held`]).
    held: bool,
    next_stream: u32,
    logs: Vec<Log>,
}

#[derive(Debug)]
struct Log {
    log: ReplayLog,
    /// This log's key in [`Inner::oldest`], if it has one.
    key: Option<u64>,
}

impl<D> Entry<D> {
    fn log_mut(&mut self, stream: StreamId) -> Option<&mut Log> {
        self.logs.iter_mut().find(|l| l.log.stream() == stream)
    }

    fn deadline(&self, expiry: &ExpiryPolicy) -> Timestamp {
        if self.held {
            expiry.held_deadline(&self.record)
        } else {
            expiry.deadline(&self.record)
        }
    }
}

/// What a [`MemoryStore`] holds right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryOccupancy {
    /// Sessions held.
    pub sessions: usize,
    /// Replay logs held, across all sessions.
    pub logs: usize,
    /// Events retained, across all logs.
    pub events: usize,
    /// Bytes those events count against [`StorePolicy::retained_bytes`].
    pub retained_bytes: usize,
    /// Events dropped since start to keep within [`StorePolicy::retained_bytes`].
    pub evicted_by_budget: u64,
}

impl<D> MemoryStore<D> {
    /// An empty store enforcing `policy`.
    ///
    /// # Panics
    ///
    /// If `policy.log.events` is zero or `policy.max_streams_per_session` is below 2 (the
    /// standalone stream and one request stream).
    pub fn new(policy: StorePolicy) -> Self {
        assert!(policy.log.events > 0, "replay capacity must be at least 1");
        assert!(policy.max_streams_per_session >= 2, "max_streams_per_session must be at least 2");
        Self {
            policy,
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                deadlines: BTreeSet::new(),
                tenants: HashMap::new(),
                oldest: BTreeSet::new(),
                next_stamp: 1,
                retained: 0,
                evicted_by_budget: 0,
            }),
        }
    }

    /// The rules this store enforces.
    pub fn policy(&self) -> &StorePolicy {
        &self.policy
    }

    /// What the store holds right now. O(sessions): for tests and occasional diagnostics.
    pub fn occupancy(&self) -> MemoryOccupancy {
        let inner = self.lock();
        let logs = inner.sessions.values().map(|e| e.logs.len()).sum();
        let events = inner.sessions.values().flat_map(|e| &e.logs).map(|l| l.log.len()).sum();
        MemoryOccupancy {
            sessions: inner.sessions.len(),
            logs,
            events,
            retained_bytes: inner.retained,
            evicted_by_budget: inner.evicted_by_budget,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<D>> {
        // A panic while holding the lock cannot leave the maps half-updated in a way later calls
        // would misread (each method finishes its bookkeeping before anything can panic), so a
        // poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a store persists about a session besides its replay logs: the record and the number
/// its next request stream will take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession<D> {
    /// The session record.
    pub record: SessionRecord<D>,
    /// Number of the next request stream.
    pub next_stream: u32,
}

impl<D: Clone> MemoryStore<D> {
    /// A session's record and stream counter, without touching it.
    pub fn session(&self, id: SessionId) -> Option<StoredSession<D>> {
        let inner = self.lock();
        let entry = inner.sessions.get(&id)?;
        Some(StoredSession { record: entry.record.clone(), next_stream: entry.next_stream })
    }

    /// The streams of a session that have a replay log.
    pub fn streams(&self, id: SessionId) -> Vec<StreamId> {
        self.lock().sessions.get(&id).map(|e| e.logs.iter().map(|l| l.log.stream()).collect()).unwrap_or_default()
    }

    /// The oldest retained sequence number of each of a session's logs (`None` for an empty log).
    pub fn oldest_retained(&self, id: SessionId) -> Vec<(StreamId, Option<u64>)> {
        let inner = self.lock();
        let Some(entry) = inner.sessions.get(&id) else { return Vec::new() };
        entry.logs.iter().map(|l| (l.log.stream(), l.log.oldest_seq())).collect()
    }

    /// Puts back a session persisted elsewhere, with its replay logs (a process restarting over
    /// durable storage). Admission caps do not apply: the session already existed. The stream
    /// counter is moved past every restored log, so a stored counter that fell behind never
    /// hands out a stream number twice.
    pub fn restore(&self, session: StoredSession<D>, logs: Vec<ReplayLog>) -> Result<(), CreateError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let StoredSession { mut record, next_stream } = session;
        if inner.sessions.contains_key(&record.id) {
            return Err(CreateError::Duplicate);
        }
        let id = record.id;
        inner.share_tenant(&mut record.owner.tenant, id);
        let newest = logs.iter().map(|l| l.stream().number()).max().unwrap_or(0);
        let next_stream = next_stream.max(newest.saturating_add(1)).max(1);
        let mut entry = Entry { record, deadline: Timestamp::EPOCH, held: false, next_stream, logs: Vec::new() };
        entry.deadline = entry.deadline(&self.policy.expiry);
        inner.deadlines.insert((entry.deadline, id));
        for log in logs {
            inner.retained += log.bytes();
            let key = log.oldest_stamp();
            if let Some(stamp) = key {
                inner.oldest.insert((stamp, id, log.stream()));
            }
            entry.logs.push(Log { log, key });
        }
        inner.sessions.insert(id, entry);
        inner.keep_budget(self.policy.retained_bytes);
        Ok(())
    }
}

impl<D> Default for MemoryStore<D> {
    fn default() -> Self {
        Self::new(StorePolicy::default())
    }
}

impl<D> Inner<D> {
    fn remove(&mut self, id: SessionId) -> Option<Entry<D>> {
        let entry = self.sessions.remove(&id)?;
        self.deadlines.remove(&(entry.deadline, id));
        if let Some(members) = self.tenants.get_mut(&entry.record.owner.tenant) {
            members.remove(&id);
            if members.is_empty() {
                self.tenants.remove(&entry.record.owner.tenant);
            }
        }
        for log in &entry.logs {
            self.forget_log(id, log);
        }
        Some(entry)
    }

    /// Takes a dropped log out of the budget and the oldest-first index.
    fn forget_log(&mut self, id: SessionId, log: &Log) {
        self.retained -= log.log.bytes();
        if let Some(stamp) = log.key {
            self.oldest.remove(&(stamp, id, log.log.stream()));
        }
    }

    /// Makes `tenant` share one allocation with the other sessions of its tenant and lists `id`
    /// among them.
    fn share_tenant(&mut self, tenant: &mut TenantId, id: SessionId) {
        match self.tenants.get_key_value(tenant) {
            Some((shared, _)) => *tenant = shared.clone(),
            None => {
                self.tenants.insert(tenant.clone(), HashSet::new());
            }
        }
        if let Some(members) = self.tenants.get_mut(tenant) {
            members.insert(id);
        }
    }

    /// Moves a session's deadline in the index.
    fn reschedule(&mut self, id: SessionId, expiry: &ExpiryPolicy) {
        let Some(entry) = self.sessions.get_mut(&id) else { return };
        let deadline = entry.deadline(expiry);
        if deadline != entry.deadline {
            self.deadlines.remove(&(entry.deadline, id));
            self.deadlines.insert((deadline, id));
            entry.deadline = deadline;
        }
    }

    /// Drops the oldest retained events of the whole store until it is within `budget`.
    /// Each step is O(log n); stale index keys are re-keyed once when met.
    fn keep_budget(&mut self, budget: usize) {
        while self.retained > budget {
            let Some((stamp, id, stream)) = self.oldest.pop_first() else { return };
            let Some(log) = self.sessions.get_mut(&id).and_then(|e| e.log_mut(stream)) else { continue };
            match log.log.oldest_stamp() {
                None => log.key = None,
                Some(real) if real != stamp => {
                    self.oldest.insert((real, id, stream));
                    log.key = Some(real);
                }
                Some(_) => {
                    self.retained -= log.log.pop_oldest().expect("the log has an oldest event");
                    self.evicted_by_budget += 1;
                    log.key = log.log.oldest_stamp();
                    if let Some(next) = log.key {
                        self.oldest.insert((next, id, stream));
                    }
                }
            }
        }
    }
}

impl<D: Clone> Store<D> for MemoryStore<D> {
    async fn create(&self, mut record: SessionRecord<D>) -> Result<(), CreateError> {
        let mut inner = self.lock();
        if inner.sessions.contains_key(&record.id) {
            return Err(CreateError::Duplicate);
        }
        if let Some(limit) = self.policy.max_sessions {
            if inner.sessions.len() >= limit {
                return Err(CreateError::TooManySessions { limit });
            }
        }
        let tenant_len = inner.tenants.get(&record.owner.tenant).map_or(0, HashSet::len);
        if let Some(limit) = self.policy.max_sessions_per_tenant {
            if tenant_len >= limit {
                return Err(CreateError::TooManySessionsForTenant { tenant: record.owner.tenant, limit });
            }
        }
        let id = record.id;
        inner.share_tenant(&mut record.owner.tenant, id);
        let mut entry = Entry { record, deadline: Timestamp::EPOCH, held: false, next_stream: 1, logs: Vec::new() };
        entry.deadline = entry.deadline(&self.policy.expiry);
        inner.deadlines.insert((entry.deadline, id));
        inner.sessions.insert(id, entry);
        Ok(())
    }

    async fn lookup(&self, id: SessionId, owner: &Owner, now: Timestamp) -> Result<SessionRecord<D>, LookupError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id).ok_or(LookupError::Unknown)?;
        if entry.deadline <= now {
            inner.remove(id);
            return Err(LookupError::Expired);
        }
        if entry.record.owner != *owner {
            return Err(LookupError::Forbidden);
        }
        entry.record.last_seen = entry.record.last_seen.max(now);
        entry.record.used = true;
        let record = entry.record.clone();
        // Once the absolute deadline is the binding one, touching no longer moves it.
        inner.reschedule(id, &self.policy.expiry);
        Ok(record)
    }

    async fn update<F: FnMut(&mut D)>(&self, id: SessionId, mut change: F) -> Result<(), LookupError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id).ok_or(LookupError::Unknown)?;
        change(&mut entry.record.data);
        Ok(())
    }

    async fn remove(&self, id: SessionId) -> Result<bool, StoreUnavailable> {
        Ok(self.lock().remove(id).is_some())
    }

    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let entry = inner.sessions.get_mut(&id).ok_or(StreamError::UnknownSession)?;
        let limit = self.policy.max_streams_per_session;
        let stream = StreamId::new(entry.next_stream);
        let next = entry.next_stream.checked_add(1).ok_or(StreamError::TooManyStreams { limit })?;
        if entry.logs.len() >= limit {
            // Request streams are created in order, so the first finished one is the oldest.
            let oldest_finished = entry
                .logs
                .iter()
                .position(|l| !l.log.stream().is_standalone() && l.log.is_finished())
                .ok_or(StreamError::TooManyStreams { limit })?;
            let dropped = entry.logs.remove(oldest_finished);
            inner.forget_log(id, &dropped);
        }
        let entry = inner.sessions.get_mut(&id).expect("found above");
        entry.next_stream = next;
        entry.logs.push(Log { log: ReplayLog::new(stream, self.policy.log), key: None });
        Ok(stream)
    }

    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<Event, StreamError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let stamp = inner.next_stamp;
        let entry = inner.sessions.get_mut(&id).ok_or(StreamError::UnknownSession)?;
        if entry.log_mut(stream).is_none() {
            if !stream.is_standalone() {
                return Err(StreamError::UnknownStream(stream));
            }
            // The standalone log goes first so that request logs keep their creation order.
            entry.logs.insert(0, Log { log: ReplayLog::new(stream, self.policy.log), key: None });
        }
        let log = entry.log_mut(stream).expect("log exists: found or inserted above");
        if log.log.is_finished() {
            return Err(StreamError::Finished(stream));
        }
        let before = log.log.bytes();
        let pushed = log.log.push_stamped(payload, stamp);
        inner.next_stamp += 1;
        // The log's own limits may have dropped more than the new event added.
        inner.retained = inner.retained - before + log.log.bytes();
        if log.key.is_none() {
            log.key = log.log.oldest_stamp();
            if let Some(key) = log.key {
                inner.oldest.insert((key, id, stream));
            }
        }
        inner.keep_budget(self.policy.retained_bytes);
        Ok(pushed.event)
    }

    async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id).ok_or(StreamError::UnknownSession)?;
        let log = entry.log_mut(stream).ok_or(StreamError::UnknownStream(stream))?;
        log.log.finish();
        Ok(())
    }

    async fn replay(&self, id: SessionId, stream: StreamId, after: u64) -> Result<Replay, ReplayError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id).ok_or(ReplayError::UnknownSession)?;
        match entry.log_mut(stream) {
            Some(log) => Ok(log.log.after(after)?),
            // The standalone stream exists from the start; nothing was ever published to it.
            None if stream.is_standalone() => Ok(ReplayLog::new(stream, self.policy.log).after(after)?),
            None => Err(ReplayError::UnknownStream(stream)),
        }
    }

    async fn set_held(&self, id: SessionId, held: bool, at: Timestamp) -> Result<(), StoreUnavailable> {
        let mut inner = self.lock();
        let Some(entry) = inner.sessions.get_mut(&id) else { return Ok(()) };
        entry.held = held;
        if !held {
            entry.record.last_seen = entry.record.last_seen.max(at);
        }
        inner.reschedule(id, &self.policy.expiry);
        Ok(())
    }

    async fn expire(&self, now: Timestamp) -> Result<Vec<SessionId>, StoreUnavailable> {
        let mut inner = self.lock();
        let mut expired = Vec::new();
        while let Some(&(deadline, id)) = inner.deadlines.first() {
            if deadline > now {
                break;
            }
            inner.remove(id);
            expired.push(id);
        }
        Ok(expired)
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        self.lock().deadlines.first().map(|&(deadline, _)| deadline)
    }

    async fn sessions_of(&self, tenant: &TenantId) -> Result<Vec<(SessionId, D)>, StoreUnavailable> {
        let inner = self.lock();
        let Some(members) = inner.tenants.get(tenant) else { return Ok(Vec::new()) };
        Ok(members.iter().map(|id| (*id, inner.sessions[id].record.data.clone())).collect())
    }

    fn log_limits(&self) -> LogLimits {
        self.policy.log
    }

    fn retained_bytes(&self) -> usize {
        self.lock().retained
    }

    fn len(&self) -> usize {
        self.lock().sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::executor::block_on;

    use super::*;
    use crate::session::{Principal, SessionIdGenerator};

    fn record(id: SessionId, tenant: &str, at: u64) -> SessionRecord<()> {
        SessionRecord {
            id,
            owner: Owner::new(TenantId::new(tenant), Principal::anonymous()),
            created_at: Timestamp::from_millis(at),
            last_seen: Timestamp::from_millis(at),
            used: true,
            data: (),
        }
    }

    fn policy() -> StorePolicy {
        StorePolicy {
            expiry: ExpiryPolicy {
                idle: Duration::from_millis(100),
                absolute: Duration::from_millis(250),
                initialization: Duration::from_millis(30),
            },
            ..StorePolicy::default()
        }
    }

    #[test]
    fn deadline_is_the_earlier_of_idle_and_absolute_and_touch_moves_only_idle() {
        block_on(async {
            let store = MemoryStore::new(policy());
            let id = SessionIdGenerator::seeded(1).next_id();
            let owner = Owner::new(TenantId::new("t"), Principal::anonymous());
            store.create(record(id, "t", 0)).await.unwrap();
            assert_eq!(store.next_deadline(), Some(Timestamp::from_millis(100)));
            store.lookup(id, &owner, Timestamp::from_millis(90)).await.unwrap();
            assert_eq!(store.next_deadline(), Some(Timestamp::from_millis(190)));
            store.lookup(id, &owner, Timestamp::from_millis(180)).await.unwrap();
            assert_eq!(store.next_deadline(), Some(Timestamp::from_millis(250)));
            store.lookup(id, &owner, Timestamp::from_millis(249)).await.unwrap();
            assert_eq!(store.lookup(id, &owner, Timestamp::from_millis(250)).await, Err(LookupError::Expired));
            assert_eq!(store.len(), 0);
            assert_eq!(store.next_deadline(), None);
            assert!(store.sessions_of(&TenantId::new("t")).await.unwrap().is_empty());
        });
    }

    #[test]
    fn foreign_owner_is_refused_and_does_not_touch() {
        block_on(async {
            let store = MemoryStore::new(policy());
            let id = SessionIdGenerator::seeded(2).next_id();
            store.create(record(id, "a", 0)).await.unwrap();
            let other_tenant = Owner::new(TenantId::new("b"), Principal::anonymous());
            let other_principal = Owner::new(TenantId::new("a"), Principal::new("mallory"));
            for owner in [other_tenant, other_principal] {
                assert_eq!(store.lookup(id, &owner, Timestamp::from_millis(50)).await, Err(LookupError::Forbidden));
            }
            assert_eq!(store.next_deadline(), Some(Timestamp::from_millis(100)));
        });
    }

    #[test]
    fn caps_refuse_without_side_effects() {
        block_on(async {
            let store =
                MemoryStore::new(StorePolicy { max_sessions: Some(3), max_sessions_per_tenant: Some(2), ..policy() });
            let mut ids = SessionIdGenerator::seeded(3);
            store.create(record(ids.next_id(), "a", 0)).await.unwrap();
            store.create(record(ids.next_id(), "a", 0)).await.unwrap();
            let refused = store.create(record(ids.next_id(), "a", 0)).await;
            assert_eq!(refused, Err(CreateError::TooManySessionsForTenant { tenant: TenantId::new("a"), limit: 2 }));
            store.create(record(ids.next_id(), "b", 0)).await.unwrap();
            let refused = store.create(record(ids.next_id(), "c", 0)).await;
            assert_eq!(refused, Err(CreateError::TooManySessions { limit: 3 }));
            assert_eq!(store.len(), 3);
            assert_eq!(store.sessions_of(&TenantId::new("a")).await.unwrap().len(), 2);
        });
    }

    #[test]
    fn duplicate_ids_are_refused() {
        block_on(async {
            let store = MemoryStore::new(policy());
            let id = SessionId::from_u128(9);
            store.create(record(id, "a", 0)).await.unwrap();
            assert_eq!(store.create(record(id, "a", 5)).await, Err(CreateError::Duplicate));
        });
    }

    #[test]
    fn expire_removes_exactly_the_due_sessions_in_deadline_order() {
        block_on(async {
            let store = MemoryStore::new(policy());
            let mut ids = SessionIdGenerator::seeded(4);
            let first = ids.next_id();
            let second = ids.next_id();
            let third = ids.next_id();
            store.create(record(first, "a", 0)).await.unwrap();
            store.create(record(second, "a", 10)).await.unwrap();
            store.create(record(third, "a", 20)).await.unwrap();
            assert_eq!(store.expire(Timestamp::from_millis(99)).await.unwrap(), vec![]);
            assert_eq!(store.expire(Timestamp::from_millis(110)).await.unwrap(), vec![first, second]);
            assert_eq!(store.len(), 1);
            assert_eq!(store.next_deadline(), Some(Timestamp::from_millis(120)));
        });
    }

    #[test]
    fn stream_logs_are_bounded_and_the_oldest_finished_goes_first() {
        block_on(async {
            let store = MemoryStore::new(StorePolicy { max_streams_per_session: 3, ..policy() });
            let id = SessionId::from_u128(1);
            store.create(record(id, "a", 0)).await.unwrap();
            store.append(id, StreamId::STANDALONE, Bytes::from_static(b"{}")).await.unwrap();
            let one = store.open_stream(id).await.unwrap();
            let two = store.open_stream(id).await.unwrap();
            assert_eq!((one, two), (StreamId::new(1), StreamId::new(2)));
            assert_eq!(store.open_stream(id).await, Err(StreamError::TooManyStreams { limit: 3 }));
            store.finish(id, one).await.unwrap();
            let three = store.open_stream(id).await.unwrap();
            assert_eq!(three, StreamId::new(3));
            assert_eq!(store.replay(id, one, 0).await, Err(ReplayError::UnknownStream(one)));
            assert!(store.replay(id, two, 0).await.is_ok());
            assert!(store.replay(id, StreamId::STANDALONE, 0).await.is_ok());
        });
    }

    #[test]
    fn append_to_finished_or_unknown_streams_fails() {
        block_on(async {
            let store = MemoryStore::new(policy());
            let id = SessionId::from_u128(1);
            store.create(record(id, "a", 0)).await.unwrap();
            let s = store.open_stream(id).await.unwrap();
            store.append(id, s, Bytes::from_static(b"1")).await.unwrap();
            store.finish(id, s).await.unwrap();
            assert_eq!(store.append(id, s, Bytes::new()).await, Err(StreamError::Finished(s)));
            let ghost = StreamId::new(99);
            assert_eq!(store.append(id, ghost, Bytes::new()).await, Err(StreamError::UnknownStream(ghost)));
            let nobody = SessionId::from_u128(2);
            assert_eq!(store.append(nobody, s, Bytes::new()).await, Err(StreamError::UnknownSession));
        });
    }

    #[test]
    fn a_session_restored_elsewhere_keeps_its_record_streams_and_logs() {
        block_on(async {
            let store = MemoryStore::new(policy());
            let id = SessionId::from_u128(5);
            store.create(record(id, "a", 0)).await.unwrap();
            store.append(id, StreamId::STANDALONE, Bytes::from_static(b"1")).await.unwrap();
            let stream = store.open_stream(id).await.unwrap();
            store.append(id, stream, Bytes::from_static(b"2")).await.unwrap();
            let saved = store.session(id).unwrap();
            let mut logs = Vec::new();
            for s in store.streams(id) {
                let replay = store.replay(id, s, 0).await.unwrap();
                let latest = replay.events.last().map_or(0, |e| e.id().seq());
                logs.push(ReplayLog::restore(s, LogLimits::default(), latest, replay.events, replay.finished).unwrap());
            }

            let elsewhere = MemoryStore::new(policy());
            elsewhere.restore(saved.clone(), logs).unwrap();
            assert_eq!(elsewhere.session(id), Some(saved));
            assert_eq!(elsewhere.next_deadline(), Some(Timestamp::from_millis(100)));
            assert_eq!(elsewhere.replay(id, stream, 0).await.unwrap().events.len(), 1);
            assert_eq!(elsewhere.open_stream(id).await.unwrap(), StreamId::new(2), "stream numbers continue");
            let again = elsewhere.session(id).unwrap();
            assert_eq!(elsewhere.restore(again, Vec::new()), Err(CreateError::Duplicate));
        });
    }

    #[test]
    fn tenant_names_share_one_allocation() {
        block_on(async {
            let store = MemoryStore::new(policy());
            store.create(record(SessionId::from_u128(1), "shared", 0)).await.unwrap();
            store.create(record(SessionId::from_u128(2), "shared", 0)).await.unwrap();
            let inner = store.lock();
            let a = &inner.sessions[&SessionId::from_u128(1)].record.owner.tenant;
            let b = &inner.sessions[&SessionId::from_u128(2)].record.owner.tenant;
            assert!(std::ptr::eq(a.as_str(), b.as_str()));
        });
    }

    fn owner(tenant: &str) -> Owner {
        Owner::new(TenantId::new(tenant), Principal::anonymous())
    }

    #[test]
    fn a_session_never_used_after_creation_expires_at_the_initialization_timeout() {
        block_on(async {
            let store = MemoryStore::new(policy());
            let (bare, used) = (SessionId::from_u128(1), SessionId::from_u128(2));
            store.create(SessionRecord { used: false, ..record(bare, "t", 0) }).await.unwrap();
            store.create(SessionRecord { used: false, ..record(used, "t", 0) }).await.unwrap();
            assert_eq!(store.next_deadline(), Some(Timestamp::from_millis(30)));
            store.lookup(used, &owner("t"), Timestamp::from_millis(10)).await.unwrap();
            assert_eq!(store.expire(Timestamp::from_millis(30)).await.unwrap(), vec![bare]);
            assert_eq!(store.next_deadline(), Some(Timestamp::from_millis(110)), "a used session idles normally");
        });
    }

    #[test]
    fn a_held_session_does_not_idle_and_its_idle_timeout_starts_at_release() {
        block_on(async {
            let store = MemoryStore::new(policy());
            let id = SessionId::from_u128(1);
            store.create(record(id, "t", 0)).await.unwrap();
            store.set_held(id, true, Timestamp::from_millis(20)).await.unwrap();
            assert_eq!(store.next_deadline(), Some(Timestamp::from_millis(250)), "only the absolute timeout runs");
            assert!(store.expire(Timestamp::from_millis(200)).await.unwrap().is_empty());
            assert!(store.lookup(id, &owner("t"), Timestamp::from_millis(200)).await.is_ok());
            store.set_held(id, false, Timestamp::from_millis(140)).await.unwrap();
            assert_eq!(store.next_deadline(), Some(Timestamp::from_millis(250)), "last use wins: 200 + 100 > 250");
            let other = SessionId::from_u128(2);
            store.create(record(other, "t", 0)).await.unwrap();
            store.set_held(other, true, Timestamp::from_millis(0)).await.unwrap();
            store.set_held(other, false, Timestamp::from_millis(60)).await.unwrap();
            assert_eq!(store.expire(Timestamp::from_millis(159)).await.unwrap(), vec![]);
            assert_eq!(store.expire(Timestamp::from_millis(160)).await.unwrap(), vec![other]);
            store.set_held(SessionId::from_u128(9), true, Timestamp::from_millis(0)).await.unwrap();
            // unknown: ignored
        });
    }

    #[test]
    fn the_shared_budget_drops_the_oldest_events_of_any_session_first() {
        block_on(async {
            let cost = crate::stream::event_cost(10);
            let store = MemoryStore::new(StorePolicy { retained_bytes: 4 * cost, ..policy() });
            let (a, b) = (SessionId::from_u128(1), SessionId::from_u128(2));
            store.create(record(a, "t", 0)).await.unwrap();
            store.create(record(b, "t", 0)).await.unwrap();
            let payload = || Bytes::from(vec![b'x'; 10]);
            let sa = store.open_stream(a).await.unwrap();
            let sb = store.open_stream(b).await.unwrap();
            store.append(a, sa, payload()).await.unwrap(); // a:1
            store.append(b, sb, payload()).await.unwrap(); // b:1
            store.append(a, sa, payload()).await.unwrap(); // a:2
            store.append(b, sb, payload()).await.unwrap(); // b:2
            assert_eq!(store.occupancy().retained_bytes, 4 * cost);
            store.append(a, sa, payload()).await.unwrap(); // a:3 pushes out a:1
            assert_eq!(store.replay(a, sa, 0).await.unwrap().lost, 1);
            store.append(a, sa, payload()).await.unwrap(); // a:4 pushes out b:1
            assert_eq!(store.replay(b, sb, 0).await.unwrap().lost, 1);
            let occupancy = store.occupancy();
            assert_eq!((occupancy.events, occupancy.retained_bytes, occupancy.evicted_by_budget), (4, 4 * cost, 2));
            store.remove(a).await.unwrap();
            assert_eq!(store.occupancy().retained_bytes, cost, "a removed session gives its bytes back");
            for _ in 0..10 {
                store.append(b, sb, payload()).await.unwrap();
            }
            let occupancy = store.occupancy();
            assert_eq!((occupancy.events, occupancy.retained_bytes), (4, 4 * cost));
            assert_eq!(store.replay(b, sb, 0).await.unwrap().lost, 8, "every drop is counted on resume");
        });
    }

    #[test]
    fn restore_moves_the_stream_counter_past_every_restored_log() {
        block_on(async {
            let store = MemoryStore::new(policy());
            let id = SessionId::from_u128(3);
            let stale = StoredSession { record: record(id, "t", 0), next_stream: 0 };
            let log = ReplayLog::new(StreamId::new(6), LogLimits::default());
            store.restore(stale, vec![log]).unwrap();
            assert_eq!(store.open_stream(id).await.unwrap(), StreamId::new(7));
        });
    }
}
