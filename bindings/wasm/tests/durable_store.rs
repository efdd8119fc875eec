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
    failing: 0,
    async put(key, value) {
      this.puts += 1;
      if (this.failing > 0) {
        this.failing -= 1;
        throw new Error("injected put failure");
      }
      map.set(key, value);
    },
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
export function failPuts(storage, n) { storage.failing = n; }
export function keys(storage) { return [...storage.map.keys()].sort(); }
export function value(storage, key) { return storage.map.get(key); }
export function setValue(storage, key, value) { storage.map.set(key, value); }
export function setNumber(storage, key, value) { storage.map.set(key, value); }
export function removeKey(storage, key) { storage.map.delete(key); }
"#)]
extern "C" {
    fn fakeStorage() -> DurableObjectStorage;
    #[wasm_bindgen(js_name = keyCount)]
    fn key_count(storage: &DurableObjectStorage) -> u32;
    #[wasm_bindgen(js_name = putCount)]
    fn put_count(storage: &DurableObjectStorage) -> u32;
    /// The next `n` puts reject (after counting), as a failed storage write does.
    #[wasm_bindgen(js_name = failPuts)]
    fn fail_puts(storage: &DurableObjectStorage, n: u32);
    fn keys(storage: &DurableObjectStorage) -> Vec<String>;
    fn value(storage: &DurableObjectStorage, key: &str) -> Option<String>;
    #[wasm_bindgen(js_name = setValue)]
    fn set_value(storage: &DurableObjectStorage, key: &str, value: &str);
    #[wasm_bindgen(js_name = setNumber)]
    fn set_number(storage: &DurableObjectStorage, key: &str, value: f64);
    #[wasm_bindgen(js_name = removeKey)]
    fn remove_key(storage: &DurableObjectStorage, key: &str);
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
    assert_eq!(store.expire(Timestamp::from_millis(59_999)).await.unwrap(), vec![]);
    assert_eq!(store.expire(Timestamp::from_millis(60_000)).await.unwrap(), vec![id]);
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

/// The storage key of event `seq` of `stream` (the store's documented layout).
fn event_key(stream: StreamId, seq: u64) -> String {
    format!("ev:{:08x}:{seq:016x}", stream.number())
}

fn seqs(replay: &mcp_session::stream::Replay) -> Vec<u64> {
    replay.events.iter().map(|e| e.id().seq()).collect()
}

/// A stored session with `n` events on its standalone stream.
async fn stored_session(storage: &DurableObjectStorage, capacity: usize, events: u64) -> mcp_session::SessionId {
    let store = DurableStore::load(policy(capacity), storage_handle(storage)).await.unwrap();
    let rec = record(1_000);
    let id = rec.id;
    store.create(rec).await.unwrap();
    for n in 1..=events {
        store.append(id, StreamId::STANDALONE, Bytes::from(format!("{{\"n\":{n}}}"))).await.unwrap();
    }
    id
}

#[wasm_bindgen_test]
async fn a_missing_event_costs_exactly_the_events_up_to_it() {
    let storage = fakeStorage();
    let id = stored_session(&storage, 8, 6).await;
    remove_key(&storage, &event_key(StreamId::STANDALONE, 3));

    let restarted = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
    assert_eq!(restarted.restored(), Some(id), "the object loads");
    let owner = Owner::anonymous();
    restarted.lookup(id, &owner, Timestamp::from_millis(2_000)).await.unwrap();
    for (after, lost) in [(0, 3), (1, 2), (2, 1), (3, 0)] {
        let replay = restarted.replay(id, StreamId::STANDALONE, after).await.unwrap();
        assert_eq!(replay.lost, lost, "resuming after {after}: events {}..=3 are lost, and counted", after + 1);
        assert_eq!(seqs(&replay), vec![4, 5, 6], "then the rest, in order");
    }
    let expected: Vec<String> = (4..=6).map(|seq| event_key(StreamId::STANDALONE, seq)).collect();
    let stored_events: Vec<String> = keys(&storage).into_iter().filter(|k| k.starts_with("ev:")).collect();
    assert_eq!(stored_events, expected, "events before the gap are deleted with it");

    // It serves on: the next event continues the stream and is stored.
    let event = restarted.append(id, StreamId::STANDALONE, Bytes::from_static(b"{}")).await.unwrap();
    assert_eq!(event.id().seq(), 7);
    let again = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
    let replay = again.replay(id, StreamId::STANDALONE, 3).await.unwrap();
    assert_eq!((replay.lost, seqs(&replay)), (0, vec![4, 5, 6, 7]));
}

#[wasm_bindgen_test]
async fn a_put_that_fails_once_does_not_brick_the_next_load() {
    let storage = fakeStorage();
    let id = stored_session(&storage, 8, 2).await;
    let store = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
    fail_puts(&storage, 1);
    store.append(id, StreamId::STANDALONE, Bytes::from_static(b"{\"n\":3}")).await.unwrap();
    for n in 4..=5 {
        store.append(id, StreamId::STANDALONE, Bytes::from(format!("{{\"n\":{n}}}"))).await.unwrap();
    }
    let live = store.replay(id, StreamId::STANDALONE, 0).await.unwrap();
    assert_eq!(seqs(&live), vec![1, 2, 3, 4, 5], "this instance still serves the event from memory");
    assert_eq!(value(&storage, &event_key(StreamId::STANDALONE, 3)), None, "but storage never got it");

    let restarted = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
    assert_eq!(restarted.restored(), Some(id));
    let replay = restarted.replay(id, StreamId::STANDALONE, 2).await.unwrap();
    assert_eq!((replay.lost, seqs(&replay)), (1, vec![4, 5]), "the unwritten event is reported lost, once");

    // A failed write of the record itself: the older record is read back.
    fail_puts(&storage, 1);
    restarted.update(id, |s| s.initialized = true).await.unwrap();
    let after_record = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
    let owner = Owner::anonymous();
    let back = after_record.lookup(id, &owner, Timestamp::from_millis(2_000)).await.unwrap();
    assert!(!back.data.initialized, "the record as last written");
    after_record.update(id, |s| s.initialized = true).await.unwrap();
    let fixed = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
    assert!(fixed.lookup(id, &owner, Timestamp::from_millis(2_000)).await.unwrap().data.initialized);
}

#[wasm_bindgen_test]
async fn a_failed_first_write_of_the_record_leaves_nothing_to_trip_on() {
    let storage = fakeStorage();
    let store = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
    fail_puts(&storage, 1);
    let rec = record(1_000);
    let id = rec.id;
    store.create(rec).await.unwrap();
    store.append(id, StreamId::STANDALONE, Bytes::from_static(b"{}")).await.unwrap();
    assert!(key_count(&storage) > 0, "events without their record");
    let restarted = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
    assert_eq!(restarted.restored(), None);
    assert!(restarted.is_empty());
    assert_eq!(key_count(&storage), 0, "what cannot be served is deleted");
}

#[wasm_bindgen_test]
async fn an_unreadable_record_starts_the_store_empty() {
    for unreadable in ["{not json", "{\"record\":5}", "null", ""] {
        let storage = fakeStorage();
        stored_session(&storage, 8, 3).await;
        set_value(&storage, "session", unreadable);
        let restarted = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
        assert_eq!(restarted.restored(), None, "{unreadable:?}");
        assert!(restarted.is_empty());
        assert_eq!(key_count(&storage), 0, "{unreadable:?}: its events go with it");
        // And the emptied object takes a new session.
        restarted.create(record(5_000)).await.unwrap();
    }
}

#[wasm_bindgen_test]
async fn stray_and_unusable_keys_are_deleted() {
    let storage = fakeStorage();
    let id = stored_session(&storage, 8, 3).await;
    let before = keys(&storage);
    let second = value(&storage, &event_key(StreamId::STANDALONE, 2)).unwrap();
    let ninth = event_key(StreamId::STANDALONE, 9);
    let strays = [
        ("ev:zz", second.clone()),
        // An event stored under another event's key.
        (ninth.as_str(), second.clone()),
        ("ev:00000000:0000000000000004", "{not json".to_owned()),
        ("fin:xyz", "1".to_owned()),
        ("fin:0000000", "1".to_owned()),
        // A finished mark of a stream with no stored event.
        ("fin:00000007", "1".to_owned()),
        ("someone-else", "x".to_owned()),
    ];
    for (key, value) in &strays {
        set_value(&storage, key, value);
    }
    set_number(&storage, "a-number", 5.0);

    let restarted = DurableStore::load(policy(8), storage_handle(&storage)).await.unwrap();
    assert_eq!(restarted.restored(), Some(id));
    assert_eq!(keys(&storage), before, "exactly the usable keys are left");
    let replay = restarted.replay(id, StreamId::STANDALONE, 0).await.unwrap();
    assert_eq!((replay.lost, seqs(&replay)), (0, vec![1, 2, 3]));
}

#[wasm_bindgen_test]
async fn events_beyond_a_smaller_limit_are_dropped_from_storage_on_load() {
    let storage = fakeStorage();
    let id = stored_session(&storage, 8, 6).await;
    let restarted = DurableStore::load(policy(2), storage_handle(&storage)).await.unwrap();
    let replay = restarted.replay(id, StreamId::STANDALONE, 0).await.unwrap();
    assert_eq!((replay.lost, seqs(&replay)), (4, vec![5, 6]));
    let stored_events: Vec<String> = keys(&storage).into_iter().filter(|k| k.starts_with("ev:")).collect();
    assert_eq!(stored_events, vec![event_key(StreamId::STANDALONE, 5), event_key(StreamId::STANDALONE, 6)]);

    // The same under a smaller retained-bytes budget: `{"n":N}` is 7 bytes of payload.
    let storage = fakeStorage();
    let id = stored_session(&storage, 8, 6).await;
    let mut budget = policy(8);
    budget.retained_bytes = 2 * mcp_session::stream::event_cost(7);
    let restarted = DurableStore::load(budget, storage_handle(&storage)).await.unwrap();
    let replay = restarted.replay(id, StreamId::STANDALONE, 0).await.unwrap();
    assert_eq!((replay.lost, seqs(&replay)), (4, vec![5, 6]));
    let stored_events: Vec<String> = keys(&storage).into_iter().filter(|k| k.starts_with("ev:")).collect();
    assert_eq!(stored_events, vec![event_key(StreamId::STANDALONE, 5), event_key(StreamId::STANDALONE, 6)]);
}
