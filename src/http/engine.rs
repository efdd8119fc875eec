//! The front door: an HTTP request in, a response out.

use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};

use super::body::Body;
use super::guard::{self, Refusal};
use super::headers::{accepts, LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use super::rejection::{HostRejection, Rejection};
use super::reply;
use super::state::EngineState;
use super::trace;
use crate::model::ProtocolVersion;
use crate::server::{McpSession, ResponseStream, Server};
use crate::session::{LookupError, MemoryStore, Owner, ReplayError, SessionId, Store};
use crate::sessions::{Resume, SubscribeError, SubscribeOptions};
use crate::spawn::Spawn;
use crate::stream::{EventId, StreamId};

/// Answers MCP requests for one thread: the shared [`EngineState`], this thread's
/// [`Server`] (handlers need not be `Send`), and a way to spawn local tasks. Cheap to clone.
///
/// Call [`Engine::handle`] for every request to the endpoint, after reading the body (at most
/// [`Engine::max_body_bytes`]; larger bodies get [`Engine::reject`] with [`HostRejection::BodyTooLarge`]).
pub struct Engine<S = MemoryStore<McpSession>> {
    pub(crate) state: Arc<EngineState<S>>,
    pub(crate) server: Rc<Server>,
    pub(crate) spawner: Rc<dyn Spawn>,
}

impl<S> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Self { state: self.state.clone(), server: self.server.clone(), spawner: self.spawner.clone() }
    }
}

impl<S> fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("server", &self.server).finish_non_exhaustive()
    }
}

/// Where the session of a request comes from.
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) state: McpSession,
    /// Sessions removed before the lookup (see [`Sessions::ended_since`](crate::Sessions)).
    pub(crate) removals: u64,
}

impl<S: Store<McpSession> + 'static> Engine<S> {
    /// An engine over shared `state` answering with `server`, spawning through `spawner`.
    pub fn new(state: Arc<EngineState<S>>, server: impl Into<Rc<Server>>, spawner: impl Spawn + 'static) -> Self {
        Self { state, server: server.into(), spawner: Rc::new(spawner) }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<EngineState<S>> {
        &self.state
    }

    /// Largest request body the engine accepts.
    pub fn max_body_bytes(&self) -> usize {
        self.state.config.max_body_bytes
    }

    /// The answer to a request the host refused while reading it (a body too large, too slow,
    /// or over the hosts' budget; a header it cannot represent). Same status, headers and
    /// JSON-RPC body as the engine's own refusals.
    pub fn reject(&self, why: HostRejection) -> Response<Body> {
        let response = super::rejection::reject(why, self.state.config.retry_after);
        self.state.front.refusals.answered(response.status());
        response
    }

    /// Answers one HTTP request to the MCP endpoint.
    ///
    /// Bad input gets a precise status (400, 403, 404, 405, 406, 409, 413, 415) and a JSON-RPC
    /// error body, and changes nothing. Every call is timed on the engine's clock, from the call to the
    /// response head, and an error status is counted by status (the `prometheus` feature
    /// exposes both). An SSE response body may outlive this call; the work
    /// behind it runs on tasks given to the spawner.
    ///
    /// An `initialize` and what it answers, on a single-threaded executor with no sockets:
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use bytes::Bytes;
    /// use futures::executor::LocalPool;
    /// use futures::task::LocalSpawnExt;
    /// use mcp_session::{Engine, EngineConfig, EngineState, Server, Sessions, SpawnFn};
    ///
    /// let mut pool = LocalPool::new();
    /// let spawner = pool.spawner();
    /// let state = Arc::new(EngineState::new(Sessions::builder().build(), EngineConfig::default()));
    /// let engine = Engine::new(state, Server::builder("demo", "1.0.0").build(), SpawnFn(move |task| {
    ///     spawner.spawn_local(task).expect("the pool is running");
    /// }));
    ///
    /// let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{
    ///     "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"doc","version":"1"}}}"#;
    /// let request = http::Request::post("http://localhost/mcp")
    ///     .header("host", "localhost")
    ///     .header("content-type", "application/json")
    ///     .header("accept", "application/json, text/event-stream")
    ///     .body(Bytes::from(initialize))
    ///     .unwrap();
    /// let response = pool.run_until(engine.handle(request));
    /// assert_eq!(response.status(), http::StatusCode::OK);
    /// assert!(response.headers().contains_key("mcp-session-id"));
    ///
    /// // A request for a session that does not exist changes nothing and says why.
    /// let unknown = http::Request::post("http://localhost/mcp")
    ///     .header("host", "localhost")
    ///     .header("content-type", "application/json")
    ///     .header("accept", "application/json, text/event-stream")
    ///     .header("mcp-session-id", "00000000000000000000000000000000")
    ///     .header("mcp-protocol-version", "2025-11-25")
    ///     .body(Bytes::from_static(br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#))
    ///     .unwrap();
    /// assert_eq!(pool.run_until(engine.handle(unknown)).status(), http::StatusCode::NOT_FOUND);
    /// ```
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Body> {
        use tracing::Instrument;
        let sessions = &self.state.sessions;
        let arrived = sessions.read_clock();
        let span = trace::request_span(request.method());
        let response = self.answer_request(request).instrument(span.clone()).await;
        span.record("status", response.status().as_u16());
        let front = &self.state.front;
        front.latency.observe(sessions.read_clock().saturating_since(arrived));
        front.refusals.answered(response.status());
        response
    }

    async fn answer_request(&self, request: Request<Bytes>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let config = &self.state.config;
        let outcome = match self.admit(&parts) {
            Err(rejection) => Err(rejection),
            Ok(()) => match parts.method {
                Method::POST => self.post(parts, body).await,
                // The sessionless era has nothing to GET or DELETE: only a session does.
                Method::GET | Method::DELETE
                    if !parts.headers.contains_key(MCP_SESSION_ID)
                        && super::era::header_is_sessionless(&parts.headers) =>
                {
                    Err(Rejection::MethodNotAllowed { allow: "POST" })
                }
                Method::GET if !config.stateless => self.get(parts).await,
                Method::DELETE if !config.stateless => self.delete(parts).await,
                _ => Err(Rejection::MethodNotAllowed {
                    allow: if config.stateless { "POST" } else { "GET, POST, DELETE" },
                }),
            },
        };
        outcome.unwrap_or_else(|rejection| {
            trace::refused(&rejection, rejection.status());
            rejection.into_response(config.retry_after)
        })
    }

    /// Checks that apply to every method: path, DNS rebinding, and for GET and DELETE the
    /// protocol version (a POST's depends on its era, which its body decides).
    fn admit(&self, parts: &Parts) -> Result<(), Rejection> {
        let config = &self.state.config;
        if parts.uri.path() != config.path {
            return Err(Rejection::PathNotFound);
        }
        guard::check(parts, &config.hosts, &config.origins).map_err(|refusal| match refusal {
            Refusal::DuplicateHost => Rejection::DuplicateHost,
            Refusal::ForeignHost => Rejection::ForeignHost,
            Refusal::ForeignOrigin => Rejection::ForeignOrigin,
            Refusal::MalformedHost => Rejection::MalformedHeader,
            Refusal::MissingHost => Rejection::MissingHost,
        })?;
        let sessionless_without_session =
            !parts.headers.contains_key(MCP_SESSION_ID) && super::era::header_is_sessionless(&parts.headers);
        if parts.method == Method::POST || sessionless_without_session {
            return Ok(());
        }
        protocol_header(&parts.headers).map(drop)
    }

    pub(crate) async fn authenticate(&self, parts: &Parts) -> Result<Owner, Rejection> {
        self.state.auth.authenticate(parts).await.map_err(|e| Rejection::Unauthorized { challenge: e.challenge })
    }

    /// The session a request names, looked up (and touched) under its owner.
    pub(crate) async fn session(&self, parts: &Parts, owner: &Owner) -> Result<Session, Rejection> {
        let Some(value) = parts.headers.get(MCP_SESSION_ID) else {
            return Err(Rejection::MissingSessionId);
        };
        // An id we could not have issued is unknown, like any other.
        let id: SessionId = value.to_str().ok().and_then(|text| text.parse().ok()).ok_or(Rejection::SessionNotFound)?;
        let removals = self.state.sessions.removals();
        match self.state.sessions.lookup(id, owner).await {
            Ok(record) => {
                let added = self.state.reindex(id, &record.data);
                // A session ended since the lookup must not keep the watches just indexed (and
                // if this request is dropped while that is being found out, they go too: the
                // next lookup of a live session indexes them again).
                let undo = Unindex { state: &self.state, id, added, armed: true };
                // When the store cannot say, `undo` takes the watches out again as it drops.
                if !self.state.sessions.survived(id, removals).await? {
                    self.state.forget(id);
                    return Err(Rejection::SessionNotFound);
                }
                undo.disarm();
                trace::session_era(Some(id));
                Ok(Session { id, state: record.data, removals })
            }
            Err(LookupError::Unavailable(_)) => Err(Rejection::StoreUnavailable),
            Err(error) => {
                if error == LookupError::Expired {
                    self.state.forget(id);
                    self.state.tell_ended(id).await;
                }
                Err(Rejection::SessionNotFound)
            }
        }
    }

    /// GET: opens the session's standalone stream, or resumes any stream with `Last-Event-ID`.
    async fn get(&self, parts: Parts) -> Result<Response<Body>, Rejection> {
        if !accepts(&parts.headers, &mime::TEXT_EVENT_STREAM) {
            return Err(Rejection::NotAcceptableGet);
        }
        let owner = self.authenticate(&parts).await?;
        let session = self.session(&parts, &owner).await?;
        let init = session.state.protocol_version.primes_streams();
        let (stream, from, exclusive) = match parts.headers.get(LAST_EVENT_ID) {
            None => (StreamId::STANDALONE, Resume::Undelivered, true),
            Some(value) => {
                let id: EventId =
                    value.to_str().ok().and_then(|text| text.parse().ok()).ok_or(Rejection::MalformedLastEventId)?;
                (id.stream(), Resume::After(id), false)
            }
        };
        let options = SubscribeOptions { init, exclusive };
        match self.state.sessions.subscribe(session.id, stream, from, options).await {
            Ok(subscription) => {
                self.state.tell_attached(session.id, stream).await;
                Ok(reply::sse(ResponseStream::Session(subscription), self.retry_ms()))
            }
            Err(SubscribeError::Busy) => Err(Rejection::StandaloneStreamBusy),
            Err(SubscribeError::Replay(ReplayError::UnknownSession)) => Err(Rejection::SessionNotFound),
            Err(SubscribeError::Replay(ReplayError::UnknownStream(_))) => Err(Rejection::ResumeUnknownStream),
            Err(SubscribeError::Replay(ReplayError::Unavailable(_))) => Err(Rejection::StoreUnavailable),
            Err(SubscribeError::Replay(_)) => Err(Rejection::ResumeAhead),
        }
    }

    /// DELETE: ends the session.
    async fn delete(&self, parts: Parts) -> Result<Response<Body>, Rejection> {
        let owner = self.authenticate(&parts).await?;
        let session = self.session(&parts, &owner).await?;
        self.state.end_session(session.id).await?;
        trace::session_deleted(session.id);
        Ok(reply::status(StatusCode::OK))
    }

    pub(crate) fn retry_ms(&self) -> u64 {
        u64::try_from(self.state.config.retry.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Validates `MCP-Protocol-Version` on a request of the session era: any revision with
/// sessions is accepted on any request of any session (clients send older ones on newer
/// sessions); anything else is refused with 400. (Requests of the sessionless era are told
/// apart before this, by their body: see [`super::era`].)
pub(crate) fn protocol_header(headers: &HeaderMap) -> Result<Option<ProtocolVersion>, Rejection> {
    let Some(value) = headers.get(MCP_PROTOCOL_VERSION) else { return Ok(None) };
    value
        .to_str()
        .ok()
        .and_then(|text| text.parse::<ProtocolVersion>().ok())
        .filter(|version| version.has_sessions())
        .map(Some)
        .ok_or(Rejection::UnsupportedProtocolVersion)
}

/// Takes back the watches a lookup indexed unless it is disarmed.
struct Unindex<'a, S: Store<McpSession>> {
    state: &'a EngineState<S>,
    id: SessionId,
    added: Vec<std::sync::Arc<str>>,
    armed: bool,
}

impl<S: Store<McpSession>> Unindex<'_, S> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl<S: Store<McpSession>> Drop for Unindex<'_, S> {
    fn drop(&mut self) {
        if self.armed {
            self.state.unindex(self.id, &self.added);
        }
    }
}
