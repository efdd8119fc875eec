//! The headers of the Streamable HTTP transport.

use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use http::HeaderMap;
use mime::Mime;

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

/// Whether the `Accept` header admits `wanted` (a `type/subtype`): a media range of the list that
/// matches it exactly or by wildcard, with a q-value above 0 (`q=0` refuses). Ranges are parsed
/// by `mime`; one that does not parse admits nothing.
pub(crate) fn accepts(headers: &HeaderMap, wanted: &Mime) -> bool {
    let ranges = headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    ranges.filter_map(|range| range.trim().parse::<Mime>().ok()).any(|range| {
        let refused = range.get_param("q").is_some_and(|q| q.as_str().parse::<f32>().is_ok_and(|q| q <= 0.0));
        let kind = range.type_() == mime::STAR || range.type_() == wanted.type_();
        let subtype = range.subtype() == mime::STAR || range.subtype() == wanted.subtype();
        // `*/json` is no media range: a wildcard type takes a wildcard subtype.
        let well_formed = range.type_() != mime::STAR || range.subtype() == mime::STAR;
        !refused && kind && subtype && well_formed
    })
}

/// Whether the body is declared as JSON (`application/json`, any parameters).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Mime>().ok())
        .is_some_and(|m| m.type_() == mime::APPLICATION && m.subtype() == mime::JSON)
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
        let (json, sse) = (&mime::APPLICATION_JSON, &mime::TEXT_EVENT_STREAM);
        let both = accept("application/json, text/event-stream");
        assert!(accepts(&both, json) && accepts(&both, sse));
        assert!(accepts(&accept("*/*"), sse));
        assert!(accepts(&accept("text/*"), sse));
        assert!(accepts(&accept("Application/JSON;charset=utf-8"), json), "case-insensitive, parameters allowed");
        assert!(accepts(&accept("text/html;q=0.9, text/event-stream;q=0.5"), sse));
        assert!(!accepts(&accept("text/*"), json));
        assert!(!accepts(&accept("application/json"), sse));
        assert!(!accepts(&accept("text/event-stream;q=0"), sse));
        assert!(!accepts(&accept("text/event-stream; q=0.0"), sse));
        assert!(!accepts(&accept("*/event-stream"), sse), "no such range");
        assert!(!accepts(&accept("text/event-stream/extra"), sse), "not a media range");
        assert!(!accepts(&HeaderMap::new(), json));
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
