//! Arbitrary bytes as a POST body: the parser never panics, and what it accepts agrees with an
//! independent reading of the same bytes as plain JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_session::fuzzing::{parse_body, BodyError, Message, Parsed};
use mcp_session::jsonrpc::Id;
use serde_json::{Map, Value};

fuzz_target!(|bytes: &[u8]| {
    let parsed = parse_body(bytes);
    // The oracle is serde_json's own reading of the bytes as a plain value. It refuses a little
    // that the parser skips over unread (numbers out of `f64` range inside `params`, nesting
    // deeper than its recursion limit inside a batch member), so it judges only what it reads.
    let Ok(json) = serde_json::from_slice::<Value>(bytes) else { return };
    match parsed {
        Err(BodyError::Json) => panic!("JSON refused as not JSON: {json}"),
        Err(BodyError::Invalid) => {
            if let Value::Array(items) = &json {
                assert!(items.is_empty(), "a non-empty batch is answered member by member, not refused whole");
            }
        }
        Ok(Parsed::Single(message)) => {
            let object = json.as_object().expect("a message is an object");
            check_message(&message, object);
        }
        Ok(Parsed::Batch(members)) => {
            let items = json.as_array().expect("a batch is an array");
            assert!(!items.is_empty(), "an empty batch is refused");
            assert_eq!(members.len(), items.len(), "every member is answered or run, none dropped");
            for (member, item) in members.iter().zip(items) {
                match member {
                    Ok(message) => check_message(message, item.as_object().expect("a message is an object")),
                    Err(bad) => {
                        if let Some(id) = &bad.id {
                            assert_same_id(id, &item["id"]);
                        }
                    }
                }
            }
        }
    }
});

/// Whether a member is there with a value: `null` reads as absent for every member but `id`
/// (where a present `null` is refused).
fn has(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).is_some_and(|v| !v.is_null())
}

/// A classified message has exactly the members its kind requires.
fn check_message(message: &Message, object: &Map<String, Value>) {
    assert_eq!(object.get("jsonrpc"), Some(&Value::from("2.0")));
    match message {
        Message::Request { id, method } => {
            assert_same_id(id, &object["id"]);
            assert_eq!(object.get("method").and_then(Value::as_str), Some(method.as_str()));
            assert!(!has(object, "result") && !has(object, "error"), "{object:?}");
        }
        Message::Notification { method } => {
            assert!(!object.contains_key("id"), "a notification has no id: {object:?}");
            assert_eq!(object.get("method").and_then(Value::as_str), Some(method.as_str()));
        }
        Message::Response { id, is_error } => {
            assert_same_id(id, &object["id"]);
            assert!(!has(object, "method"), "{object:?}");
            assert_eq!(has(object, "error"), *is_error, "{object:?}");
            assert_ne!(has(object, "result"), *is_error, "exactly one of result and error: {object:?}");
        }
    }
}

fn assert_same_id(id: &Id, value: &Value) {
    match id {
        Id::Number(n) => assert_eq!(value.as_i64(), Some(*n), "{value}"),
        Id::String(s) => assert_eq!(value.as_str(), Some(&**s), "{value}"),
    }
}
