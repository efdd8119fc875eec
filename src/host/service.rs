//! One HTTP exchange through hyper: read the body within its limits, let the engine answer (or,
//! at the metrics path, answer the scrape).
//!
//! A body is bounded three ways before the engine sees it: by the engine's
//! [`max_body_bytes`](crate::Engine::max_body_bytes) (413), by the host-wide budget of bytes being
//! read (503 with `Retry-After`), and by [`HostConfig::body_read_timeout`](super::HostConfig)
//! (408). A declared `Content-Length` is judged before a byte is read: hyper sends
//! `100 Continue` only when the body is first polled, so a client that sent
//! `Expect: 100-continue` learns of the refusal without uploading anything. Every refusal here
//! closes the connection, since the rest of the body is never read.

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::future::{select, Either};
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::rt::Timer;
use hyper::{Request, Response};

use super::activity::{Busy, Tracked};
use super::budget::Reservation;
use super::Shared;
use crate::http::{Body, HostRejection};
use crate::server::McpSession;
use crate::session::Store;
use crate::Engine;

pub(crate) async fn handle<S: Store<McpSession> + 'static, T: Timer>(
    engine: Engine<S>,
    request: Request<Incoming>,
    busy: Busy,
    timer: T,
    host: Arc<Shared>,
) -> Result<Response<Tracked>, Infallible> {
    let response = answer(&engine, request, &timer, &host).await;
    Ok(response.map(|body| Tracked::new(body, busy)))
}

/// Reads the body within its limits (any body whose chunks are `Bytes`: hyper's, or one handed
/// over by another executor), then lets the engine answer.
pub(crate) async fn answer<S, T, B>(engine: &Engine<S>, request: Request<B>, timer: &T, host: &Shared) -> Response<Body>
where
    S: Store<McpSession> + 'static,
    T: Timer,
    B: http_body::Body<Data = Bytes> + Unpin,
{
    if host.config.metrics_path.as_deref() == Some(request.uri().path()) {
        return metrics(engine, request.method());
    }
    let (parts, body) = request.into_parts();
    let limit = engine.max_body_bytes();
    let mut reservation = host.bodies.reservation();
    // hyper knows the exact size of a body with `Content-Length` (and of no body at all).
    let declared = body.size_hint().exact().map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX));
    if let Some(declared) = declared {
        if declared > limit {
            return refuse(engine, HostRejection::BodyTooLarge);
        }
        if reservation.grow(declared).is_err() {
            return refuse(engine, HostRejection::BodyBudgetExhausted);
        }
    }
    let read = read(body, limit, declared.unwrap_or(0), &mut reservation);
    let bytes = match select(pin!(read), timer.sleep(host.config.body_read_timeout)).await {
        Either::Left((Ok(bytes), _)) => bytes,
        Either::Left((Err(why), _)) => return refuse(engine, why),
        Either::Right(_) => return refuse(engine, HostRejection::BodyTimedOut),
    };
    let response = engine.handle(Request::from_parts(parts, bytes)).await;
    // The engine has parsed what it keeps; the bytes read are no longer the host's to count.
    drop(reservation);
    response
}

/// Reads the whole body, reserving chunked bytes as they arrive.
async fn read<B: http_body::Body<Data = Bytes> + Unpin>(
    mut body: B,
    limit: usize,
    declared: usize,
    reservation: &mut Reservation,
) -> Result<Bytes, HostRejection> {
    let mut bytes = BytesMut::with_capacity(declared);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| HostRejection::MalformedRequest)?;
        let Ok(data) = frame.into_data() else { continue };
        let total = bytes.len() + data.len();
        if total > limit {
            return Err(HostRejection::BodyTooLarge);
        }
        if let Some(more) = total.checked_sub(reservation.bytes()).filter(|&more| more > 0) {
            reservation.grow(more).map_err(|_| HostRejection::BodyBudgetExhausted)?;
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes.freeze())
}

/// The scrape at [`HostConfig::metrics_path`](super::HostConfig::metrics_path). Its body is
/// never read (a GET has none worth reading), and nothing of it reaches the engine.
fn metrics<S: Store<McpSession> + 'static>(engine: &Engine<S>, method: &Method) -> Response<Body> {
    if method != Method::GET {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let mut response = Response::new(Body::full(engine.state().render_prometheus()));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(crate::prometheus::CONTENT_TYPE));
    response
}

fn refuse<S: Store<McpSession> + 'static>(engine: &Engine<S>, why: HostRejection) -> Response<Body> {
    let mut response = engine.reject(why);
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}
