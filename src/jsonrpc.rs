//! JSON-RPC 2.0 messages as MCP uses them, and their typed errors.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// A request id: a number or a string (never null for a request).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A numeric id (0 is valid and common).
    Number(i64),
    /// A string id.
    String(Arc<str>),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => n.fmt(f),
            Self::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// A JSON-RPC error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: Self = Self(-32700);
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: Self = Self(-32600);
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: Self = Self(-32601);
    /// Invalid method parameters (MCP also uses it for an unknown tool or prompt).
    pub const INVALID_PARAMS: Self = Self(-32602);
    /// Internal error.
    pub const INTERNAL_ERROR: Self = Self(-32603);
    /// Transport-level refusal (a missing or malformed header, a forbidden origin).
    pub const TRANSPORT: Self = Self(-32000);
    /// The session does not exist (unknown, expired or deleted).
    pub const SESSION_NOT_FOUND: Self = Self(-32001);
    /// MCP: the resource does not exist (before 2026-07-28, which uses [`Self::INVALID_PARAMS`]
    /// with `data.uri`).
    pub const RESOURCE_NOT_FOUND: Self = Self(-32002);
    /// MCP 2026-07-28: a standard or parameter header is missing, malformed, or disagrees with
    /// the body.
    pub const HEADER_MISMATCH: Self = Self(-32020);
    /// MCP 2026-07-28: the method needs a client capability the request did not declare
    /// (`data.requiredCapabilities`).
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: Self = Self(-32021);
    /// MCP 2026-07-28: the request's protocol revision is not served (`data.supported`,
    /// `data.requested`).
    pub const UNSUPPORTED_PROTOCOL_VERSION: Self = Self(-32022);
}

/// The `error` member of a JSON-RPC response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// What kind of error.
    pub code: ErrorCode,
    /// A short description.
    pub message: Cow<'static, str>,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error without data.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    /// The same error with `data` attached.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// `-32602`: the params are not what the method takes.
    pub fn invalid_params(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }

    /// `-32603`.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::INTERNAL_ERROR, message)
    }

    /// `-32601` for `method`.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(ErrorCode::METHOD_NOT_FOUND, format!("Method not found: {method}"))
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code.0, self.message)
    }
}

impl std::error::Error for ErrorObject {}

/// One message as received, its params still unparsed.
#[derive(Debug)]
pub(crate) enum Incoming<'a> {
    Request { id: Id, method: Cow<'a, str>, params: Option<&'a RawValue> },
    Notification { method: Cow<'a, str>, params: Option<&'a RawValue> },
    Response { id: Id, outcome: Result<Value, ErrorObject> },
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    /// Present-but-null must stay distinguishable from absent (null ids are invalid), which a
    /// plain `Option` would collapse.
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// Why a body is not acceptable JSON-RPC.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("parse error: {0}")]
    Json(String),
    #[error("invalid request: {0}")]
    Invalid(&'static str),
}

impl ParseError {
    pub(crate) fn into_error_object(self) -> ErrorObject {
        match self {
            Self::Json(detail) => ErrorObject::new(ErrorCode::PARSE_ERROR, format!("Parse error: {detail}")),
            Self::Invalid(what) => ErrorObject::new(ErrorCode::INVALID_REQUEST, format!("Invalid Request: {what}")),
        }
    }
}

/// A POST body: one message or a batch.
pub(crate) enum Body<'a> {
    Single(Incoming<'a>),
    /// Each member parsed on its own: a bad member is answered alone, the others still run.
    Batch(Vec<Result<Incoming<'a>, BadMember>>),
}

/// A batch member that is not a JSON-RPC message, with its id if one could be read (its error
/// response carries it; otherwise `null`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BadMember {
    pub(crate) id: Option<Id>,
    pub(crate) error: ParseError,
}

pub(crate) fn parse_body(bytes: &[u8]) -> Result<Body<'_>, ParseError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let items: Vec<&RawValue> = serde_json::from_slice(bytes).map_err(|e| ParseError::Json(e.to_string()))?;
        if items.is_empty() {
            return Err(ParseError::Invalid("empty batch"));
        }
        let members = items
            .into_iter()
            .map(|raw| parse_one(raw.get().as_bytes()).map_err(|error| BadMember { id: readable_id(raw), error }))
            .collect();
        Ok(Body::Batch(members))
    } else {
        parse_one(bytes).map(Body::Single)
    }
}

/// The id of a member that failed to parse as a message, if it has a usable one.
fn readable_id(raw: &RawValue) -> Option<Id> {
    #[derive(Deserialize)]
    struct JustId {
        id: Option<Id>,
    }
    if !is_object(raw.get().as_bytes()) {
        return None;
    }
    serde_json::from_str::<JustId>(raw.get()).ok()?.id
}

/// Whether JSON text is an object. Serde's derived structs also read an array of their fields
/// in order (`["2.0", 1, "ping"]`), which is not a JSON-RPC message.
fn is_object(json: &[u8]) -> bool {
    json.trim_ascii_start().first() == Some(&b'{')
}

fn parse_one(bytes: &[u8]) -> Result<Incoming<'_>, ParseError> {
    let wire: Wire<'_> = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ParseError::Invalid("not a JSON-RPC message object")
        } else {
            ParseError::Json(e.to_string())
        }
    })?;
    if !is_object(bytes) {
        return Err(ParseError::Invalid("not a JSON-RPC message object"));
    }
    if wire.jsonrpc != "2.0" {
        return Err(ParseError::Invalid("jsonrpc must be \"2.0\""));
    }
    let id = match wire.id {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => Some(
            serde_json::from_str::<Id>(raw.get())
                .map_err(|_| ParseError::Invalid("id must be a string or an integer"))?,
        ),
    };
    match (wire.method, id, wire.result, wire.error) {
        (Some(method), Some(id), None, None) => Ok(Incoming::Request { id, method, params: wire.params }),
        (Some(method), None, None, None) if wire.id.is_none() => {
            Ok(Incoming::Notification { method, params: wire.params })
        }
        (None, Some(id), Some(result), None) => Ok(Incoming::Response { id, outcome: Ok(result) }),
        (None, Some(id), None, Some(error)) => Ok(Incoming::Response { id, outcome: Err(error) }),
        (Some(_), None, None, None) => Err(ParseError::Invalid("a request id must not be null")),
        _ => Err(ParseError::Invalid("not a request, notification or response")),
    }
}

/// Serializes `{"jsonrpc":"2.0","id":…,"result":…}` around an already serialized result.
pub(crate) fn result_message(id: &Id, result: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(40 + result.len()).writer();
    out.get_mut().put_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut out, id).expect("ids serialize");
    out.get_mut().put_slice(br#","result":"#);
    out.get_mut().put_slice(result);
    out.get_mut().put_u8(b'}');
    out.into_inner().freeze()
}

/// Serializes `{"jsonrpc":"2.0","id":…,"error":…}`; `id` is `null` when unknown.
pub(crate) fn error_message(id: Option<&Id>, error: &ErrorObject) -> Bytes {
    let mut out = BytesMut::with_capacity(96).writer();
    out.get_mut().put_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut out, &id).expect("ids serialize");
    out.get_mut().put_slice(br#","error":"#);
    serde_json::to_writer(&mut out, error).expect("errors serialize");
    out.get_mut().put_u8(b'}');
    out.into_inner().freeze()
}

/// Serializes a notification.
pub(crate) fn notification_message(method: &str, params: &Value) -> Bytes {
    let message = serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params });
    Bytes::from(serde_json::to_vec(&message).expect("values serialize"))
}

/// Serializes a request from the server to the client.
pub(crate) fn request_message(id: &Id, method: &str, params: &Value) -> Bytes {
    let message = serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    Bytes::from(serde_json::to_vec(&message).expect("values serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(text: &str) -> Result<Incoming<'_>, ParseError> {
        match parse_body(text.as_bytes())? {
            Body::Single(message) => Ok(message),
            Body::Batch(_) => panic!("batch"),
        }
    }

    #[test]
    fn classifies_messages() {
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#),
            Ok(Incoming::Request { id: Id::Number(0), .. })
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":"a","method":"x","params":{}}"#),
            Ok(Incoming::Request { id: Id::String(_), .. })
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Incoming::Notification { .. })
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":5,"result":{}}"#),
            Ok(Incoming::Response { outcome: Ok(_), .. })
        ));
        assert!(matches!(
            single(r#"{"jsonrpc":"2.0","id":5,"error":{"code":-1,"message":"no"}}"#),
            Ok(Incoming::Response { outcome: Err(_), .. })
        ));
    }

    #[test]
    fn rejects_what_is_not_json_rpc() {
        for (text, json_error) in [
            ("{", true),
            ("", true),
            ("42", false),
            (r#"{"id":1,"method":"x"}"#, false),
            (r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#, false),
            (r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#, false),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#, false),
            (r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#, false),
            (r#"{"jsonrpc":"2.0","id":1}"#, false),
            (r#"{"jsonrpc":"2.0","id":1,"method":"x","result":{}}"#, false),
        ] {
            let error = single(text).err().unwrap_or_else(|| panic!("accepted {text:?}"));
            assert_eq!(matches!(error, ParseError::Json(_)), json_error, "{text:?}: {error:?}");
        }
        assert_eq!(parse_body(b"[]").err(), Some(ParseError::Invalid("empty batch")));
    }

    #[test]
    fn batches_parse_each_member() {
        let Body::Batch(items) =
            parse_body(br#" [{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
    }

    #[test]
    fn a_bad_batch_member_is_told_apart_with_its_id() {
        let body = br#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"1.0","id":"x","method":"b"},7]"#;
        let Body::Batch(items) = parse_body(body).unwrap() else { panic!() };
        assert!(items[0].is_ok());
        let bad = items[1].as_ref().unwrap_err();
        assert_eq!(bad.id, Some(Id::String("x".into())));
        assert_eq!(bad.error, ParseError::Invalid("jsonrpc must be \"2.0\""));
        assert_eq!(items[2].as_ref().unwrap_err().id, None);
    }

    #[test]
    fn an_array_is_not_a_message_and_names_no_id() {
        let body = br#"[["2.0",1,"ping"],[9]]"#;
        let Body::Batch(items) = parse_body(body).unwrap() else { panic!() };
        for item in &items {
            let bad = item.as_ref().expect_err("an array member is not a message");
            assert_eq!(bad, &BadMember { id: None, error: ParseError::Invalid("not a JSON-RPC message object") });
        }
    }

    #[test]
    fn serializes_responses_compactly() {
        let ok = result_message(&Id::Number(0), b"{}");
        assert_eq!(&ok[..], br#"{"jsonrpc":"2.0","id":0,"result":{}}"#);
        let err = error_message(None, &ErrorObject::method_not_found("x"));
        assert_eq!(&err[..], br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"Method not found: x"}}"#);
    }
}
