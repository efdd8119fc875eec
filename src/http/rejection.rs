//! Every way the front door refuses a request, each with one status and one message.

use std::time::Duration;

use http::header::{HeaderValue, ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

use super::body::Body;
use super::reply;

/// Refusals a host decides while reading a request, before the engine sees it. Answer them with
/// [`Engine::reject`](super::Engine::reject) so that they carry the same status, headers and
/// JSON-RPC body as the engine's own refusals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostRejection {
    /// Every byte the host may hold for bodies being read is taken: 503 with `Retry-After`.
    BodyBudgetExhausted,
    /// The body did not arrive in time: 408, and the connection should close.
    BodyTimedOut,
    /// The body is larger than [`EngineConfig::max_body_bytes`](super::EngineConfig::max_body_bytes)
    /// (or declares so): 413.
    BodyTooLarge,
    /// The request cannot be represented as an `http::Request` (a header value with control
    /// characters, a target that is not a URI): 400. Values with non-ASCII bytes are valid
    /// HTTP (obs-text): hand them to the engine, which judges each header it reads.
    MalformedRequest,
    /// The host is stopping and takes no new requests: 503 with `Retry-After` (another
    /// replica, or this one restarted, will answer).
    ShuttingDown,
}

/// The answer to a refusal of the host's: what [`Engine::reject`](super::Engine::reject) answers,
/// for hosts that decide it away from the engine's thread.
pub(crate) fn reject(why: HostRejection, retry_after: Duration) -> Response<Body> {
    Rejection::from(why).into_response(retry_after)
}

/// A request refused before (or instead of) reaching a handler. Nothing changed because of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    BatchNotAllowed,
    BatchTooLong,
    BodyBudgetExhausted,
    BodyTimedOut,
    CallLimit,
    DuplicateHost,
    ForeignHost,
    ForeignOrigin,
    InitializeInBatch,
    InitializeWithSession,
    ListenLimit,
    MalformedHeader,
    MalformedLastEventId,
    MethodNotAllowed { allow: &'static str },
    MissingHost,
    MissingSessionId,
    NotAcceptableGet,
    NotAcceptablePost,
    PathNotFound,
    PayloadTooLarge,
    PrincipalListenLimit,
    ResumeAhead,
    ResumeUnknownStream,
    SessionLimit,
    SessionNotFound,
    ShuttingDown,
    StandaloneStreamBusy,
    StoreUnavailable,
    StreamLimit,
    TenantSessionLimit,
    Unauthorized { challenge: Option<String> },
    UnsupportedMediaType,
    UnsupportedProtocolVersion,
}

impl From<HostRejection> for Rejection {
    fn from(rejection: HostRejection) -> Self {
        match rejection {
            HostRejection::BodyBudgetExhausted => Self::BodyBudgetExhausted,
            HostRejection::BodyTimedOut => Self::BodyTimedOut,
            HostRejection::BodyTooLarge => Self::PayloadTooLarge,
            HostRejection::MalformedRequest => Self::MalformedHeader,
            HostRejection::ShuttingDown => Self::ShuttingDown,
        }
    }
}

impl From<crate::session::StoreUnavailable> for Rejection {
    fn from(_: crate::session::StoreUnavailable) -> Self {
        Self::StoreUnavailable
    }
}

impl Rejection {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BatchNotAllowed
            | Self::BatchTooLong
            | Self::DuplicateHost
            | Self::MalformedHeader
            | Self::MissingHost
            | Self::InitializeInBatch
            | Self::InitializeWithSession
            | Self::MalformedLastEventId
            | Self::MissingSessionId
            | Self::ResumeAhead
            | Self::ResumeUnknownStream
            | Self::UnsupportedProtocolVersion => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::ForeignHost | Self::ForeignOrigin => StatusCode::FORBIDDEN,
            Self::PathNotFound | Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptableGet | Self::NotAcceptablePost => StatusCode::NOT_ACCEPTABLE,
            Self::StandaloneStreamBusy => StatusCode::CONFLICT,
            Self::BodyTimedOut => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::CallLimit
            | Self::ListenLimit
            | Self::PrincipalListenLimit
            | Self::StreamLimit
            | Self::TenantSessionLimit => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyBudgetExhausted | Self::SessionLimit | Self::ShuttingDown | Self::StoreUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// Whether the refusal passes once load drops, so the client is told when to try again.
    pub(crate) fn is_temporary(&self) -> bool {
        matches!(
            self,
            Self::BodyBudgetExhausted
                | Self::CallLimit
                | Self::ListenLimit
                | Self::PrincipalListenLimit
                | Self::SessionLimit
                | Self::ShuttingDown
                | Self::StoreUnavailable
                | Self::StreamLimit
                | Self::TenantSessionLimit
        )
    }

    pub(crate) fn message(&self) -> &'static str {
        match self {
            Self::BatchNotAllowed => "Bad Request: JSON-RPC batches are only accepted at protocol 2025-03-26",
            Self::BatchTooLong => "Bad Request: the batch has more messages than this server accepts",
            Self::BodyBudgetExhausted => "Service Unavailable: too many request bodies are being read",
            Self::BodyTimedOut => "Request Timeout: the body did not arrive in time",
            Self::CallLimit => "Too Many Requests: this session has too many requests running",
            Self::DuplicateHost => "Bad Request: more than one Host header",
            Self::ForeignHost => "Forbidden: Host not allowed",
            Self::ForeignOrigin => "Forbidden: Origin not allowed",
            Self::InitializeInBatch => "Bad Request: initialize must not be part of a batch",
            Self::InitializeWithSession => "Bad Request: initialize must not carry Mcp-Session-Id",
            Self::ListenLimit => "Too Many Requests: too many listen streams are open",
            Self::MalformedHeader => "Bad Request: malformed request header",
            Self::MalformedLastEventId => "Bad Request: malformed Last-Event-ID",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::MissingHost => "Bad Request: an HTTP/1.1 request needs a Host header",
            Self::MissingSessionId => "Bad Request: Mcp-Session-Id header is required",
            Self::NotAcceptableGet => "Not Acceptable: Accept must include text/event-stream",
            Self::NotAcceptablePost => "Not Acceptable: Accept must include application/json and text/event-stream",
            Self::PathNotFound => "Not found",
            Self::PayloadTooLarge => "Request body too large",
            Self::PrincipalListenLimit => "Too Many Requests: you hold too many listen streams",
            Self::ResumeAhead => "Bad Request: Last-Event-ID is ahead of its stream",
            Self::ResumeUnknownStream => "Bad Request: Last-Event-ID names a stream this session no longer has",
            Self::SessionLimit => "Service Unavailable: session limit reached",
            Self::SessionNotFound => "Session not found",
            Self::ShuttingDown => "Service Unavailable: the server is shutting down; try again",
            Self::StandaloneStreamBusy => "Conflict: only one standalone SSE stream per session",
            Self::StoreUnavailable => "Service Unavailable: the session store cannot be reached; try again",
            Self::StreamLimit => "Too Many Requests: this session has too many open streams",
            Self::TenantSessionLimit => "Too Many Requests: session limit of this tenant reached",
            Self::Unauthorized { .. } => "Unauthorized",
            Self::UnsupportedMediaType => "Unsupported Media Type: Content-Type must be application/json",
            Self::UnsupportedProtocolVersion => {
                "Bad Request: Unsupported protocol version (supported versions: 2025-03-26, 2025-06-18, 2025-11-25)"
            }
        }
    }

    /// The response; temporary refusals say after how long to try again.
    pub(crate) fn into_response(self, retry_after: Duration) -> Response<Body> {
        if self == Self::SessionNotFound {
            return reply::session_not_found();
        }
        let mut response = reply::refuse(self.status(), self.message());
        if self.is_temporary() {
            // Whole seconds, at least one: `Retry-After: 0` would invite an immediate retry storm.
            let seconds = retry_after.as_secs().max(1);
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        match self {
            Self::MethodNotAllowed { allow } => {
                response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
            }
            Self::Unauthorized { challenge: Some(challenge) } => {
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response.headers_mut().insert(WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_has_a_client_error_or_unavailable_status() {
        let all = [
            Rejection::BatchNotAllowed,
            Rejection::BatchTooLong,
            Rejection::BodyBudgetExhausted,
            Rejection::BodyTimedOut,
            Rejection::CallLimit,
            Rejection::DuplicateHost,
            Rejection::ForeignHost,
            Rejection::ForeignOrigin,
            Rejection::InitializeInBatch,
            Rejection::InitializeWithSession,
            Rejection::ListenLimit,
            Rejection::MalformedHeader,
            Rejection::MalformedLastEventId,
            Rejection::MethodNotAllowed { allow: "POST" },
            Rejection::MissingHost,
            Rejection::MissingSessionId,
            Rejection::NotAcceptableGet,
            Rejection::NotAcceptablePost,
            Rejection::PathNotFound,
            Rejection::PayloadTooLarge,
            Rejection::PrincipalListenLimit,
            Rejection::ResumeAhead,
            Rejection::ResumeUnknownStream,
            Rejection::SessionLimit,
            Rejection::SessionNotFound,
            Rejection::ShuttingDown,
            Rejection::StandaloneStreamBusy,
            Rejection::StoreUnavailable,
            Rejection::StreamLimit,
            Rejection::TenantSessionLimit,
            Rejection::Unauthorized { challenge: None },
            Rejection::UnsupportedMediaType,
            Rejection::UnsupportedProtocolVersion,
        ];
        for rejection in all {
            let status = rejection.status();
            assert!(status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE, "{rejection:?}");
            let response = rejection.clone().into_response(Duration::from_millis(2500));
            assert_eq!(response.status(), status);
            let retry_after = response.headers().get(RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
            let expected = matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(retry_after.is_some(), expected, "{rejection:?}: every 429 and 503 says when to retry");
            if let Some(seconds) = retry_after {
                assert_eq!(seconds, "2", "{rejection:?}");
            }
        }
    }
}
