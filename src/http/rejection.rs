//! Every way the front door refuses a request, each with one status and one message.

use http::header::{HeaderValue, ALLOW, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

use super::body::Body;
use super::reply;

/// A request refused before (or instead of) reaching a handler. Nothing changed because of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    BatchNotAllowed,
    ForeignHost,
    ForeignOrigin,
    InitializeInBatch,
    InitializeWithSession,
    MalformedLastEventId,
    MethodNotAllowed { allow: &'static str },
    MissingSessionId,
    NotAcceptableGet,
    NotAcceptablePost,
    PathNotFound,
    PayloadTooLarge,
    ResumeAhead,
    ResumeUnknownStream,
    SessionLimit,
    SessionNotFound,
    StandaloneStreamBusy,
    StreamLimit,
    TenantSessionLimit,
    Unauthorized { challenge: Option<String> },
    UnsupportedMediaType,
    UnsupportedProtocolVersion,
}

impl Rejection {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BatchNotAllowed
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
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::StreamLimit | Self::TenantSessionLimit => StatusCode::TOO_MANY_REQUESTS,
            Self::SessionLimit => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(crate) fn message(&self) -> &'static str {
        match self {
            Self::BatchNotAllowed => "Bad Request: JSON-RPC batches are only accepted at protocol 2025-03-26",
            Self::ForeignHost => "Forbidden: Host not allowed",
            Self::ForeignOrigin => "Forbidden: Origin not allowed",
            Self::InitializeInBatch => "Bad Request: initialize must not be part of a batch",
            Self::InitializeWithSession => "Bad Request: initialize must not carry Mcp-Session-Id",
            Self::MalformedLastEventId => "Bad Request: malformed Last-Event-ID",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::MissingSessionId => "Bad Request: Mcp-Session-Id header is required",
            Self::NotAcceptableGet => "Not Acceptable: Accept must include text/event-stream",
            Self::NotAcceptablePost => "Not Acceptable: Accept must include application/json and text/event-stream",
            Self::PathNotFound => "Not found",
            Self::PayloadTooLarge => "Request body too large",
            Self::ResumeAhead => "Bad Request: Last-Event-ID is ahead of its stream",
            Self::ResumeUnknownStream => "Bad Request: Last-Event-ID names a stream this session no longer has",
            Self::SessionLimit => "Service Unavailable: session limit reached",
            Self::SessionNotFound => "Session not found",
            Self::StandaloneStreamBusy => "Conflict: only one standalone SSE stream per session",
            Self::StreamLimit => "Too Many Requests: this session has too many open streams",
            Self::TenantSessionLimit => "Too Many Requests: session limit of this tenant reached",
            Self::Unauthorized { .. } => "Unauthorized",
            Self::UnsupportedMediaType => "Unsupported Media Type: Content-Type must be application/json",
            Self::UnsupportedProtocolVersion => {
                "Bad Request: Unsupported protocol version (supported versions: 2025-03-26, 2025-06-18, 2025-11-25)"
            }
        }
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        if self == Self::SessionNotFound {
            return reply::session_not_found();
        }
        let mut response = reply::refuse(self.status(), self.message());
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
            Rejection::ForeignHost,
            Rejection::ForeignOrigin,
            Rejection::InitializeInBatch,
            Rejection::InitializeWithSession,
            Rejection::MalformedLastEventId,
            Rejection::MethodNotAllowed { allow: "POST" },
            Rejection::MissingSessionId,
            Rejection::NotAcceptableGet,
            Rejection::NotAcceptablePost,
            Rejection::PathNotFound,
            Rejection::PayloadTooLarge,
            Rejection::ResumeAhead,
            Rejection::ResumeUnknownStream,
            Rejection::SessionLimit,
            Rejection::SessionNotFound,
            Rejection::StandaloneStreamBusy,
            Rejection::StreamLimit,
            Rejection::TenantSessionLimit,
            Rejection::Unauthorized { challenge: None },
            Rejection::UnsupportedMediaType,
            Rejection::UnsupportedProtocolVersion,
        ];
        for rejection in all {
            let status = rejection.status();
            assert!(status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE, "{rejection:?}");
            assert_eq!(rejection.clone().into_response().status(), status);
        }
    }
}
