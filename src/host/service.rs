//! One HTTP exchange through hyper: read the body within the limit, let the engine answer.

use std::convert::Infallible;

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::http::{Body, HostRejection};
use crate::server::McpSession;
use crate::session::Store;
use crate::Engine;

pub(crate) async fn handle<S: Store<McpSession> + 'static>(
    engine: Engine<S>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, engine.max_body_bytes()).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => return Ok(engine.reject(HostRejection::BodyTooLarge)),
        Err(_) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
    };
    Ok(engine.handle(Request::from_parts(parts, bytes)).await)
}
