//! Web `Request`/`Response` to and from the engine's `http` types.

use bytes::Bytes;
use futures_util::StreamExt;
use js_sys::{Array, Uint8Array};
use mcp_session::Body;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, Response, ResponseInit};

/// Reads a web request (its whole body) into an `http::Request`.
pub(crate) async fn read_request(request: &Request) -> Result<http::Request<Bytes>, JsValue> {
    let mut builder = http::Request::builder().method(request.method().as_str()).uri(request.url());
    let entries = js_sys::try_iter(&request.headers())?.ok_or_else(|| JsValue::from_str("headers are not iterable"))?;
    for entry in entries {
        let pair: Array = entry?.unchecked_into();
        if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            builder = builder.header(name, value);
        }
    }
    let body = match request.method().as_str() {
        "GET" | "HEAD" | "DELETE" => Bytes::new(),
        _ => {
            let buffer = JsFuture::from(request.array_buffer()?).await?;
            Bytes::from(Uint8Array::new(&buffer).to_vec())
        }
    };
    builder.body(body).map_err(|e| JsValue::from_str(&e.to_string()))
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
