//! A [`Store`] that keeps a Durable Object's session in the object's storage.
//!
//! Everything is served from an in-memory [`MemoryStore`]; every change is written through to
//! the object's storage, and a restarted object reads it all back (`load`). Keys:
//! `session` (the record and stream counter), `ev:<stream>:<seq>` (one retained event each, hex,
//! so keys sort in order), `fin:<stream>` (a finished stream).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use js_sys::{Array, Map, Promise};
use mcp_session::session::{
    CreateError, LookupError, MemoryStore, ReplayError, SessionRecord, StorePolicy, StoredSession, StreamError,
};
use mcp_session::stream::{Event, Replay, ReplayLog};
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
}

/// A lookup only refreshes the stored `last_seen` when it moved at least this much: a busy
/// session then costs one storage write per 10 s instead of one per request, and after a
/// restart its idle timeout runs at most this much early.
const TOUCH_WRITE_EVERY: Duration = Duration::from_secs(10);

impl DurableStore {
    /// Memory only: sessions end with the isolate.
    pub fn in_memory(policy: StorePolicy) -> Self {
        Self { memory: MemoryStore::new(policy), storage: None, restored: None, saved_last_seen: AtomicU64::new(0) }
    }

    /// Reads back whatever `storage` holds (a session persisted before a restart) and writes
    /// through to it from now on.
    pub async fn load(policy: StorePolicy, storage: DurableObjectStorage) -> Result<Self, JsValue> {
        let capacity = policy.replay_capacity;
        let memory = MemoryStore::new(policy);
        let entries: Map = JsFuture::from(storage.list(&js_sys::Object::new())?).await?.unchecked_into();
        let mut session: Option<StoredSession<McpSession>> = None;
        let mut events: Vec<Event> = Vec::new();
        let mut finished = Vec::new();
        for entry in entries.entries() {
            let pair: Array = entry?.unchecked_into();
            let (Some(key), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) else { continue };
            if key == SESSION_KEY {
                session = Some(serde_json::from_str(&value).map_err(|e| JsValue::from_str(&e.to_string()))?);
            } else if key.starts_with("ev:") {
                events.push(serde_json::from_str(&value).map_err(|e| JsValue::from_str(&e.to_string()))?);
            } else if let Some(stream) = key.strip_prefix("fin:") {
                let number = u32::from_str_radix(stream, 16).map_err(|e| JsValue::from_str(&e.to_string()))?;
                finished.push(StreamId::new(number));
            }
        }
        let restored = session.as_ref().map(|s| s.record.id);
        if let Some(session) = session {
            // Keys sort by stream then sequence, but do not rely on the storage's listing order.
            events.sort_by_key(|e| (e.id().stream(), e.id().seq()));
            let mut logs = Vec::new();
            for retained in events.chunk_by(|a, b| a.id().stream() == b.id().stream()) {
                let stream = retained[0].id().stream();
                let latest = retained.last().map_or(0, |e| e.id().seq());
                let log = ReplayLog::restore(stream, capacity, latest, retained.to_vec(), finished.contains(&stream))
                    .map_err(|e| JsValue::from_str(&e.to_string()))?;
                logs.push(log);
            }
            memory.restore(session, logs).map_err(|e| JsValue::from_str(&e.to_string()))?;
        }
        let saved = restored.and_then(|id| memory.session(id)).map_or(Timestamp::EPOCH, |s| s.record.last_seen);
        let saved_last_seen = AtomicU64::new(saved.as_millis());
        Ok(Self { memory, storage: Some(storage), restored, saved_last_seen })
    }

    /// The session read back by [`DurableStore::load`], if storage held one.
    pub fn restored(&self) -> Option<SessionId> {
        self.restored
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

    async fn update<F: FnOnce(&mut McpSession)>(&self, id: SessionId, change: F) -> Result<(), LookupError> {
        self.memory.update(id, change).await?;
        self.save_session(id).await;
        Ok(())
    }

    async fn remove(&self, id: SessionId) -> bool {
        let existed = self.memory.remove(id).await;
        if existed {
            self.write(DurableObjectStorage::delete_all).await;
        }
        existed
    }

    async fn open_stream(&self, id: SessionId) -> Result<StreamId, StreamError> {
        let before = self.memory.streams(id);
        let stream = self.memory.open_stream(id).await?;
        self.save_session(id).await;
        // Opening may have dropped the oldest finished log to stay within the cap.
        let after = self.memory.streams(id);
        for dropped in before.into_iter().filter(|s| !after.contains(s)) {
            self.forget_stream(dropped).await;
        }
        Ok(stream)
    }

    async fn append(&self, id: SessionId, stream: StreamId, payload: Bytes) -> Result<(Event, bool), StreamError> {
        let (event, evicted) = self.memory.append(id, stream, payload).await?;
        if self.storage.is_some() {
            let text = serde_json::to_string(&event).expect("events serialize");
            let key = event_key(stream, event.id().seq());
            self.write(|s| s.put(&key, &text)).await;
            if evicted {
                let gone = event.id().seq() - self.memory.replay_capacity() as u64;
                let keys: Array = [JsValue::from(event_key(stream, gone))].into_iter().collect();
                self.write(|s| s.delete_keys(&keys)).await;
            }
        }
        Ok((event, evicted))
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

    async fn expire(&self, now: Timestamp) -> Vec<SessionId> {
        let expired = self.memory.expire(now).await;
        if !expired.is_empty() {
            self.write(DurableObjectStorage::delete_all).await;
        }
        expired
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        self.memory.next_deadline()
    }

    async fn sessions_of(&self, tenant: &TenantId) -> Vec<(SessionId, McpSession)> {
        self.memory.sessions_of(tenant).await
    }

    fn replay_capacity(&self) -> usize {
        self.memory.replay_capacity()
    }

    fn len(&self) -> usize {
        self.memory.len()
    }
}

impl DurableStore {
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
