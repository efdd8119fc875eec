//! Web `Request`/`Response` to and from the engine's `http` types.

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{self, HeaderName, HeaderValue};
use http::Method;
use js_sys::Uint8Array;
use mcp_session::Body;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, Response, ResponseInit};

/// The request headers the engine reads. Copying only these spares parsing every header name a
/// proxy or browser adds (and the header-name tables that parsing needs in the binary).
const READ_HEADERS: [HeaderName; 8] = [
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::HOST,
    header::ORIGIN,
    HeaderName::from_static("last-event-id"),
    HeaderName::from_static("mcp-protocol-version"),
    HeaderName::from_static("mcp-session-id"),
    header::AUTHORIZATION,
];

/// Reads a web request (its whole body) into an `http::Request`.
pub(crate) async fn read_request(request: &Request) -> Result<http::Request<Bytes>, JsValue> {
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
    for name in READ_HEADERS {
        if let Some(value) = headers.get(name.as_str())? {
            let value = HeaderValue::from_str(&value).map_err(|_| JsValue::from_str("invalid header value"))?;
            builder = builder.header(name, value);
        }
    }
    let body = match method {
        Method::GET | Method::HEAD | Method::DELETE => Bytes::new(),
        _ => {
            let buffer = JsFuture::from(request.array_buffer()?).await?;
            Bytes::from(Uint8Array::new(&buffer).to_vec())
        }
    };
    builder.body(body).map_err(|_| JsValue::from_str("unusable request"))
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
