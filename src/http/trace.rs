//! What the front door tells `tracing`: a span per request, and events for the session
//! lifecycle (created, refused with its reason, deleted, expired) and for refusals. (Events lost
//! to a client are told by the live layer, `events lost` with the session, stream and count.) Spans and events cost an atomic load when nobody listens.
//!
//! The span `mcp.request` carries `http.method`, then, as they become known, `era`
//! (`"session"` or `"2026-07-28"`), `session` (the session id), `rpc.method` and `rpc.id` (of a
//! request that is not a batch), and at the end `status`.

use tracing::field::Empty;
use tracing::Span;

use crate::jsonrpc::Id;
use crate::metrics::SessionRefusal;
use crate::session::{Owner, SessionId};

/// The span of one request.
pub(crate) fn request_span(method: &http::Method) -> Span {
    tracing::debug_span!(
        "mcp.request",
        http.method = %method,
        era = Empty,
        session = Empty,
        rpc.method = Empty,
        rpc.id = Empty,
        status = Empty,
    )
}

/// The request is of the session era, of `session` if it names one that exists.
pub(crate) fn session_era(session: Option<SessionId>) {
    let span = Span::current();
    span.record("era", "session");
    if let Some(session) = session {
        span.record("session", tracing::field::display(session));
    }
}

/// The request is of the sessionless era.
pub(crate) fn sessionless_era() {
    Span::current().record("era", "2026-07-28");
}

/// The JSON-RPC request being answered (not recorded for batches).
pub(crate) fn rpc(method: &str, id: &Id) {
    let span = Span::current();
    span.record("rpc.method", method);
    span.record("rpc.id", tracing::field::display(id));
}

pub(crate) fn session_created(session: SessionId, owner: &Owner) {
    tracing::info!(session = %session, tenant = owner.tenant.as_str(), "session created");
}

/// An `initialize` that got no session, and why.
pub(crate) fn session_refused(reason: SessionRefusal, owner: &Owner) {
    tracing::info!(reason = reason.as_str(), tenant = owner.tenant.as_str(), "session refused");
}

pub(crate) fn session_deleted(session: SessionId) {
    tracing::info!(session = %session, "session deleted");
}

pub(crate) fn session_expired(session: SessionId) {
    tracing::info!(session = %session, "session expired");
}

/// A refusal, with its reason and status.
pub(crate) fn refused(reason: &dyn std::fmt::Debug, status: http::StatusCode) {
    tracing::debug!(reason = ?reason, status = status.as_u16(), "request refused");
}
