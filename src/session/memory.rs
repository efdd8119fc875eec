//! The default store: everything in this process's memory.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use hashbrown::{HashMap, HashSet};
use serde::{Deserialize, Serialize};

use super::id::SessionId;
use super::owner::{Owner, TenantId};
use super::record::{ExpiryPolicy, SessionRecord};
use super::store::{CreateError, LookupError, ReplayError, Store, StreamError};
use crate::clock::Timestamp;
use crate::stream::{Event, Replay, ReplayLog, StreamId};

/// Limits and rules a store enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorePolicy {
    /// When sessions expire.
    pub expiry: ExpiryPolicy,
    /// Cap on sessions in total; `None` for no cap. Default `None`.
    pub max_sessions: Option<usize>,
    /// Cap on sessions per tenant; `None` for no cap. Default `None`.
    pub max_sessions_per_tenant: Option<usize>,
    /// Events retained per stream for `Last-Event-ID` replay. Default 256.
    pub replay_capacity: usize,
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
            max_sessions: None,
            max_sessions_per_tenant: None,
            replay_capacity: 256,
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
}

#[derive(Debug)]
struct Entry<D> {
    record: SessionRecord<D>,
    deadline: Timestamp,
    next_stream: u32,
    logs: Vec<ReplayLog>,
}

impl<D> Entry<D> {
    fn log_mut(&mut self, stream: StreamId) -> Option<&mut ReplayLog> {
        self.logs.iter_mut().find(|log| log.stream() == stream)
    }
}

impl<D> MemoryStore<D> {
    /// An empty store enforcing `policy`.
    ///
    /// # Panics
    ///
    /// If `policy.replay_capacity` is zero or `policy.max_streams_per_session` is below 2 (the
    /// standalone stream and one request stream).
    pub fn new(policy: StorePolicy) -> Self {
        assert!(policy.replay_capacity > 0, "replay_capacity must be at least 1");
        assert!(policy.max_streams_per_session >= 2, "max_streams_per_session must be at least 2");
        Self {
            policy,
            inner: Mutex::new(Inner { sessions: HashMap::new(), deadlines: BTreeSet::new(), tenants: HashMap::new() }),
        }
    }

    /// The rules this store enforces.
    pub fn policy(&self) -> &StorePolicy {
        &self.policy
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
        self.lock().sessions.get(&id).map(|e| e.logs.iter().map(ReplayLog::stream).collect()).unwrap_or_default()
    }

    /// Puts back a session persisted elsewhere, with its replay logs (a process restarting over
    /// durable storage). Admission caps do not apply: the session already existed.
    pub fn restore(&self, session: StoredSession<D>, logs: Vec<ReplayLog>) -> Result<(), CreateError> {
        let mut inner = self.lock();
        let StoredSession { mut record, next_stream } = session;
        if inner.sessions.contains_key(&record.id) {
            return Err(CreateError::Duplicate);
        }
        let id = record.id;
        match inner.tenants.get_key_value(&record.owner.tenant) {
            Some((tenant, _)) => record.owner.tenant = tenant.clone(),
            None => {
                inner.tenants.insert(record.owner.tenant.clone(), HashSet::new());
            }
        }
        if let Some(members) = inner.tenants.get_mut(&record.owner.tenant) {
            members.insert(id);
        }
        let deadline = self.policy.expiry.deadline(&record);
        inner.deadlines.insert((deadline, id));
        inner.sessions.insert(id, Entry { record, deadline, next_stream, logs });
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
        Some(entry)
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
        // Share one allocation of the tenant name among all of its sessions.
        match inner.tenants.get_key_value(&record.owner.tenant) {
            Some((tenant, _)) => record.owner.tenant = tenant.clone(),
            None => {
                inner.tenants.insert(record.owner.tenant.clone(), HashSet::new());
            }
        }
        let id = record.id;
        let deadline = self.policy.expiry.deadline(&record);
        if let Some(members) = inner.tenants.get_mut(&record.owner.tenant) {
            members.insert(id);
        }
        inner.deadlines.insert((deadline, id));
        inner.sessions.insert(id, Entry { record, deadline, next_stream: 1, logs: Vec::new() });
        Ok(())
    }

    async fn lookup(&self, id: SessionId, owner: &Owner, now: Timestamp) -> Result<SessionRecord<D>, LookupError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let entry = inner.sessions.get_mut(&id).ok_or(LookupError::Unknown)?;
        if entry.deadline <= now {
            inner.remove(id);
            return Err(LookupError::Expired);
        }
        if entry.record.owner != *owner {
            return Err(LookupError::Forbidden);
        }
        entry.record.last_seen = now;
        let deadline = self.policy.expiry.deadline(&entry.record);
        // Once the absolute deadline is the binding one, touching no longer moves it.
        if deadline != entry.deadline {
            inner.deadlines.remove(&(entry.deadline, id));
            inner.deadlines.insert((deadline, id));
            entry.deadline = deadline;
        }
        Ok(entry.record.clone())
    }

    async fn update<F: FnOnce(&mut D)>(&self, id: SessionId, change: F) -> Result<(), LookupError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id).ok_or(LookupError::Unknown)?;
        change(&mut entry.record.data);
        Ok(())
    }

    async fn remove(&self, id: SessionId) -> bool {
        self.lock().remove(id).is_some()
    }

    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id).ok_or(StreamError::UnknownSession)?;
        let limit = self.policy.max_streams_per_session;
        if entry.logs.len() >= limit {
            // Request streams are created in order, so the first finished one is the oldest.
            let oldest_finished = entry
                .logs
                .iter()
                .position(|log| !log.stream().is_standalone() && log.is_finished())
                .ok_or(StreamError::TooManyStreams { limit })?;
            entry.logs.remove(oldest_finished);
        }
        let stream = StreamId::new(entry.next_stream);
        entry.next_stream = entry.next_stream.checked_add(1).ok_or(StreamError::TooManyStreams { limit })?;
        entry.logs.push(ReplayLog::new(stream, self.policy.replay_capacity));
        Ok(stream)
    }

    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<(Event, bool), StreamError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id).ok_or(StreamError::UnknownSession)?;
        if entry.log_mut(stream).is_none() {
            if !stream.is_standalone() {
                return Err(StreamError::UnknownStream(stream));
            }
            // The standalone log goes first so that request logs keep their creation order.
            entry.logs.insert(0, ReplayLog::new(stream, self.policy.replay_capacity));
        }
        let log = entry.log_mut(stream).expect("log exists: found or inserted above");
        if log.is_finished() {
            return Err(StreamError::Finished(stream));
        }
        Ok(log.push(payload))
    }

    async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id).ok_or(StreamError::UnknownSession)?;
        let log = entry.log_mut(stream).ok_or(StreamError::UnknownStream(stream))?;
        log.finish();
        Ok(())
    }

    async fn replay(&self, id: SessionId, stream: StreamId, after: u64) -> Result<Replay, ReplayError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id).ok_or(ReplayError::UnknownSession)?;
        match entry.log_mut(stream) {
            Some(log) => Ok(log.after(after)?),
            // The standalone stream exists from the start; nothing was ever published to it.
            None if stream.is_standalone() => Ok(ReplayLog::new(stream, 1).after(after)?),
            None => Err(ReplayError::UnknownStream(stream)),
        }
    }

    async fn expire(&self, now: Timestamp) -> Vec<SessionId> {
        let mut inner = self.lock();
        let mut expired = Vec::new();
        while let Some(&(deadline, id)) = inner.deadlines.first() {
            if deadline > now {
                break;
            }
            inner.remove(id);
            expired.push(id);
        }
        expired
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        self.lock().deadlines.first().map(|&(deadline, _)| deadline)
    }

    async fn sessions_of(&self, tenant: &TenantId) -> Vec<(SessionId, D)> {
        let inner = self.lock();
        let Some(members) = inner.tenants.get(tenant) else { return Vec::new() };
        members.iter().map(|id| (*id, inner.sessions[id].record.data.clone())).collect()
    }

    fn replay_capacity(&self) -> usize {
        self.policy.replay_capacity
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
            data: (),
        }
    }

    fn policy() -> StorePolicy {
        StorePolicy {
            expiry: ExpiryPolicy { idle: Duration::from_millis(100), absolute: Duration::from_millis(250) },
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
            assert!(store.sessions_of(&TenantId::new("t")).await.is_empty());
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
            assert_eq!(store.sessions_of(&TenantId::new("a")).await.len(), 2);
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
            assert_eq!(store.expire(Timestamp::from_millis(99)).await, vec![]);
            assert_eq!(store.expire(Timestamp::from_millis(110)).await, vec![first, second]);
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
                logs.push(ReplayLog::restore(s, 256, latest, replay.events, replay.finished).unwrap());
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
}
