//! Values across the boundary: JSON both ways, and thrown values to messages.

use js_sys::{Function, Promise, JSON};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A Rust value as a plain JavaScript value.
pub(crate) fn to_js<T: Serialize>(value: &T) -> JsValue {
    serde_json::to_string(value).ok().and_then(|text| JSON::parse(&text).ok()).unwrap_or(JsValue::UNDEFINED)
}

/// A JavaScript value read as `T` (through its JSON form).
pub(crate) fn from_js<T: DeserializeOwned>(value: &JsValue) -> Result<T, String> {
    if value.is_undefined() {
        return serde_json::from_str("null").map_err(|e| e.to_string());
    }
    let text = JSON::stringify(value).map_err(|e| message(&e))?;
    serde_json::from_str(&String::from(text)).map_err(|e| e.to_string())
}

/// What a thrown value says.
pub(crate) fn message(thrown: &JsValue) -> String {
    if let Some(error) = thrown.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    thrown.as_string().unwrap_or_else(|| format!("{thrown:?}"))
}

/// Calls a JavaScript function and awaits its result if it returns a promise.
pub(crate) async fn call(function: &Function, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let args: js_sys::Array = args.iter().collect();
    let returned = function.apply(&JsValue::NULL, &args)?;
    JsFuture::from(Promise::resolve(&returned)).await
}
