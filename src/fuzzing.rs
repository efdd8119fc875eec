//! Crate-private parsers and encoders, exposed to the fuzz targets in `fuzz/` only: this module
//! exists when the crate is built with `--cfg fuzzing` (as `cargo fuzz` does) and is not API.
//!
//! Each wrapper forwards to the function the engine itself calls, translating crate-private
//! results into small public types so that the targets can check them.

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::HeaderMap;

use crate::http::{HostPolicy, OriginPolicy};
use crate::jsonrpc::{self, Id, Incoming};
use crate::model::ProtocolVersion;
use crate::stream::StreamItem;

/// One JSON-RPC message as [`parse_body`] classified it.
#[derive(Debug)]
pub enum Message {
    /// A request: it has an id and a method.
    Request {
        /// Its id.
        id: Id,
        /// Its method.
        method: String,
    },
    /// A notification: a method and no id.
    Notification {
        /// Its method.
        method: String,
    },
    /// A response to a request of the server: an id and a result or an error.
    Response {
        /// Its id.
        id: Id,
        /// Whether it carries an error rather than a result.
        is_error: bool,
    },
}

impl From<Incoming<'_>> for Message {
    fn from(message: Incoming<'_>) -> Self {
        match message {
            Incoming::Request { id, method, .. } => Self::Request { id, method: method.into_owned() },
            Incoming::Notification { method, .. } => Self::Notification { method: method.into_owned() },
            Incoming::Response { id, outcome } => Self::Response { id, is_error: outcome.is_err() },
        }
    }
}

/// A batch member that is not a message, answered alone with its id if it had a readable one.
#[derive(Debug)]
pub struct BadMember {
    /// The id its error response carries (`null` when `None`).
    pub id: Option<Id>,
}

/// A POST body as [`parse_body`] read it.
#[derive(Debug)]
pub enum Parsed {
    /// One message.
    Single(Message),
    /// A batch, member by member, in order.
    Batch(Vec<Result<Message, BadMember>>),
}

/// Why a body as a whole was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON (`-32700`).
    Json,
    /// JSON, but not a JSON-RPC message or a non-empty batch (`-32600`).
    Invalid,
}

/// `jsonrpc::parse_body`, the POST body parser.
pub fn parse_body(bytes: &[u8]) -> Result<Parsed, BodyError> {
    let body = jsonrpc::parse_body(bytes).map_err(|error| match error {
        jsonrpc::ParseError::Json(_) => BodyError::Json,
        jsonrpc::ParseError::Invalid(_) => BodyError::Invalid,
    })?;
    Ok(match body {
        jsonrpc::Body::Single(message) => Parsed::Single(message.into()),
        jsonrpc::Body::Batch(members) => Parsed::Batch(
            members.into_iter().map(|m| m.map(Message::from).map_err(|bad| BadMember { id: bad.id })).collect(),
        ),
    })
}

/// `http::headers::accepts`: whether `Accept` admits `mime`.
pub fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    mime.parse().is_ok_and(|mime| crate::http::headers::accepts(headers, &mime))
}

/// `http::headers::is_json`: whether `Content-Type` declares JSON.
pub fn is_json(headers: &HeaderMap) -> bool {
    crate::http::headers::is_json(headers)
}

/// Why the DNS-rebinding guard refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Two `Host` headers.
    DuplicateHost,
    /// A host the [`HostPolicy`] does not accept.
    ForeignHost,
    /// An origin the [`OriginPolicy`] does not accept.
    ForeignOrigin,
    /// A `Host` or `Origin` value that is not visible ASCII.
    MalformedHost,
    /// An HTTP/1.1 request with neither `Host` nor an absolute-form target.
    MissingHost,
}

/// `http::guard::check`: the `Host` and `Origin` check every request passes first.
pub fn guard_check(parts: &Parts, hosts: &HostPolicy, origins: &OriginPolicy) -> Result<(), Refusal> {
    use crate::http::guard::Refusal as R;
    crate::http::guard::check(parts, hosts, origins).map_err(|refusal| match refusal {
        R::DuplicateHost => Refusal::DuplicateHost,
        R::ForeignHost => Refusal::ForeignHost,
        R::ForeignOrigin => Refusal::ForeignOrigin,
        R::MalformedHost => Refusal::MalformedHost,
        R::MissingHost => Refusal::MissingHost,
    })
}

/// `MCP-Protocol-Version` names no revision this engine serves (the engine answers 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedVersion;

/// `http::engine::protocol_header`: the revision `MCP-Protocol-Version` names, if present.
pub fn protocol_header(headers: &HeaderMap) -> Result<Option<ProtocolVersion>, UnsupportedVersion> {
    crate::http::engine::protocol_header(headers).map_err(|_| UnsupportedVersion)
}

/// `http::body::encode` of an item of a session stream.
pub fn encode_session(out: &mut BytesMut, item: StreamItem, retry_ms: u64) {
    crate::http::body::encode(out, crate::http::body::SseItem::Session(item), retry_ms);
}

/// `http::body::encode` of a message of a stateless stream (no id).
pub fn encode_bare(out: &mut BytesMut, payload: Bytes, retry_ms: u64) {
    crate::http::body::encode(out, crate::http::body::SseItem::Bare(payload), retry_ms);
}
