//! The headers of the Streamable HTTP transport.

use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use http::HeaderMap;

/// `Mcp-Session-Id`: issued on `initialize`, sent back on every later request.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `MCP-Protocol-Version`: the revision the client speaks on this request.
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Last-Event-ID`: where a client resumes a stream.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// `Mcp-Method`: the JSON-RPC method of a 2026-07-28 request, for routing without the body.
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name`: the tool or prompt name, or resource URI, of a 2026-07-28 request.
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// Prefix of the headers that mirror tool arguments annotated with `x-mcp-header`.
pub const MCP_PARAM_PREFIX: &str = "mcp-param-";
/// `X-Accel-Buffering: no` keeps nginx-style proxies from holding SSE frames back.
pub const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

pub(crate) const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const TEXT_EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

/// Whether the `Accept` header admits `mime` (`type/subtype`), with wildcards and q-values
/// (`q=0` refuses).
pub(crate) fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    let (kind, _) = mime.split_once('/').unwrap_or((mime, ""));
    headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|range| {
        let mut pieces = range.split(';');
        let media = pieces.next().unwrap_or("").trim();
        let refused = pieces.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        !refused
            && (media == "*/*"
                || media.eq_ignore_ascii_case(mime)
                || media.strip_suffix("/*").is_some_and(|k| k.eq_ignore_ascii_case(kind)))
    })
}

/// Whether the body is declared as JSON (`application/json`, any parameters).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_matching() {
        let both = accept("application/json, text/event-stream");
        assert!(accepts(&both, "application/json") && accepts(&both, "text/event-stream"));
        assert!(accepts(&accept("*/*"), "text/event-stream"));
        assert!(accepts(&accept("text/*"), "text/event-stream"));
        assert!(!accepts(&accept("text/*"), "application/json"));
        assert!(!accepts(&accept("application/json"), "text/event-stream"));
        assert!(!accepts(&accept("text/event-stream;q=0"), "text/event-stream"));
        assert!(!accepts(&HeaderMap::new(), "application/json"));
    }

    #[test]
    fn content_type_matching() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        assert!(is_json(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&headers));
    }
}
