//! Building responses.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde_json::json;

use super::body::Body;
use super::headers::{APPLICATION_JSON, MCP_SESSION_ID, TEXT_EVENT_STREAM, X_ACCEL_BUFFERING};
use crate::jsonrpc::{self, ErrorCode, ErrorObject, Id};
use crate::server::ResponseStream;
use crate::session::SessionId;

pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, APPLICATION_JSON);
    response
}

/// A JSON-RPC error carried by an HTTP error status.
pub(crate) fn error(status: StatusCode, id: Option<&Id>, error: &ErrorObject) -> Response<Body> {
    json(status, jsonrpc::error_message(id, error))
}

/// A refusal of the transport itself (header, method, origin), with no request id.
pub(crate) fn refuse(status: StatusCode, message: &'static str) -> Response<Body> {
    error(status, None, &ErrorObject::new(ErrorCode::TRANSPORT, message))
}

/// 404 for an unknown, expired, deleted or foreign session: a JSON-RPC error clients parse,
/// whose data says what to do.
pub(crate) fn session_not_found() -> Response<Body> {
    let error = ErrorObject::new(ErrorCode::SESSION_NOT_FOUND, "Session not found")
        .with_data(json!({ "error": "session_expired", "retry": "re-initialize" }));
    self::error(StatusCode::NOT_FOUND, None, &error)
}

pub(crate) fn status(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

pub(crate) fn sse(stream: ResponseStream, retry_ms: u64) -> Response<Body> {
    let mut response = Response::new(Body::sse(stream, retry_ms));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, TEXT_EVENT_STREAM);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    headers.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
    response
}

pub(crate) fn with_session(mut response: Response<Body>, session: SessionId) -> Response<Body> {
    let value = HeaderValue::from_str(&session.to_string()).expect("session ids are visible ASCII");
    response.headers_mut().insert(MCP_SESSION_ID, value);
    response
}
