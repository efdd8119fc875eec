//! The Durable Object store writes every change through and reads it all back, against an
//! in-memory stand-in for `state.storage` (same methods: put, delete, list, deleteAll).
#![cfg(target_family = "wasm")]

use std::time::Duration;

use bytes::Bytes;
use mcp_session::session::{ExpiryPolicy, SessionRecord, StorePolicy};
use mcp_session::{McpSession, Owner, Store, StreamId, Timestamp};
use mcp_session_wasm::{DurableObjectStorage, DurableStore};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
export function fakeStorage() {
  const map = new Map();
  return {
    map,
    puts: 0,
    async put(key, value) { this.puts += 1; map.set(key, value); },
    async delete(keys) { for (const k of keys) map.delete(k); return keys.length; },
    async list(options) {
      const prefix = (options && options.prefix) || "";
      return new Map([...map].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)));
    },
    async deleteAll() { map.clear(); },
  };
}
export function keyCount(storage) { return storage.map.size; }
export function putCount(storage) { return storage.puts; }
"#)]
extern "C" {
    fn fakeStorage() -> DurableObjectStorage;
    #[wasm_bindgen(js_name = keyCount)]
    fn key_count(storage: &DurableObjectStorage) -> u32;
    #[wasm_bindgen(js_name = putCount)]
    fn put_count(storage: &DurableObjectStorage) -> u32;
}

fn policy(capacity: usize) -> StorePolicy {
    let mut policy = StorePolicy::default();
    policy.expiry =
        ExpiryPolicy { idle: Duration::from_secs(60), absolute: Duration::from_secs(600), ..ExpiryPolicy::default() };
    policy.log.events = capacity;
    policy
}

fn record(at: u64) -> SessionRecord<McpSession> {
    let session = McpSession::new(mcp_session::model::ProtocolVersion::LATEST, Default::default());
    SessionRecord {
        id: "0123456789abcdef0123456789abcdef".parse().unwrap(),
        owner: Owner::anonymous(),
        created_at: Timestamp::from_millis(at),
        last_seen: Timestamp::from_millis(at),
        used: true,
        data: session,
    }
}

fn storage_handle(storage: &DurableObjectStorage) -> DurableObjectStorage {
    AsRef::<JsValue>::as_ref(storage).clone().unchecked_into()
}

#[wasm_bindgen_test]
async fn everything_written_is_read_back_after_a_restart() {
    let storage = fakeStorage();
    let store = DurableStore::load(policy(3), storage_handle(&storage)).await.unwrap();
    let rec = record(1_000);
    let id = rec.id;
    store.create(rec).await.unwrap();
    for n in 1..=5 {
        store.append(id, StreamId::STANDALONE, Bytes::from(format!("{{\"n\":{n}}}"))).await.unwrap();
    }
    let stream = store.open_stream(id).await.unwrap();
    store.append(id, stream, Bytes::from_static(b"{\"done\":true}")).await.unwrap();
    store.finish(id, stream).await.unwrap();
    store.update(id, |s| s.initialized = true).await.unwrap();
    // record + 3 retained standalone events + 1 request event + its finished mark
    assert_eq!(key_count(&storage), 6);

    let restarted = DurableStore::load(policy(3), storage_handle(&storage)).await.unwrap();
    assert_eq!(restarted.restored(), Some(id));
    let owner = Owner::anonymous();
    let back = restarted.lookup(id, &owner, Timestamp::from_millis(2_000)).await.unwrap();
    assert!(back.data.initialized);
    let replay = restarted.replay(id, StreamId::STANDALONE, 1).await.unwrap();
    assert_eq!(replay.lost, 1, "event 2 was evicted before the restart: reported, not hidden");
    assert_eq!(replay.events.iter().map(|e| e.id().seq()).collect::<Vec<_>>(), vec![3, 4, 5]);
    let finished = restarted.replay(id, stream, 0).await.unwrap();
    assert!(finished.finished);
    assert_eq!(finished.events.len(), 1);
    assert_eq!(restarted.open_stream(id).await.unwrap(), StreamId::new(2), "stream numbers continue");
}

#[wasm_bindgen_test]
async fn removing_or_expiring_the_session_empties_the_storage() {
    let storage = fakeStorage();
    let store = DurableStore::load(policy(4), storage_handle(&storage)).await.unwrap();
    let rec = record(0);
    let id = rec.id;
    store.create(rec).await.unwrap();
    store.append(id, StreamId::STANDALONE, Bytes::from_static(b"{}")).await.unwrap();
    assert!(key_count(&storage) > 0);
    assert_eq!(store.expire(Timestamp::from_millis(59_999)).await, vec![]);
    assert_eq!(store.expire(Timestamp::from_millis(60_000)).await, vec![id]);
    assert_eq!(key_count(&storage), 0);
    let empty = DurableStore::load(policy(4), storage_handle(&storage)).await.unwrap();
    assert_eq!(empty.restored(), None);
    assert!(empty.is_empty());
}

#[wasm_bindgen_test]
async fn lookups_refresh_the_stored_last_seen_at_most_every_ten_seconds() {
    let storage = fakeStorage();
    let store = DurableStore::load(policy(4), storage_handle(&storage)).await.unwrap();
    let rec = record(0);
    let id = rec.id;
    store.create(rec).await.unwrap();
    let owner = Owner::anonymous();
    let writes = put_count(&storage);
    for at in [1_000, 5_000, 9_999] {
        store.lookup(id, &owner, Timestamp::from_millis(at)).await.unwrap();
    }
    assert_eq!(put_count(&storage), writes, "touches within 10 s of the stored one are not written");
    store.lookup(id, &owner, Timestamp::from_millis(10_000)).await.unwrap();
    assert_eq!(put_count(&storage), writes + 1);
    let restarted = DurableStore::load(policy(4), storage_handle(&storage)).await.unwrap();
    let stored = restarted.lookup(id, &owner, Timestamp::from_millis(10_001)).await.unwrap();
    assert_eq!(stored.created_at, Timestamp::from_millis(0));
    assert_eq!(put_count(&storage), writes + 1, "the restored copy knows what storage holds");
}
