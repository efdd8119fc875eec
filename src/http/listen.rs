//! `subscriptions/listen` (2026-07-28): a POST answered with an SSE stream of change
//! notifications, acknowledgement first, until the client closes it or the server shuts down.

use http::{Response, StatusCode};
use serde_json::{Map, Value};

use super::body::Body;
use super::engine::Engine;
use super::rejection::Rejection;
use super::reply;
use crate::jsonrpc::{ErrorObject, Id};
use crate::listen::{Filter, ListenError};
use crate::server::{LocalStream, McpSession, ResponseStream};
use crate::session::{Owner, Store};

impl<S: Store<McpSession> + 'static> Engine<S> {
    /// Opens a listen stream for `owner` with the filter of `params.notifications`, cut down to
    /// what the server offers. Always SSE, never resumable (no ids, no `retry`).
    pub(crate) async fn listen(
        &self,
        owner: &Owner,
        id: Id,
        params: &Map<String, Value>,
    ) -> Result<Response<Body>, Rejection> {
        let server = &self.server;
        let offers = (server.tools().next().is_some(), !server.prompts.is_empty(), server.has_resources());
        let Some(filter) = params.get("notifications").and_then(|requested| Filter::honoured(requested, offers)) else {
            let error =
                ErrorObject::invalid_params("Invalid params: subscriptions/listen needs a notifications object");
            return Ok(reply::error(StatusCode::BAD_REQUEST, Some(&id), &error));
        };
        let sessions = &self.state.sessions;
        let schedule = sessions.keep_alive().map(|every| (sessions.now(), every));
        let window = self.state.sessions.store().log_limits().events;
        let (registration, frames, scheduled) = match self.state.listeners.register(owner, id, filter, window, schedule)
        {
            Ok(registered) => registered,
            Err(ListenError::TooMany { .. }) => return Err(Rejection::ListenLimit),
            Err(ListenError::TooManyForPrincipal { .. }) => return Err(Rejection::PrincipalListenLimit),
        };
        if scheduled {
            sessions.wake_host();
        }
        Ok(reply::sse(ResponseStream::Local(LocalStream::listening(frames, registration)), self.retry_ms()))
    }

    /// Ends every listen stream of the shared state with its graceful result, naming this
    /// engine's server: what a host does when it starts to drain, so that listeners learn the
    /// server is going rather than seeing their connection cut.
    pub fn close_listens(&self) {
        let info = serde_json::to_value(&self.server.info).expect("server info serializes");
        self.state.close_listens(&info);
    }
}
