//! Web `Request`/`Response` to and from the engine's `http` types.

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{self, HeaderName, HeaderValue};
use http::Method;
use js_sys::Uint8Array;
use mcp_session::http::headers::{
    LAST_EVENT_ID, MCP_METHOD, MCP_NAME, MCP_PARAM_PREFIX, MCP_PROTOCOL_VERSION, MCP_SESSION_ID,
};
use mcp_session::http::HostRejection;
use mcp_session::Body;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, Response, ResponseInit};

/// The request headers the engine reads. Copying only these spares parsing every header name a
/// proxy or browser adds (and the header-name tables that parsing needs in the binary).
const READ_HEADERS: [HeaderName; 10] = [
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::HOST,
    header::ORIGIN,
    LAST_EVENT_ID,
    MCP_PROTOCOL_VERSION,
    MCP_SESSION_ID,
    MCP_METHOD,
    MCP_NAME,
    header::AUTHORIZATION,
];

/// Why a web request did not become an `http::Request`.
pub(crate) enum ReadError {
    /// The request cannot be represented; answer it with [`Engine::reject`](mcp_session::Engine::reject).
    Refused(HostRejection),
    /// JavaScript threw while the request was read (its body stream failed).
    Thrown(JsValue),
}

impl From<JsValue> for ReadError {
    fn from(thrown: JsValue) -> Self {
        Self::Thrown(thrown)
    }
}

/// Reads a web request (its whole body) into an `http::Request`. Headers are checked before the
/// body is touched, so a refused request still has its body.
///
/// The target is the absolute `request.url`, whose authority the engine's DNS-rebinding guard
/// checks (RFC 9112 §3.2.2). The runtimes this targets build that URL from the `Host` header,
/// not from the socket (workerd does so even for an absolute-form request line), so it names
/// the host the client asked for and the guard sees what it would see in `Host`.
pub(crate) async fn read_request(request: &Request) -> Result<http::Request<Bytes>, ReadError> {
    let method = match request.method().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "DELETE" => Method::DELETE,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "HEAD" => Method::HEAD,
        "OPTIONS" => Method::OPTIONS,
        // The engine answers any other method with 405, whatever its name.
        _ => Method::TRACE,
    };
    let mut builder = http::Request::builder().method(method.clone()).uri(request.url());
    let headers = request.headers();
    let malformed = || ReadError::Refused(HostRejection::MalformedRequest);
    for name in READ_HEADERS {
        if let Some(value) = headers.get(name.as_str())? {
            builder = builder.header(name, header_value(&value).ok_or_else(malformed)?);
        }
    }
    // The headers mirroring tool arguments (2026-07-28), named by each tool's input schema
    // (`x-mcp-header`). Web header names come lowercased.
    if method == Method::POST {
        for entry in headers.entries() {
            let entry = js_sys::Array::from(&entry?);
            let Some(name) = entry.get(0).as_string().filter(|n| n.starts_with(MCP_PARAM_PREFIX)) else {
                continue;
            };
            let value = entry.get(1).as_string().unwrap_or_default();
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| malformed())?;
            builder = builder.header(name, header_value(&value).ok_or_else(malformed)?);
        }
    }
    let body = match method {
        Method::GET | Method::HEAD | Method::DELETE => Bytes::new(),
        _ => {
            let buffer = JsFuture::from(request.array_buffer()?).await?;
            Bytes::from(Uint8Array::new(&buffer).to_vec())
        }
    };
    builder.body(body).map_err(|_| ReadError::Refused(HostRejection::MalformedRequest))
}

/// A web header value as bytes. Per the Fetch standard header values are ByteStrings (one
/// character per byte, U+0000 to U+00FF), which arrive here re-encoded as UTF-8: taken as UTF-8,
/// a Latin-1 `é` (0xE9) would become two bytes the client never sent, so each character is
/// taken as its byte. workerd departs from the standard: it decodes header bytes as UTF-8
/// (invalid ones become U+FFFD), so a value may hold characters above U+00FF; such a value is
/// still a header the client sent, and its UTF-8 encoding is the closest to those bytes. `None`
/// only if the bytes cannot be a header value at all (control characters).
fn header_value(value: &str) -> Option<HeaderValue> {
    let bytes: Option<Vec<u8>> = value.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
    match bytes {
        Some(bytes) => HeaderValue::from_bytes(&bytes).ok(),
        None => HeaderValue::from_str(value).ok(),
    }
}

/// Turns the engine's response into a web response; an SSE body becomes a `ReadableStream`
/// fed frame by frame as the engine produces them.
pub(crate) fn write_response(response: http::Response<Body>) -> Result<Response, JsValue> {
    let (parts, body) = response.into_parts();
    let headers = Headers::new()?;
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.append(name.as_str(), value)?;
        }
    }
    let init = ResponseInit::new();
    init.set_status(parts.status.as_u16());
    init.set_headers(&headers);
    if body.is_stream() {
        let chunks = body.map(|chunk| Ok(JsValue::from(Uint8Array::from(&chunk[..]))));
        let stream = wasm_streams::ReadableStream::from_stream(chunks).into_raw();
        return Response::new_with_opt_readable_stream_and_init(Some(&stream), &init);
    }
    let bytes = collect(body);
    if bytes.is_empty() {
        return Response::new_with_opt_str_and_init(None, &init);
    }
    let array = Uint8Array::from(&bytes[..]);
    Response::new_with_opt_buffer_source_and_init(Some(&array), &init)
}

/// A complete body's bytes (available at once: only SSE bodies wait).
fn collect(body: Body) -> Bytes {
    use futures_util::FutureExt;
    let mut body = body;
    let mut out = Vec::new();
    while let Some(Some(chunk)) = body.next().now_or_never() {
        out.extend_from_slice(&chunk);
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::header_value;

    #[test]
    fn a_header_value_is_the_bytes_the_client_sent() {
        assert_eq!(header_value("caf\u{e9}").unwrap().as_bytes(), b"caf\xe9", "one byte per character");
        assert_eq!(header_value("Bearer a:b").unwrap().as_bytes(), b"Bearer a:b");
        assert_eq!(header_value("tab\there").unwrap().as_bytes(), b"tab\there");
        assert_eq!(header_value("\u{fffd}\u{e9}").unwrap().as_bytes(), "\u{fffd}\u{e9}".as_bytes(), "workerd's UTF-8");
        for unusable in ["a\u{1}b", "a\u{7f}b", "nul\u{0}", "line\nbreak", "wide \u{20ac}\u{1}"] {
            assert!(header_value(unusable).is_none(), "{unusable:?}");
        }
    }
}
