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
/// matches it exactly or by wildcard, with a q-value above 0 (`q=0` refuses). Each range's media
/// type is parsed by `mime`; its parameters are read leniently (only `q` matters here), so a
/// client whose other parameters are malformed is not refused for them.
pub(crate) fn accepts(headers: &HeaderMap, wanted: &Mime) -> bool {
    let mut ranges = headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    ranges.any(|range| {
        let mut pieces = range.split(';');
        let Some(media) = essence(pieces.next().unwrap_or("")) else { return false };
        let refused = pieces.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        let matches = if media.subtype() == mime::STAR {
            // `type/*` or `*/*`; a suffix after a wildcard names nothing.
            media.suffix().is_none() && (media.type_() == mime::STAR || media.type_() == wanted.type_())
        } else {
            // The whole essence, suffix included: `application/json+` is not `application/json`
            // though `mime` reads its subtype as `json` (found by fuzzing). `*/json` is no range.
            media.essence_str() == wanted.essence_str()
        };
        !refused && matches
    })
}

/// Whether the body is declared as JSON: `application/json`, whatever parameters follow (the
/// body is read as UTF-8 JSON either way).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| essence(v.split(';').next().unwrap_or("")))
        .is_some_and(|m| m.essence_str() == mime::APPLICATION_JSON.essence_str())
}

/// A `type/subtype` without parameters, parsed by `mime` (tokens checked, the essence
/// lowercased).
fn essence(text: &str) -> Option<Mime> {
    let text = text.trim_matches([' ', '\t']);
    text.parse::<Mime>().ok().filter(|m| m.params().next().is_none())
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
        assert!(!accepts(&accept("application/json+"), json), "an empty suffix is another subtype");
        assert!(!accepts(&accept("text/*+json"), sse), "no suffix after a wildcard");
        assert!(!accepts(&accept("text/event-stream/extra"), sse), "not a media range");
        assert!(accepts(&accept("text/event-stream; charset"), sse), "a malformed parameter is not a refusal");
        assert!(!accepts(&HeaderMap::new(), json));
    }

    #[test]
    fn content_type_matching() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        assert!(is_json(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("Application/JSON; le.com"));
        assert!(is_json(&headers), "a malformed parameter does not change the type (found by fuzzing)");
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("Application/JSON+"));
        assert!(!is_json(&headers), "an empty suffix is another subtype (found by fuzzing)");
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/ld+json"));
        assert!(!is_json(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&headers));
    }
}
