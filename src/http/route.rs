//! Where a request goes when each session lives in its own engine instance.

use http::request::Parts;
use http::Method;

use super::headers::MCP_SESSION_ID;
use crate::jsonrpc::{self, Incoming};
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
    /// No session is involved (a refusal, a stateless request): any instance answers it the same.
    Anywhere,
}

/// Decides the route of a request from its method, `Mcp-Session-Id` header and body, applying
/// the same parsing as the engine so the router holds no protocol rule of its own.
///
/// A malformed session id routes [`SessionRoute::Anywhere`], where it is refused like an
/// unknown one.
pub fn session_route(parts: &Parts, body: &[u8]) -> SessionRoute {
    if let Some(value) = parts.headers.get(MCP_SESSION_ID) {
        return match value.to_str().ok().and_then(|text| text.parse().ok()) {
            Some(id) => SessionRoute::Session(id),
            None => SessionRoute::Anywhere,
        };
    }
    if parts.method != Method::POST {
        return SessionRoute::Anywhere;
    }
    match jsonrpc::parse_body(body) {
        Ok(jsonrpc::Body::Single(Incoming::Request { method, .. })) if method == "initialize" => {
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
}
