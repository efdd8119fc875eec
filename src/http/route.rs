//! Where a request goes when each session lives in its own engine instance.

use http::request::Parts;
use http::Method;

use super::headers::MCP_SESSION_ID;
use crate::jsonrpc::{self, Incoming};
use crate::server::RequestMeta;
use crate::session::SessionId;

/// Which engine instance must answer a request, for deployments that give every session its
/// own instance (a Durable Object per session) and route in front of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionRoute {
    /// The instance that owns this session.
    Session(SessionId),
    /// An `initialize` request: a new instance, for a session id the router mints.
    Initialize,
    /// No session is involved (a refusal, a stateless request, any request of the sessionless
    /// era): any instance answers it the same.
    Anywhere,
}

/// Decides the route of a request from its method, `Mcp-Session-Id` header and body, applying
/// the same parsing as the engine so the router holds no protocol rule of its own.
///
/// A malformed session id routes [`SessionRoute::Anywhere`], where it is refused like an
/// unknown one. So does a POST of the sessionless era (2026-07-28), whose `Mcp-Session-Id` is
/// ignored: its era is decided from the body first, as the engine decides it.
pub fn session_route(parts: &Parts, body: &[u8]) -> SessionRoute {
    let parsed = if parts.method == Method::POST { jsonrpc::parse_body(body).ok() } else { None };
    if let Some(jsonrpc::Body::Single(Incoming::Request { params, .. } | Incoming::Notification { params, .. })) =
        &parsed
    {
        if RequestMeta::read(*params).claims_sessionless() {
            return SessionRoute::Anywhere;
        }
    }
    if let Some(value) = parts.headers.get(MCP_SESSION_ID) {
        return match value.to_str().ok().and_then(|text| text.parse().ok()) {
            Some(id) => SessionRoute::Session(id),
            None => SessionRoute::Anywhere,
        };
    }
    match parsed {
        Some(jsonrpc::Body::Single(Incoming::Request { method, .. })) if method == "initialize" => {
            SessionRoute::Initialize
        }
        _ => SessionRoute::Anywhere,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, session: Option<&str>) -> Parts {
        let mut builder = http::Request::builder().method(method).uri("/mcp");
        if let Some(session) = session {
            builder = builder.header(MCP_SESSION_ID, session);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn routes_by_session_header_then_by_initialize() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(session_route(&parts(Method::GET, Some(id)), b""), SessionRoute::Session(id.parse().unwrap()));
        assert_eq!(session_route(&parts(Method::POST, Some("nope")), b""), SessionRoute::Anywhere);
        let init = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#;
        assert_eq!(session_route(&parts(Method::POST, None), init), SessionRoute::Initialize);
        let batch = br#"[{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}]"#;
        assert_eq!(session_route(&parts(Method::POST, None), batch), SessionRoute::Anywhere);
        assert_eq!(
            session_route(&parts(Method::POST, None), br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            SessionRoute::Anywhere
        );
        assert_eq!(session_route(&parts(Method::GET, None), b""), SessionRoute::Anywhere);
    }

    #[test]
    fn a_sessionless_request_routes_anywhere_whatever_session_it_names() {
        let id = "0123456789abcdef0123456789abcdef";
        let claim = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
        let call = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{{claim}}}}}"#);
        assert_eq!(session_route(&parts(Method::POST, Some(id)), call.as_bytes()), SessionRoute::Anywhere);
        let init = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{{claim}}}}}"#);
        assert_eq!(
            session_route(&parts(Method::POST, None), init.as_bytes()),
            SessionRoute::Anywhere,
            "not found anywhere"
        );
    }
}
