//! POST: initialize, requests (answered as JSON or SSE), notifications and client responses of
//! the session era; and the answering of requests that both eras share (see [`super::sessionless`]
//! for the sessionless era's own rungs).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::future::ready;
use futures_util::FutureExt;
use http::request::Parts;
use http::{Response, StatusCode};
use serde_json::value::RawValue;
use serde_json::Value;

use super::body::Body;
use super::config::ResponseMode;
use super::engine::{protocol_header, Engine, Session};
use super::era::{self, Era};
use super::headers::{accepts, is_json, MCP_SESSION_ID};
use super::rejection::Rejection;
use super::reply;
use super::sessionless::Completion;
use super::trace;
use crate::bus::Control;
use crate::clients::{Cancellation, Running, StartError};
use crate::jsonrpc::{self, BadMember, ErrorCode, ErrorObject, Id, Incoming};
use crate::metrics::SessionRefusal;
use crate::model::ProtocolVersion;
use crate::server::{
    dispatch, Call, CallIdentity, ClientCapabilities, ClientNotification, HandlerFuture, McpSession, Negotiated, Reply,
    RequestContext, RequestMeta, Round, Server, StreamSlot,
};
use crate::session::{CreateError, Owner, SessionId, Store, StreamError};
use crate::sessions::SessionHold;

/// One request of a POST, dispatched and not yet answered.
pub(super) struct Pending {
    /// `None` only for a batch member whose id could not be read (answered with `id: null`).
    pub(super) id: Option<Id>,
    pub(super) reply: HandlerFuture,
    /// The request's registration in its session; dropping it (answered, or the future dropped
    /// with its connection) ends the registration.
    pub(super) running: Option<Running>,
    /// Keeps the session from going idle while the request runs.
    pub(super) _hold: Option<SessionHold>,
    /// A request of the sessionless era: how its result is completed.
    pub(super) sessionless: Option<Completion>,
}

impl Pending {
    /// A request answered with `error` without running anything.
    fn refused(id: Option<Id>, error: ErrorObject) -> Self {
        Self { id, reply: ready(Err(error)).boxed_local(), running: None, _hold: None, sessionless: None }
    }

    fn cancellation(&self) -> Option<&Arc<Cancellation>> {
        self.running.as_ref().map(Running::cancellation).or(self.sessionless.as_ref().map(|s| &s.cancellation))
    }

    fn is_cancelled_by_client(&self) -> bool {
        self.running.as_ref().is_some_and(|r| r.cancellation().is_cancelled_by_client())
    }
}

/// A message of a POST that asks for an answer.
enum Ask<'a> {
    Request { id: Id, method: std::borrow::Cow<'a, str>, params: Option<&'a RawValue> },
    Bad(BadMember),
}

/// How far the choice between a JSON and an SSE reply has come.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Choice {
    Undecided,
    Json,
    Sse,
}

/// The answers of a POST's requests, gathered until the reply's form is chosen.
struct Gate {
    choice: Cell<Choice>,
    /// Per request: `None` while running, `Some(None)` when answered with nothing to send
    /// (cancelled), `Some(Some(message))` when answered.
    answers: RefCell<Vec<Option<Option<Bytes>>>>,
    /// The HTTP status of a JSON reply (a sessionless request's error may change it).
    status: Cell<StatusCode>,
    waker: RefCell<Option<Waker>>,
}

impl Gate {
    fn settle(&self, index: usize, (message, status): Concluded) {
        self.answers.borrow_mut()[index] = Some(message);
        if status != StatusCode::OK {
            self.status.set(status);
        }
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    fn all_answered(&self) -> bool {
        self.answers.borrow().iter().all(Option::is_some)
    }
}

impl<S: Store<McpSession> + 'static> Engine<S> {
    pub(crate) async fn post(&self, parts: Parts, body: Bytes) -> Result<Response<Body>, Rejection> {
        if !is_json(&parts.headers) {
            return Err(Rejection::UnsupportedMediaType);
        }
        if !(accepts(&parts.headers, &mime::APPLICATION_JSON) && accepts(&parts.headers, &mime::TEXT_EVENT_STREAM)) {
            return Err(Rejection::NotAcceptablePost);
        }
        if body.len() > self.max_body_bytes() {
            return Err(Rejection::PayloadTooLarge);
        }
        let owner = self.authenticate(&parts).await?;
        let (members, batch) = match jsonrpc::parse_body(&body) {
            Ok(jsonrpc::Body::Single(message)) => (vec![Ok(message)], false),
            Ok(jsonrpc::Body::Batch(members)) => (members, true),
            Err(error) => return Ok(reply::error(StatusCode::BAD_REQUEST, None, &error.into_error_object())),
        };
        if members.len() > self.state.config.max_batch {
            return Err(Rejection::BatchTooLong);
        }
        let mut members = members;
        match era::classify(&parts.headers, &mut members, batch) {
            Err(refused) => return Ok(refused.into_response()),
            Ok(Era::Dropped) => return Ok(reply::status(StatusCode::ACCEPTED)),
            Ok(Era::Sessionless(request)) => {
                trace::sessionless_era();
                trace::rpc(&request.method, &request.id);
                return self.sessionless(&parts, owner, request).await;
            }
            Ok(Era::Sessions) => trace::session_era(None),
        }
        if let [Ok(Incoming::Request { id, method, .. })] = &members[..] {
            trace::rpc(method, id);
        }
        protocol_header(&parts.headers)?;
        let is_initialize =
            |m: &Result<Incoming<'_>, _>| matches!(m, Ok(Incoming::Request { method, .. }) if method == "initialize");
        if members.iter().any(is_initialize) {
            let Some(Ok(Incoming::Request { id, params, .. })) = members.into_iter().next().filter(|_| !batch) else {
                return Err(Rejection::InitializeInBatch);
            };
            return self.initialize(&parts, owner, id, params).await;
        }
        let session = if self.state.config.stateless { None } else { Some(self.session(&parts, &owner).await?) };
        let identity = match &session {
            Some(session) => Identity {
                session: Some(session.id),
                protocol: session.state.protocol_version,
                client: session.state.client,
                log_level: session.state.log_level,
                client_info: None,
            },
            None => Identity::stateless(&parts),
        };
        if batch && !identity.protocol.allows_batches() {
            return Err(Rejection::BatchNotAllowed);
        }
        let mut asks = Vec::new();
        for member in members {
            match member {
                Ok(Incoming::Request { id, method, params }) => asks.push(Ask::Request { id, method, params }),
                Ok(Incoming::Notification { method, params }) => {
                    self.notification(session.as_ref(), &method, params).await
                }
                Ok(Incoming::Response { id, outcome }) => {
                    if let Some(session) = &session {
                        if let Err((id, outcome)) = self.state.clients.resolve(session.id, id, outcome) {
                            // Nobody waits for it here: maybe on another replica (else it is
                            // dropped there, the handler gave up). Accepted once it is on its way.
                            let answer = Control::Answer { session: session.id, id, outcome };
                            self.state.bus.send(answer).await?;
                        }
                    }
                }
                Err(bad) => asks.push(Ask::Bad(bad)),
            }
        }
        if asks.is_empty() {
            return Ok(reply::status(StatusCode::ACCEPTED));
        }
        if let Some(session) = identity.session {
            let requests = asks.iter().filter(|a| matches!(a, Ask::Request { .. })).count();
            if self.state.clients.running(session) + requests > self.state.config.max_calls_per_session {
                return Err(Rejection::CallLimit);
            }
        }
        // Only session streams are primed: a stateless stream has nothing to resume.
        let prime = identity.session.is_some() && identity.protocol.primes_streams();
        let answers = asks.iter().filter_map(|ask| match ask {
            Ask::Request { id, .. } => Some(id.clone()),
            Ask::Bad(_) => None,
        });
        let slot = Rc::new(StreamSlot::new(identity.session, prime, asks.len()).answering(answers.collect()));
        let pending: Vec<Pending> = asks.into_iter().map(|ask| self.start(ask, &identity, &owner, &slot)).collect();
        if let Some(session) = &session {
            // A DELETE or an expiry between the lookup and the registration above would leave
            // these requests registered in an ended session, where no cancellation reaches them.
            // (Dropping `pending` unregisters them.)
            if !self.state.sessions.survived(session.id, session.removals).await? {
                return Err(Rejection::SessionNotFound);
            }
        }
        self.answer(pending, slot, batch).await
    }

    /// Registers a request in its session and sets its handler going (not yet polled); a bad
    /// message or a duplicate id is answered with an error of its own.
    fn start(&self, ask: Ask<'_>, identity: &Identity, owner: &Owner, slot: &Rc<StreamSlot>) -> Pending {
        let (id, method, params) = match ask {
            Ask::Bad(bad) => return Pending::refused(bad.id, bad.error.into_error_object()),
            Ask::Request { id, method, params } => (id, method, params),
        };
        let (running, hold) = match identity.session {
            None => (None, None),
            Some(session) => {
                let limit = self.state.config.max_calls_per_session;
                match Running::start(&self.state.clients, session, id.clone(), limit) {
                    Ok(running) => (Some(running), Some(self.state.sessions.hold(session))),
                    Err(StartError::Duplicate) => {
                        let error = ErrorObject::new(
                            ErrorCode::INVALID_REQUEST,
                            format!("Invalid Request: request id {id} is already in use by a request still running"),
                        );
                        return Pending::refused(Some(id), error);
                    }
                    Err(StartError::TooMany) => {
                        // Another POST of the session started requests since the check above.
                        let error = ErrorObject::new(
                            ErrorCode::INVALID_REQUEST,
                            format!("Too many requests running in this session (limit {limit})"),
                        );
                        return Pending::refused(Some(id), error);
                    }
                }
            }
        };
        let cancellation = running.as_ref().map_or_else(Arc::default, |r| r.cancellation().clone());
        let progress_token = RequestMeta::read(params).progress_token();
        let ctx = self.context(identity, owner, &id, slot, Run { progress_token, cancellation, round: None });
        let reply = dispatch(&self.server, ctx, &method, params);
        Pending { id: Some(id), reply, running, _hold: hold, sessionless: None }
    }

    pub(super) fn context(
        &self,
        identity: &Identity,
        owner: &Owner,
        id: &Id,
        slot: &Rc<StreamSlot>,
        run: Run,
    ) -> RequestContext {
        RequestContext {
            call: Rc::new(Call {
                outlet: self.state.clone(),
                identity: CallIdentity {
                    session: identity.session,
                    owner: owner.clone(),
                    request_id: id.clone(),
                    protocol: identity.protocol,
                    client: identity.client,
                    log_level: identity.log_level,
                },
                progress_token: run.progress_token,
                cancellation: run.cancellation,
                slot: slot.clone(),
                round: run.round,
                client_info: identity.client_info.clone(),
            }),
        }
    }

    async fn notification(&self, session: Option<&Session>, method: &str, params: Option<&RawValue>) {
        let Some(session) = session else { return };
        match ClientNotification::parse(method, params) {
            ClientNotification::Initialized => {
                let _ = self.state.sessions.update(session.id, |state| state.initialized = true).await;
            }
            ClientNotification::Cancelled(request) => {
                if !self.state.clients.cancel(session.id, request.clone()) {
                    // Not running here: maybe on another replica. Cancellation is advisory, and
                    // a notification has no answer to fail.
                    let cancel = Control::Cancel { session: session.id, id: request };
                    if self.state.bus.send(cancel).await.is_err() {
                        tracing::warn!(target: "mcp_session::bus", session = %session.id, "bus unavailable: cancellation not forwarded");
                    }
                }
            }
            ClientNotification::Ignored => {}
        }
    }

    async fn initialize(
        &self,
        parts: &Parts,
        owner: Owner,
        id: Id,
        params: Option<&RawValue>,
    ) -> Result<Response<Body>, Rejection> {
        let stateless = self.state.config.stateless;
        if !stateless && parts.headers.contains_key(MCP_SESSION_ID) {
            return Err(Rejection::InitializeWithSession);
        }
        let Negotiated { version, client, result } = match self.server.initialize(params) {
            Ok(negotiated) => negotiated,
            Err(error) => return Ok(reply::error(StatusCode::BAD_REQUEST, Some(&id), &error)),
        };
        let session = if stateless {
            None
        } else {
            match self.state.sessions.create(owner.clone(), McpSession::new(version, client)).await {
                Ok(session) => {
                    trace::session_created(session, &owner);
                    Some(session)
                }
                Err(error) => {
                    let refused = match error {
                        CreateError::TooManySessions { .. } => {
                            Some((SessionRefusal::SessionLimit, Rejection::SessionLimit))
                        }
                        CreateError::TooManySessionsForTenant { .. } => {
                            Some((SessionRefusal::TenantSessionLimit, Rejection::TenantSessionLimit))
                        }
                        CreateError::Unavailable(_) => {
                            Some((SessionRefusal::StoreUnavailable, Rejection::StoreUnavailable))
                        }
                        _ => None,
                    };
                    if let Some((reason, rejection)) = refused {
                        self.state.front.refusals.session_refused(reason);
                        trace::session_refused(reason, &owner);
                        return Err(rejection);
                    }
                    let error = ErrorObject::internal(error.to_string());
                    return Ok(reply::error(StatusCode::INTERNAL_SERVER_ERROR, Some(&id), &error));
                }
            }
        };
        let result = Reply::json(&result);
        let reply = ready(result).boxed_local();
        let pending = vec![Pending { id: Some(id), reply, running: None, _hold: None, sessionless: None }];
        let slot = Rc::new(StreamSlot::new(session, version.primes_streams(), 1));
        let response = self.answer(pending, slot, false).await?;
        Ok(match session {
            Some(session) => reply::with_session(response, session),
            None => response,
        })
    }

    /// Runs a POST's requests and answers them in the form [`ResponseMode`] asks for.
    pub(super) async fn answer(
        &self,
        pending: Vec<Pending>,
        slot: Rc<StreamSlot>,
        batch: bool,
    ) -> Result<Response<Body>, Rejection> {
        let mode = self.state.config.response_mode;
        let gate = Rc::new(Gate {
            choice: Cell::new(Choice::Undecided),
            answers: RefCell::new(vec![None; pending.len()]),
            status: Cell::new(StatusCode::OK),
            waker: RefCell::new(None),
        });
        let sessionless = pending.iter().any(|call| call.sessionless.is_some());
        // Poll every handler once, in this task: what answers at once costs no task and no stream.
        let mut running = Vec::new();
        for (index, mut call) in pending.into_iter().enumerate() {
            match futures_util::poll!(&mut call.reply) {
                Poll::Ready(outcome) => gate.settle(index, conclude(&self.server, call, outcome)),
                Poll::Pending => running.push((index, call)),
            }
        }
        let answered_at_once = running.is_empty() && !slot.is_open();
        let choice = match mode {
            // A sessionless request refused at once keeps its HTTP status (a 400 for a missing
            // capability) even here: there is nothing to stream, and an error inside a 200 stream
            // would hide it.
            ResponseMode::Sse if sessionless && answered_at_once && gate.status.get() != StatusCode::OK => Choice::Json,
            ResponseMode::Sse => Choice::Sse,
            ResponseMode::Adaptive if answered_at_once => Choice::Json,
            // A stream opened early buys a session-era client something to resume. A sessionless
            // one cannot resume anything, so it waits like JSON mode: a late error keeps its
            // HTTP status, and the first message sent still upgrades the reply to SSE.
            ResponseMode::Adaptive if sessionless => Choice::Undecided,
            ResponseMode::Adaptive => Choice::Sse,
            ResponseMode::Json => Choice::Undecided,
        };
        gate.choice.set(choice);
        let cancellations: Vec<Arc<Cancellation>> =
            running.iter().filter_map(|(_, call)| call.cancellation().cloned()).collect();
        // Until a response is returned nobody holds anything to resume from: a client that hangs
        // up meanwhile (this future is dropped), or a stream refused below, cancels the requests,
        // and whatever their handlers send fails at once instead of waiting for a reader.
        let unanswered = Unanswered { slot: &slot, cancellations, armed: Cell::new(true) };
        // The handlers run on before the stream is opened: one of them may be opening it already
        // (its first message), and the open completes only if that handler is polled.
        for (index, call) in running {
            let (engine, gate, slot) = (self.clone(), gate.clone(), slot.clone());
            self.spawner.spawn(Box::pin(async move {
                let mut call = call;
                let outcome = (&mut call.reply).await;
                let concluded = conclude(&engine.server, call, outcome);
                if gate.choice.get() == Choice::Sse {
                    engine.deliver(&slot, concluded.0).await;
                } else {
                    gate.settle(index, concluded);
                }
            }));
        }
        if choice == Choice::Sse {
            if let Err(error) = slot.open(&*self.state).await {
                return Err(match error {
                    StreamError::TooManyStreams { .. } => Rejection::StreamLimit,
                    StreamError::Unavailable(_) => Rejection::StoreUnavailable,
                    _ => Rejection::SessionNotFound,
                });
            }
        }
        if gate.choice.get() == Choice::Undecided {
            // JSON mode: wait until every request is answered (JSON) or one opens a stream (SSE).
            let choice = poll_fn(|cx| {
                if slot.is_open() {
                    Poll::Ready(Choice::Sse)
                } else if gate.all_answered() {
                    Poll::Ready(Choice::Json)
                } else {
                    *gate.waker.borrow_mut() = Some(cx.waker().clone());
                    slot.wake_on_open(cx.waker());
                    Poll::Pending
                }
            })
            .await;
            gate.choice.set(choice);
        }
        unanswered.disarm();
        if gate.choice.get() == Choice::Json {
            return Ok(json_reply(&gate, batch));
        }
        let answered: Vec<Option<Bytes>> = gate.answers.borrow_mut().iter_mut().filter_map(Option::take).collect();
        if !answered.is_empty() {
            // Delivering may wait for the client to read, which needs the response returned first.
            let (engine, slot) = (self.clone(), slot.clone());
            self.spawner.spawn(Box::pin(async move {
                for message in answered {
                    engine.deliver(&slot, message).await;
                }
            }));
        }
        let stream = slot.take_response().expect("the slot was opened and nobody took its stream");
        Ok(reply::sse(stream, self.retry_ms()))
    }

    /// Sends one request's answer on the POST's stream; the last answer finishes the stream.
    async fn deliver(&self, slot: &StreamSlot, message: Option<Bytes>) {
        if let Some(message) = message {
            // A session ended mid-call has nowhere to put the answer.
            let _ = slot.emit(&*self.state, message).await;
        }
        slot.answered(&*self.state).await;
    }
}

/// A request's response message (none if the client cancelled it: the spec says a cancelled
/// request gets no response), and the HTTP status it asks for if it travels alone as JSON.
type Concluded = (Option<Bytes>, StatusCode);

/// Turns a handler's outcome into the response message, ending its registration.
fn conclude(server: &Server, call: Pending, outcome: Result<Reply, ErrorObject>) -> Concluded {
    if call.is_cancelled_by_client() {
        return (None, StatusCode::OK);
    }
    let outcome = match &call.sessionless {
        Some(completion) => completion.complete(server, outcome),
        None => outcome,
    };
    match outcome {
        Ok(result) => match &call.id {
            Some(id) => (Some(jsonrpc::result_message(id, result.as_bytes())), StatusCode::OK),
            // Only refusals lack an id, and refusals are errors.
            None => (
                Some(jsonrpc::error_message(None, &ErrorObject::internal("result without a request id"))),
                StatusCode::OK,
            ),
        },
        Err(error) => {
            // The sessionless era's request errors are HTTP errors too; the session era's travel
            // in a 200, as they always have.
            let status = match error.code {
                _ if call.sessionless.is_none() => StatusCode::OK,
                ErrorCode::INVALID_PARAMS | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY => StatusCode::BAD_REQUEST,
                ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
                _ => StatusCode::OK,
            };
            (Some(jsonrpc::error_message(call.id.as_ref(), &error)), status)
        }
    }
}

/// Cancels a POST's running requests if it ends without a response (see [`Engine::answer`]).
struct Unanswered<'a> {
    slot: &'a StreamSlot,
    cancellations: Vec<Arc<Cancellation>>,
    armed: Cell<bool>,
}

impl Unanswered<'_> {
    fn disarm(&self) {
        self.armed.set(false);
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if !self.armed.get() {
            return;
        }
        self.slot.abandon();
        for cancellation in &self.cancellations {
            cancellation.cancel(true);
        }
    }
}

/// The identity parts that come from the session (or, stateless, from the request).
pub(super) struct Identity {
    pub(super) session: Option<SessionId>,
    pub(super) protocol: ProtocolVersion,
    pub(super) client: ClientCapabilities,
    pub(super) log_level: Option<crate::model::LogLevel>,
    /// What a sessionless request's `_meta` says the client is.
    pub(super) client_info: Option<Value>,
}

/// What one run of a handler has of its own.
pub(super) struct Run {
    pub(super) progress_token: Option<Value>,
    pub(super) cancellation: Arc<Cancellation>,
    pub(super) round: Option<Rc<Round>>,
}

impl Identity {
    fn stateless(parts: &Parts) -> Self {
        let protocol =
            protocol_header(&parts.headers).ok().flatten().unwrap_or(ProtocolVersion::ASSUMED_WITHOUT_HEADER);
        Self { session: None, protocol, client: ClientCapabilities::default(), log_level: None, client_info: None }
    }
}

fn json_reply(gate: &Gate, batch: bool) -> Response<Body> {
    let answers = gate.answers.borrow();
    let mut messages = answers.iter().flatten().flatten();
    if !batch {
        return match messages.next() {
            Some(message) => reply::json(gate.status.get(), message.clone()),
            None => reply::status(StatusCode::ACCEPTED),
        };
    }
    let mut out = BytesMut::new();
    out.put_u8(b'[');
    for (i, message) in messages.enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(message);
    }
    out.put_u8(b']');
    if out.len() == 2 {
        return reply::status(StatusCode::ACCEPTED);
    }
    reply::json(StatusCode::OK, out.freeze())
}
