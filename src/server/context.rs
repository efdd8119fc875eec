//! What a handler can do while it answers: report progress, log, ask the client, notice
//! cancellation.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::future::{select, Either};
use futures_util::SinkExt;
use serde_json::{json, Value};

use super::input::Round;
use super::outlet::Outlet;
use super::state::ClientCapabilities;
use crate::bridge::ChangeEvent;
use crate::clients::Cancellation;
use crate::coop;
use crate::jsonrpc::{self, ErrorObject, Id};
use crate::model::{LogLevel, ProtocolVersion};
use crate::session::{Owner, SessionId, StreamError};
use crate::sessions::{PublishError, Subscription};
use crate::stream::StreamId;

/// The handle a handler gets for the request it is answering. Cheap to clone.
///
/// Everything sent through it travels on **this request's** response stream (upgrading a reply
/// that would have been plain JSON to SSE), gets an event id, and lands in the replay log
/// before it is sent, so a client that loses the connection resumes without losing any of it.
///
/// A tool that reports progress when the client asked for it, logs, and stops when cancelled:
///
/// ```
/// use mcp_session::model::{CallToolResult, LogLevel, Tool};
/// use mcp_session::{RequestContext, Server};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Count {
///     /// How far to count (3 when absent).
///     n: Option<u64>,
/// }
///
/// let server = Server::builder("demo", "1.0.0")
///     .typed_tool(Tool::new("count", "Counts to n"), |args: Count, ctx: RequestContext| async move {
///         let n = args.n.unwrap_or(3);
///         for i in 1..=n {
///             if ctx.is_cancelled() {
///                 return Ok(CallToolResult::text(format!("stopped at {i}")));
///             }
///             if ctx.wants_progress() {
///                 // Fails only if the client can no longer be reached; the count goes on anyway.
///                 let _ = ctx.progress(i as f64, Some(n as f64), None).await;
///             }
///         }
///         let _ = ctx.log(LogLevel::Info, Some("count"), serde_json::json!({ "counted": n })).await;
///         Ok(CallToolResult::text(format!("counted to {n}")))
///     })
///     .build();
/// assert_eq!(server.tools().count(), 1);
/// ```
#[derive(Clone)]
pub struct RequestContext {
    pub(crate) call: Rc<Call>,
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("session", &self.call.identity.session)
            .field("request_id", &self.call.identity.request_id)
            .finish_non_exhaustive()
    }
}

/// Who is asking, in what session, under which settings.
#[derive(Clone, Debug)]
pub(crate) struct CallIdentity {
    pub(crate) session: Option<SessionId>,
    pub(crate) owner: Owner,
    pub(crate) request_id: Id,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) client: ClientCapabilities,
    pub(crate) log_level: Option<LogLevel>,
}

pub(crate) struct Call {
    pub(crate) outlet: Arc<dyn Outlet>,
    pub(crate) identity: CallIdentity,
    pub(crate) progress_token: Option<Value>,
    pub(crate) cancellation: Arc<Cancellation>,
    pub(crate) slot: Rc<StreamSlot>,
    /// On a sessionless request that may ask for input: the round it runs in.
    pub(crate) round: Option<Rc<Round>>,
    /// On a sessionless request: the client's `clientInfo`, if it sent one.
    pub(crate) client_info: Option<Value>,
}

/// The response stream of one POST (shared by the requests of a batch), opened on first use.
pub(crate) struct StreamSlot {
    session: Option<SessionId>,
    prime: bool,
    opened: async_lock::OnceCell<Opened>,
    /// The subscriber end, waiting for the HTTP response to take it.
    response: RefCell<Option<ResponseStream>>,
    /// Requests of the POST not yet answered; the stream finishes when this reaches zero.
    outstanding: Cell<usize>,
    /// Woken when the stream opens (a JSON-mode reply waiting to learn whether to upgrade).
    on_open: RefCell<Option<Waker>>,
    /// The client hung up on a JSON-mode reply: nothing sent any more can reach it.
    abandoned: Cell<bool>,
    /// Emits are spread over executor turns (see [`coop`]).
    budget: coop::Budget,
    /// Cancelled when the reader of a stream nobody can resume goes away.
    cancel_on_close: RefCell<Vec<Arc<Cancellation>>>,
    /// The ids of the requests whose responses the stream carries (see
    /// [`Store::open_stream_answering`](crate::Store::open_stream_answering)).
    answers: Vec<Id>,
}

enum Opened {
    Session(StreamId),
    Local(mpsc::Sender<LocalFrame>),
}

/// The subscriber end of a response stream.
pub(crate) enum ResponseStream {
    /// A resumable stream of the session.
    Session(Subscription),
    /// A stream without a session: no ids, nothing to resume.
    Local(LocalStream),
}

/// One frame of a stream without a session.
#[derive(Clone, Debug)]
pub(crate) enum LocalFrame {
    /// A JSON-RPC message.
    Message(Bytes),
    /// A keep-alive comment line.
    KeepAlive,
}

/// The reading end of a stream without a session. Nobody can resume it, so when its reader
/// goes (the client closed the connection), the requests it answers are cancelled: the
/// 2026-07-28 rule that a closed response stream cancels its request, applied to every stream
/// that cannot be resumed.
pub(crate) struct LocalStream {
    pub(crate) frames: mpsc::Receiver<LocalFrame>,
    on_close: Vec<Arc<Cancellation>>,
    /// A listen stream's place among the listeners, given up with the stream.
    _listening: Option<crate::listen::Registration>,
}

impl LocalStream {
    /// A stream reading `frames`, cancelling `on_close` when dropped.
    pub(crate) fn new(frames: mpsc::Receiver<LocalFrame>, on_close: Vec<Arc<Cancellation>>) -> Self {
        Self { frames, on_close, _listening: None }
    }

    /// A listen stream, unregistered when dropped.
    pub(crate) fn listening(frames: mpsc::Receiver<LocalFrame>, registration: crate::listen::Registration) -> Self {
        Self { frames, on_close: Vec::new(), _listening: Some(registration) }
    }
}

impl Drop for LocalStream {
    fn drop(&mut self) {
        for cancellation in &self.on_close {
            cancellation.cancel(false);
        }
    }
}

impl StreamSlot {
    pub(crate) fn new(session: Option<SessionId>, prime: bool, requests: usize) -> Self {
        Self {
            session,
            prime,
            opened: async_lock::OnceCell::new(),
            response: RefCell::new(None),
            outstanding: Cell::new(requests),
            on_open: RefCell::new(None),
            abandoned: Cell::new(false),
            budget: coop::Budget::default(),
            cancel_on_close: RefCell::new(Vec::new()),
            answers: Vec::new(),
        }
    }

    /// The stream carries the responses to `requests`.
    pub(crate) fn answering(mut self, requests: Vec<Id>) -> Self {
        self.answers = requests;
        self
    }

    /// Requests to cancel if this stream cannot be resumed and its reader goes away.
    pub(crate) fn cancel_on_close(&self, cancellations: impl IntoIterator<Item = Arc<Cancellation>>) {
        self.cancel_on_close.borrow_mut().extend(cancellations);
    }

    /// The client went away before a JSON-mode reply was chosen: from now on sending fails at
    /// once instead of opening a stream nobody will read.
    pub(crate) fn abandon(&self) {
        self.abandoned.set(true);
        // The reader nobody will take: dropping it wakes a handler already waiting for room.
        drop(self.response.borrow_mut().take());
    }

    pub(crate) fn is_open(&self) -> bool {
        self.opened.is_initialized()
    }

    pub(crate) fn wake_on_open(&self, waker: &Waker) {
        *self.on_open.borrow_mut() = Some(waker.clone());
    }

    /// Opens the stream if nobody has yet.
    pub(crate) async fn open(&self, outlet: &dyn Outlet) -> Result<(), StreamError> {
        let result = self
            .opened
            .get_or_try_init(|| async {
                match self.session {
                    Some(session) => {
                        let subscription = outlet.open_stream(session, self.prime, &self.answers).await?;
                        let stream = subscription.stream();
                        *self.response.borrow_mut() = Some(ResponseStream::Session(subscription));
                        Ok(Opened::Session(stream))
                    }
                    None => {
                        let (tx, rx) = mpsc::channel(outlet.window());
                        let on_close = self.cancel_on_close.borrow_mut().drain(..).collect();
                        *self.response.borrow_mut() = Some(ResponseStream::Local(LocalStream::new(rx, on_close)));
                        Ok(Opened::Local(tx))
                    }
                }
            })
            .await
            .map(drop);
        if let Some(waker) = self.on_open.borrow_mut().take() {
            waker.wake();
        }
        result
    }

    /// The subscriber end, for the HTTP response (once).
    pub(crate) fn take_response(&self) -> Option<ResponseStream> {
        self.response.borrow_mut().take()
    }

    fn stream(&self) -> Option<StreamId> {
        match self.opened.get()? {
            Opened::Session(stream) => Some(*stream),
            Opened::Local(_) => None,
        }
    }

    /// Sends one message on the stream, opening it if needed; waits while the client is behind.
    pub(crate) async fn emit(&self, outlet: &dyn Outlet, payload: Bytes) -> Result<(), PublishError> {
        if self.abandoned.get() {
            return Err(PublishError::Disconnected);
        }
        // A handler emitting a burst gives its thread back now and then.
        self.budget.spend().await;
        self.open(outlet).await?;
        match (self.opened.get().expect("opened above"), self.session) {
            (Opened::Session(stream), Some(session)) => outlet.send(session, *stream, payload).await,
            (Opened::Local(tx), _) => {
                // A client that hung up cannot resume anyway; its request is cancelled.
                tx.clone().send(LocalFrame::Message(payload)).await.map_err(|_| PublishError::Disconnected)
            }
            (Opened::Session(_), None) => unreachable!("session streams exist only with a session"),
        }
    }

    /// One request of the POST is answered; the last one finishes the stream.
    pub(crate) async fn answered(&self, outlet: &dyn Outlet) {
        let left = self.outstanding.get().saturating_sub(1);
        self.outstanding.set(left);
        if left > 0 {
            return;
        }
        match (self.opened.get(), self.session) {
            (Some(Opened::Session(stream)), Some(session)) => outlet.finish(session, *stream).await,
            (Some(Opened::Local(tx)), _) => tx.clone().close_channel(),
            _ => {}
        }
    }
}

/// A whole number as a JSON integer (`50`, not `50.0`), anything else as a float.
fn number(value: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact in f64
    if value.fract() == 0.0 && value.abs() < EXACT {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// Why a request to the client produced no result.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientRequestError {
    /// The client did not declare the capability this request needs.
    #[error("the client does not support {0}")]
    Unsupported(&'static str),
    /// A stateless server has no session to route the client's answer through, and this
    /// request cannot end in an input-required result either.
    #[error(
        "requests to the client need a session, or an input-required result (tools/call, prompts/get, resources/read)"
    )]
    NoSession,
    /// On a request of the sessionless era (2026-07-28): the client's answer is not known yet.
    /// The request ends with an input-required result asking for it, and the client retries
    /// with the answer, which this same call then returns. Pass the error on (`?`).
    #[error("the client's input is required: the request ends asking for it")]
    InputRequired,
    /// The client answered with an error.
    #[error("the client answered with an error: {0}")]
    Client(ErrorObject),
    /// The request being handled was cancelled, or its session ended, before the answer came.
    #[error("cancelled before the client answered")]
    Cancelled,
    /// The request could not be sent.
    #[error(transparent)]
    Send(#[from] PublishError),
}

impl From<ClientRequestError> for ErrorObject {
    fn from(error: ClientRequestError) -> Self {
        match error {
            ClientRequestError::Client(error) => error,
            ClientRequestError::Unsupported(capability) => {
                ErrorObject::new(crate::jsonrpc::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY, error.to_string())
                    .with_data(json!({ "requiredCapabilities": { capability: {} } }))
            }
            other => ErrorObject::internal(other.to_string()),
        }
    }
}

/// An input the handler asks the client for under a key it chooses (see
/// [`RequestContext::input`]).
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    ctx: &'a RequestContext,
    key: &'a str,
}

impl Input<'_> {
    /// `sampling/createMessage` under this key.
    pub async fn create_message(self, params: Value) -> Result<Value, ClientRequestError> {
        self.ctx.ask(Some(self.key), "sampling/createMessage", params).await
    }

    /// `elicitation/create` under this key.
    pub async fn elicit(self, params: Value) -> Result<Value, ClientRequestError> {
        self.ctx.ask(Some(self.key), "elicitation/create", params).await
    }

    /// `roots/list` under this key.
    pub async fn list_roots(self) -> Result<Value, ClientRequestError> {
        self.ctx.ask(Some(self.key), "roots/list", json!({})).await
    }
}

impl RequestContext {
    fn outlet(&self) -> &dyn Outlet {
        &*self.call.outlet
    }

    /// The session the request belongs to (`None` on a stateless server).
    pub fn session_id(&self) -> Option<SessionId> {
        self.call.identity.session
    }

    /// Who made the request.
    pub fn owner(&self) -> &Owner {
        &self.call.identity.owner
    }

    /// The request's JSON-RPC id.
    pub fn request_id(&self) -> &Id {
        &self.call.identity.request_id
    }

    /// The protocol revision the session negotiated.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.call.identity.protocol
    }

    /// What the client can do: as declared in `initialize` on a session, as declared by this
    /// very request in the sessionless era (nothing is inferred from earlier requests).
    pub fn client_capabilities(&self) -> ClientCapabilities {
        self.call.identity.client
    }

    /// The client's `clientInfo` (name, version) as this request of the sessionless era sent
    /// it; `None` on a session and when the client sent none. For display only.
    pub fn client_info(&self) -> Option<&Value> {
        self.call.client_info.as_ref()
    }

    /// Whether the client asked for progress (sent a `progressToken`).
    pub fn wants_progress(&self) -> bool {
        self.call.progress_token.is_some()
    }

    /// Sends `notifications/progress` if the client asked for progress; otherwise does nothing.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> Result<(), PublishError> {
        let Some(token) = &self.call.progress_token else { return Ok(()) };
        let mut params = json!({ "progressToken": token, "progress": number(progress) });
        if let Some(total) = total {
            params["total"] = number(total);
        }
        if let Some(message) = message {
            params["message"] = json!(message);
        }
        self.notify("notifications/progress", params).await
    }

    /// Sends `notifications/message` at `level`, unless the session asked for less. On a
    /// request of the sessionless era, only if the request asked for logs at `level` or below
    /// (`_meta` `logLevel`).
    pub async fn log(&self, level: LogLevel, logger: Option<&str>, data: Value) -> Result<(), PublishError> {
        let identity = &self.call.identity;
        if !level.passes(identity.log_level) || (identity.protocol.is_sessionless() && identity.log_level.is_none()) {
            return Ok(());
        }
        let mut params = json!({ "level": level, "data": data });
        if let Some(logger) = logger {
            params["logger"] = json!(logger);
        }
        self.notify("notifications/message", params).await
    }

    /// Sends any notification on this request's stream.
    pub async fn notify(&self, method: &str, params: Value) -> Result<(), PublishError> {
        self.call.slot.emit(self.outlet(), jsonrpc::notification_message(method, &params)).await
    }

    /// Sends a notification on the session's standalone (GET) stream instead, for messages not
    /// about this request. Does nothing on a stateless server.
    pub async fn notify_session(&self, method: &str, params: Value) -> Result<(), PublishError> {
        let Some(session) = self.call.identity.session else { return Ok(()) };
        // A handler looping over this gives its thread back now and then, as with `notify`.
        self.call.slot.budget.spend().await;
        let payload = jsonrpc::notification_message(method, &params);
        self.outlet().publish(session, StreamId::STANDALONE, payload).await
    }

    /// Sends a request to the client on this request's stream and waits for its answer.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, ClientRequestError> {
        let session = self.call.identity.session.ok_or(ClientRequestError::NoSession)?;
        let clients = self.outlet().clients();
        let id = clients.next_id();
        let answer = clients.expect(session, id.clone());
        // Forget the expectation however this future ends (answered, cancelled, dropped).
        struct Forget<'a>(&'a crate::clients::ClientRequests, SessionId, &'a Id);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.forget(self.1, self.2);
            }
        }
        let _forget = Forget(clients, session, &id);
        self.call.slot.emit(self.outlet(), jsonrpc::request_message(&id, method, &params)).await?;
        let cancelled = Box::pin(self.call.cancellation.cancelled());
        match select(answer, cancelled).await {
            Either::Left((Ok(Ok(result)), _)) => Ok(result),
            Either::Left((Ok(Err(error)), _)) => Err(ClientRequestError::Client(error)),
            Either::Left((Err(_), _)) | Either::Right(_) => Err(ClientRequestError::Cancelled),
        }
    }

    /// `sampling/createMessage`: asks the client's model for a completion.
    ///
    /// On a session, a request to the client on this request's stream, whose answer this
    /// awaits. On a request of the sessionless era, an input of an input-required round
    /// under a key of its own (see [`RequestContext::input`]): pass its
    /// [`ClientRequestError::InputRequired`] on with `?`, and the same line gets the answer
    /// when the client retries.
    pub async fn create_message(&self, params: Value) -> Result<Value, ClientRequestError> {
        self.ask(None, "sampling/createMessage", params).await
    }

    /// `elicitation/create`: asks the user for input (in either era, as
    /// [`RequestContext::create_message`] explains).
    pub async fn elicit(&self, params: Value) -> Result<Value, ClientRequestError> {
        self.ask(None, "elicitation/create", params).await
    }

    /// `roots/list`: asks the client for its roots (in either era, as
    /// [`RequestContext::create_message`] explains).
    pub async fn list_roots(&self) -> Result<Value, ClientRequestError> {
        self.ask(None, "roots/list", json!({})).await
    }

    /// An input under `key`: the key of the ask in an input-required result, and of the answer
    /// in the client's retry (keys are unique per request). Without one, asks get a key from
    /// their method and order (`createMessage-1`, `create-2`, `list-3`). On a session the key
    /// plays no part.
    pub fn input<'a>(&'a self, key: &'a str) -> Input<'a> {
        Input { ctx: self, key }
    }

    /// The state this handler set for the next round ([`RequestContext::set_request_state`]),
    /// as the client echoed it, verified. `None` on a first round and on a session.
    pub fn request_state(&self) -> Option<&str> {
        self.call.round.as_ref()?.state()
    }

    /// Carries `state` to the next round of an input-required request, sealed (the client can
    /// read it but not change it). Does nothing on a session, or when no input is asked for.
    pub fn set_request_state(&self, state: impl Into<String>) {
        if let Some(round) = &self.call.round {
            round.set_state(state.into());
        }
    }

    async fn ask(&self, key: Option<&str>, method: &str, params: Value) -> Result<Value, ClientRequestError> {
        let client = self.call.identity.client;
        let (declared, capability) = match method {
            "sampling/createMessage" => (client.sampling, "sampling"),
            "elicitation/create" => (client.elicitation, "elicitation"),
            _ => (client.roots, "roots"),
        };
        if !declared {
            return Err(ClientRequestError::Unsupported(capability));
        }
        if let Some(round) = &self.call.round {
            let auto;
            let key = match key {
                Some(key) => key,
                None => {
                    auto = round.auto_key(method);
                    &auto
                }
            };
            return round.answer_or_ask(key, method, params).ok_or(ClientRequestError::InputRequired);
        }
        self.request(method, params).await
    }

    /// Whether the client cancelled this request (`notifications/cancelled`) or its session
    /// ended. A cancelled request's result is not sent.
    pub fn is_cancelled(&self) -> bool {
        self.call.cancellation.is_cancelled()
    }

    /// Completes when the request is cancelled.
    pub async fn cancelled(&self) {
        self.call.cancellation.cancelled().await
    }

    /// Closes this request's SSE connection after its priming event, keeping the stream: the
    /// client reconnects with `Last-Event-ID` and receives the rest, the result included
    /// (SEP-1699 polling, for sessions at 2025-11-25 or later; a no-op before, where clients
    /// would not come back).
    pub async fn close_stream(&self) -> Result<(), StreamError> {
        let Some(session) = self.call.identity.session else { return Ok(()) };
        if !self.call.identity.protocol.primes_streams() || self.call.slot.abandoned.get() {
            return Ok(());
        }
        self.call.slot.open(self.outlet()).await?;
        if let Some(stream) = self.call.slot.stream() {
            self.outlet().disconnect(session, stream);
        }
        Ok(())
    }

    /// Tells the other sessions of this tenant that data changed (the change-event bridge).
    /// Returns how many sessions were told.
    pub async fn publish_change(&self, event: ChangeEvent) -> usize {
        self.outlet().forward_change(event, self.call.identity.session).await
    }

    /// Announces a change to every client that should hear of it, in both eras (see
    /// [`EngineState::announce`](crate::EngineState::announce)).
    pub async fn announce(&self, change: crate::Change) -> usize {
        self.outlet().announce(change).await
    }

    /// Sends `notifications/resources/updated` to every session subscribed to `uri`.
    pub async fn notify_resource_updated(&self, uri: &str) -> usize {
        self.outlet().notify_resource_updated(uri.to_owned()).await
    }
}
