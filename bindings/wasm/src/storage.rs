//! A [`Store`] that keeps a Durable Object's session in the object's storage.
//!
//! Everything is served from an in-memory [`MemoryStore`]; every change is written through to
//! the object's storage, and a restarted object reads it all back (`load`). Keys:
//! `session` (the record and stream counter), `ev:<stream>:<seq>` (one retained event each, hex,
//! so keys sort in order), `fin:<stream>` (a finished stream).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use js_sys::{Array, Map, Promise};
use mcp_session::session::{
    CreateError, LookupError, MemoryStore, ReplayError, SessionRecord, StorePolicy, StoreUnavailable, StoredSession,
    StreamError,
};
use mcp_session::stream::{Event, LogLimits, Replay, ReplayLog};
use mcp_session::{McpSession, Owner, SessionId, Store, StreamId, TenantId, Timestamp};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::convert::message;

#[wasm_bindgen]
extern "C" {
    /// The `storage` of a Durable Object's state (`state.storage`).
    pub type DurableObjectStorage;

    #[wasm_bindgen(method, catch)]
    fn put(this: &DurableObjectStorage, key: &str, value: &str) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = delete)]
    fn delete_keys(this: &DurableObjectStorage, keys: &Array) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn list(this: &DurableObjectStorage, options: &JsValue) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = deleteAll)]
    fn delete_all(this: &DurableObjectStorage) -> Result<Promise, JsValue>;
}

const SESSION_KEY: &str = "session";

fn event_key(stream: StreamId, seq: u64) -> String {
    format!("ev:{:08x}:{seq:016x}", stream.number())
}

fn finished_key(stream: StreamId) -> String {
    format!("fin:{:08x}", stream.number())
}

/// Sessions in memory, written through to a Durable Object's storage when one is attached.
pub struct DurableStore {
    memory: MemoryStore<McpSession>,
    storage: Option<DurableObjectStorage>,
    restored: Option<SessionId>,
    /// `last_seen` of the session as last written to storage.
    saved_last_seen: AtomicU64,
    /// Sequence numbers whose events are in storage, per stream: what to delete when the
    /// in-memory log drops its oldest.
    persisted: Mutex<BTreeMap<StreamId, Range<u64>>>,
}

/// A lookup (or the end of a stream or call) only refreshes the stored `last_seen` when it moved
/// at least this much: a busy session then costs one storage write per 10 s instead of one per
/// request, and after a restart its idle timeout runs at most this much early.
const TOUCH_WRITE_EVERY: Duration = Duration::from_secs(10);

impl DurableStore {
    /// Memory only: sessions end with the isolate.
    pub fn in_memory(policy: StorePolicy) -> Self {
        Self {
            memory: MemoryStore::new(policy),
            storage: None,
            restored: None,
            saved_last_seen: AtomicU64::new(0),
            persisted: Mutex::default(),
        }
    }

    /// Reads back whatever `storage` holds (a session persisted before a restart) and writes
    /// through to it from now on. The store owns the whole of `storage`.
    ///
    /// Storage is not trusted: a write that failed before the restart may have left a gap in a
    /// stream's events, or a record that no longer parses. The object still serves: a log keeps
    /// its newest unbroken run of events (a client resuming from before the gap is told exactly
    /// how many it lost) and every key it cannot use is deleted; an unreadable record is dropped
    /// with everything else, and its client re-initializes (404).
    ///
    /// A run is trusted to end at the newest stored event. An event whose write failed after
    /// every stored one is not counted lost, and its sequence number is issued again: on
    /// Cloudflare no client saw it, because a Durable Object's output gate withholds what the
    /// object sends until its writes succeed, and resets the object when one fails.
    pub async fn load(policy: StorePolicy, storage: DurableObjectStorage) -> Result<Self, JsValue> {
        let limits = policy.log;
        let memory = MemoryStore::new(policy);
        let entries: Map = JsFuture::from(storage.list(&js_sys::Object::new())?).await?.unchecked_into();
        let stored_anything = entries.size() > 0;
        let mut session: Option<StoredSession<McpSession>> = None;
        let mut unreadable = false;
        let mut events: Vec<Event> = Vec::new();
        let mut finished = Vec::new();
        let mut stray = Vec::new();
        for entry in entries.entries() {
            let pair: Array = entry?.unchecked_into();
            let Some(key) = pair.get(0).as_string() else { continue };
            let Some(value) = pair.get(1).as_string() else {
                stray.push(key);
                continue;
            };
            if key == SESSION_KEY {
                match serde_json::from_str(&value) {
                    Ok(parsed) => session = Some(parsed),
                    Err(_) => unreadable = true,
                }
            } else if key.starts_with("ev:") {
                match serde_json::from_str::<Event>(&value) {
                    Ok(event) if key == event_key(event.id().stream(), event.id().seq()) => events.push(event),
                    _ => stray.push(key),
                }
            } else if let Some(stream) = key.strip_prefix("fin:").and_then(|hex| u32::from_str_radix(hex, 16).ok()) {
                let stream = StreamId::new(stream);
                if key == finished_key(stream) {
                    finished.push(stream);
                } else {
                    stray.push(key);
                }
            } else {
                stray.push(key);
            }
        }
        let store = Self {
            memory,
            storage: Some(storage),
            restored: None,
            saved_last_seen: AtomicU64::new(0),
            persisted: Mutex::default(),
        };
        let Some(session) = session.filter(|_| !unreadable) else {
            if stored_anything {
                web_sys_console_error("mcp-session: the stored session cannot be read; starting empty");
                store.write(DurableObjectStorage::delete_all).await;
            }
            return Ok(store);
        };
        events.sort_by_key(|e| (e.id().stream(), e.id().seq()));
        let mut logs = Vec::new();
        let mut dropped = 0;
        for retained in events.chunk_by(|a, b| a.id().stream() == b.id().stream()) {
            let stream = retained[0].id().stream();
            let (log, recovery) = ReplayLog::recover(stream, limits, 0, retained.to_vec(), finished.contains(&stream));
            dropped += recovery.dropped;
            let kept = log.oldest_seq().unwrap_or(log.latest_seq() + 1);
            stray.extend(retained.iter().filter(|e| e.id().seq() < kept).map(|e| event_key(stream, e.id().seq())));
            store.persisted().insert(stream, kept..log.latest_seq() + 1);
            logs.push(log);
        }
        // A finished mark is only read with its stream's events; without them it is stray.
        let streams: Vec<StreamId> = logs.iter().map(ReplayLog::stream).collect();
        stray.extend(finished.iter().filter(|s| !streams.contains(s)).map(|s| finished_key(*s)));
        if dropped > 0 {
            let text = format!("mcp-session: {dropped} stored events sat before a gap and were dropped");
            web_sys_console_error(&text);
        }
        let id = session.record.id;
        let last_seen = session.record.last_seen;
        store.memory.restore(session, logs).map_err(|e| JsValue::from_str(&e.to_string()))?;
        store.delete(stray).await;
        // Restoring may have dropped the oldest events to fit the budget.
        store.delete_dropped(id).await;
        store.saved_last_seen.store(last_seen.as_millis(), Ordering::Relaxed);
        Ok(Self { restored: Some(id), ..store })
    }

    /// The session read back by [`DurableStore::load`], if storage held one.
    pub fn restored(&self) -> Option<SessionId> {
        self.restored
    }

    /// Whether the store holds session `id` (until its expiry is handled, an expired one too).
    pub fn contains(&self, id: SessionId) -> bool {
        self.memory.session(id).is_some()
    }

    /// Awaits a storage operation; a failure is reported on the console and the in-memory state
    /// (which already changed) keeps serving this instance.
    async fn write(&self, operation: impl FnOnce(&DurableObjectStorage) -> Result<Promise, JsValue>) {
        let Some(storage) = &self.storage else { return };
        let outcome = match operation(storage) {
            Ok(promise) => JsFuture::from(promise).await.map(drop),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            web_sys_console_error(&format!("mcp-session: Durable Object storage write failed: {}", message(&error)));
        }
    }

    fn saved(&self) -> Timestamp {
        Timestamp::from_millis(self.saved_last_seen.load(Ordering::Relaxed))
    }

    async fn save_session(&self, id: SessionId) {
        if self.storage.is_none() {
            return;
        }
        if let Some(session) = self.memory.session(id) {
            self.saved_last_seen.store(session.record.last_seen.as_millis(), Ordering::Relaxed);
            let text = serde_json::to_string(&session).expect("session records serialize");
            self.write(|s| s.put(SESSION_KEY, &text)).await;
        }
    }
}

fn web_sys_console_error(text: &str) {
    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = console, js_name = error)]
        fn console_error(text: &str);
    }
    console_error(text);
}

impl Store<McpSession> for DurableStore {
    async fn create(&self, record: SessionRecord<McpSession>) -> Result<(), CreateError> {
        let id = record.id;
        self.memory.create(record).await?;
        self.save_session(id).await;
        Ok(())
    }

    async fn lookup(
        &self,
        id: SessionId,
        owner: &Owner,
        now: Timestamp,
    ) -> Result<SessionRecord<McpSession>, LookupError> {
        let result = self.memory.lookup(id, owner, now).await;
        match &result {
            Ok(record) if record.last_seen.saturating_since(self.saved()) >= TOUCH_WRITE_EVERY => {
                self.save_session(id).await
            }
            Ok(_) => {}
            Err(LookupError::Expired) => self.write(DurableObjectStorage::delete_all).await,
            Err(_) => {}
        }
        result
    }

    async fn update<F: FnMut(&mut McpSession)>(&self, id: SessionId, change: F) -> Result<(), LookupError> {
        self.memory.update(id, change).await?;
        self.save_session(id).await;
        Ok(())
    }

    async fn remove(&self, id: SessionId) -> Result<bool, StoreUnavailable> {
        let existed = self.memory.remove(id).await?;
        if existed {
            self.write(DurableObjectStorage::delete_all).await;
        }
        Ok(existed)
    }

    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError> {
        let before = self.memory.streams(id);
        let stream = self.memory.open_stream(id).await?;
        self.save_session(id).await;
        // Opening may have dropped the oldest finished log to stay within the cap.
        let after = self.memory.streams(id);
        for dropped in before.into_iter().filter(|s| !after.contains(s)) {
            self.persisted().remove(&dropped);
            self.forget_stream(dropped).await;
        }
        Ok(stream)
    }

    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<Event, StreamError> {
        let event = self.memory.append(id, stream, payload).await?;
        if self.storage.is_some() {
            let key = event_key(stream, event.id().seq());
            match serde_json::to_string(&event) {
                Ok(text) => self.write(|s| s.put(&key, &text)).await,
                // A payload that is not UTF-8 cannot be stored as text: it is served from memory
                // and, after a restart, reported lost like any event whose write failed.
                Err(_) => web_sys_console_error("mcp-session: an event that is not UTF-8 was not stored"),
            }
            let seq = event.id().seq();
            self.persisted().entry(stream).or_insert(seq..seq).end = seq + 1;
            self.delete_dropped(id).await;
        }
        Ok(event)
    }

    async fn finish(&self, id: SessionId, stream: StreamId) -> Result<(), StreamError> {
        self.memory.finish(id, stream).await?;
        let key = finished_key(stream);
        self.write(|s| s.put(&key, "1")).await;
        Ok(())
    }

    async fn replay(&self, id: SessionId, stream: StreamId, after: u64) -> Result<Replay, ReplayError> {
        self.memory.replay(id, stream, after).await
    }

    async fn expire(&self, now: Timestamp) -> Result<Vec<SessionId>, StoreUnavailable> {
        let expired = self.memory.expire(now).await?;
        if !expired.is_empty() {
            self.write(DurableObjectStorage::delete_all).await;
        }
        Ok(expired)
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        self.memory.next_deadline()
    }

    async fn sessions_of(&self, tenant: &TenantId) -> Result<Vec<(SessionId, McpSession)>, StoreUnavailable> {
        self.memory.sessions_of(tenant).await
    }

    async fn set_held(&self, id: SessionId, held: bool, at: Timestamp) -> Result<(), StoreUnavailable> {
        self.memory.set_held(id, held, at).await?;
        // The idle timeout now counts from `at`; like a lookup, a release is written only when
        // it moves the stored `last_seen` by at least `TOUCH_WRITE_EVERY` (a restart may then
        // count from up to that much earlier), so a busy session is not a write per call.
        if !held && at.saturating_since(self.saved()) >= TOUCH_WRITE_EVERY {
            self.save_session(id).await;
        }
        Ok(())
    }

    fn log_limits(&self) -> LogLimits {
        self.memory.log_limits()
    }

    fn retained_bytes(&self) -> usize {
        self.memory.retained_bytes()
    }

    fn len(&self) -> usize {
        self.memory.len()
    }
}

impl DurableStore {
    fn persisted(&self) -> MutexGuard<'_, BTreeMap<StreamId, Range<u64>>> {
        // Single map operations: a panic cannot leave the map half updated.
        self.persisted.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Deletes stored events the in-memory logs no longer retain (their own limits or the
    /// budget dropped them).
    async fn delete_dropped(&self, id: SessionId) {
        let mut gone = Vec::new();
        {
            let mut persisted = self.persisted();
            for (stream, oldest) in self.memory.oldest_retained(id) {
                let Some(range) = persisted.get_mut(&stream) else { continue };
                let keep_from = oldest.unwrap_or(range.end).min(range.end);
                gone.extend((range.start..keep_from).map(|seq| event_key(stream, seq)));
                range.start = range.start.max(keep_from);
            }
        }
        self.delete(gone).await;
    }

    /// Deletes `keys`, at most 128 per call as the storage API allows.
    async fn delete(&self, keys: Vec<String>) {
        for chunk in keys.chunks(128) {
            let batch: Array = chunk.iter().map(|k| JsValue::from(k.as_str())).collect();
            self.write(|s| s.delete_keys(&batch)).await;
        }
    }

    /// Deletes a dropped stream's events and finished mark.
    async fn forget_stream(&self, stream: StreamId) {
        let Some(storage) = &self.storage else { return };
        let options = js_sys::Object::new();
        let prefix = format!("ev:{:08x}:", stream.number());
        let _ = js_sys::Reflect::set(&options, &"prefix".into(), &prefix.into());
        let Ok(promise) = storage.list(&options) else { return };
        let Ok(entries) = JsFuture::from(promise).await else { return };
        let entries: Map = entries.unchecked_into();
        let mut keys: Vec<JsValue> = entries.keys().into_iter().filter_map(Result::ok).collect();
        keys.push(JsValue::from(finished_key(stream)));
        // The storage API deletes at most 128 keys per call.
        for chunk in keys.chunks(128) {
            let batch: Array = chunk.iter().collect();
            self.write(|s| s.delete_keys(&batch)).await;
        }
    }
}
