//! Values across the boundary: JSON both ways, object fields, promises, and thrown values.
//!
//! Conversions go through `serde_json::Value` (one deserializer for everything) or read object
//! fields directly, rather than deriving a deserializer per type: each derived deserializer
//! costs kilobytes of wasm, and the whole binary ships to every edge location.

use std::future::Future;
use std::pin::Pin;

use js_sys::{Function, Promise, Reflect, JSON};
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A Rust value as a plain JavaScript value.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    serde_json::to_string(value).ok().and_then(|text| JSON::parse(&text).ok()).unwrap_or(JsValue::UNDEFINED)
}

/// The JSON text of a JavaScript value (`None` for `undefined` and functions).
pub(crate) fn json_text(value: &JsValue) -> Result<Option<String>, JsValue> {
    if value.is_undefined() {
        return Ok(None);
    }
    Ok(JSON::stringify(value)?.as_string())
}

/// A JavaScript value as JSON (`null` for `undefined`).
pub(crate) fn to_json(value: &JsValue) -> Result<Value, JsValue> {
    match json_text(value)? {
        None => Ok(Value::Null),
        Some(text) => serde_json::from_slice(text.as_bytes()).map_err(|e| error(e.to_string())),
    }
}

/// `object[key]` (`undefined` when absent or when `object` is not an object).
pub(crate) fn field(object: &JsValue, key: &str) -> JsValue {
    if !object.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `object[key]` as a string, if it is one.
pub(crate) fn string(object: &JsValue, key: &str) -> Option<String> {
    field(object, key).as_string()
}

/// `object[key]` as a number, if it is one.
pub(crate) fn number(object: &JsValue, key: &str) -> Option<f64> {
    field(object, key).as_f64()
}

/// `object[key]`, a required string.
pub(crate) fn required(object: &JsValue, what: &str, key: &str) -> Result<String, JsValue> {
    string(object, key).ok_or_else(|| error(format!("{what}: `{key}` (a string) is required")))
}

/// A JavaScript `Error` with this message.
pub(crate) fn error(message: impl AsRef<str>) -> JsValue {
    js_sys::Error::new(message.as_ref()).into()
}

/// What a thrown value says.
pub(crate) fn message(thrown: &JsValue) -> String {
    if let Some(error) = thrown.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    if let Some(text) = thrown.as_string() {
        return text;
    }
    string(thrown, "message").unwrap_or_else(|| "a non-Error value was thrown".to_owned())
}

/// Calls a JavaScript function and awaits its result if it returns a promise.
pub(crate) async fn call(function: &Function, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let args: js_sys::Array = args.iter().collect();
    let returned = function.apply(&JsValue::NULL, &args)?;
    JsFuture::from(Promise::resolve(&returned)).await
}

/// A Rust future as a JavaScript promise. Every exported async method goes through this one
/// boxed type, so the promise glue exists once in the binary instead of once per method.
pub(crate) fn promise(future: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let boxed: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> = Box::pin(future);
    wasm_bindgen_futures::future_to_promise(boxed)
}
