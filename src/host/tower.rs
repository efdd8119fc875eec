//! The engine as a [`tower_service::Service`], to mount in axum (or any tower stack) beside an
//! application's own routes and middleware.
//!
//! ```no_run
//! use mcp_session::host::tower::McpService;
//! use mcp_session::model::{CallToolResult, Tool};
//! use mcp_session::Server;
//!
//! fn server() -> Server {
//!     Server::builder("demo", "1.0.0")
//!         .tool(Tool::new("hello", "Says hello"), |_args: serde_json::Value, _ctx| async move {
//!             Ok(CallToolResult::text("hello"))
//!         })
//!         .build()
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let mcp = McpService::new(server)?;
//!     let app = axum::Router::new()
//!         .route("/health", axum::routing::get(|| async { "ok" }))
//!         .route_service("/mcp", mcp.clone());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, app)
//!         .with_graceful_shutdown(async move {
//!             let _ = tokio::signal::ctrl_c().await;
//!             // Ends the open SSE streams after the drain, so the graceful shutdown can end.
//!             drop(mcp.shutdown());
//!         })
//!         .await
//! }
//! ```
//!
//! # Why a bridge
//!
//! Handlers need not be `Send` (they may hold an `Rc`; the same handlers run in a wasm worker),
//! so neither the engine's [`handle`](crate::Engine::handle) future nor its response body is
//! `Send`, while a tower service mounted in axum must give out `Send` futures and bodies. The
//! service therefore runs the engine where the hosts run it: on worker threads, each with its
//! own current-thread tokio runtime and its own [`Server`], over one shared [`EngineState`]
//! (sessions are served by whichever worker gets the request). A call sends the request to a
//! worker over a channel and gets the response head back over another; the worker reads the
//! body within [`Engine::max_body_bytes`](crate::Engine::max_body_bytes) (413),
//! [`HostConfig::body_read_timeout`] (408) and [`HostConfig::body_budget_bytes`] (503), exactly
//! as the hyper hosts do, and answers refusals with [`Engine::reject`](crate::Engine::reject).
//!
//! An SSE body streams back chunk by chunk through a channel of [`STREAM_CHUNKS`] chunks: the
//! worker reads the engine's stream only when there is room, so a slow reader holds back the
//! stream as it would on the hyper host (the engine's pacing and lag accounting then apply).
//! Dropping the response body (the client hung up) drops the engine's stream on the worker, and
//! dropping the response future before the head drops the engine's `handle` future: a session's
//! stream is detached and stays resumable, a stream nobody can resume cancels its requests,
//! the same as with the hyper host.
//!
//! # Load and readiness
//!
//! Each request goes to the worker with the fewest exchanges open (requests being answered
//! and response streams still open); ties go round robin.
//! [`poll_ready`](tower_service::Service::poll_ready) is always ready: the queue to a worker
//! holds at most one job per request the server in front has accepted, and that server already
//! bounds those (connections, HTTP/2 streams). To shed load or cap concurrency, stack tower's
//! `ConcurrencyLimitLayer` or `LoadShedLayer` in front.
//!
//! # Stopping
//!
//! [`McpService::shutdown`] (or dropping the last clone of the service) drains like
//! [`Running::stop`](super::Running::stop): new requests get 503 with `Retry-After`, listen
//! streams get their result, requests in flight run to their end, and what is still open after
//! [`HostConfig::drain_timeout`] (SSE streams) is ended: the client sees its stream end and
//! resumes it with `Last-Event-ID`.
//!
//! [`HostConfig`] applies as far as the service is concerned: `workers`, `body_read_timeout`,
//! `body_budget_bytes` and `drain_timeout`. The connection limits and timeouts
//! (`max_connections`, `header_read_timeout`, `idle_timeout`) belong to the HTTP server in front.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::future::{select, Either};
use http::{Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::rt::Timer;
use hyper_util::rt::TokioTimer;
use tokio::sync::{mpsc, oneshot};

use super::budget::BodyBudget;
use super::limit::{ConnectionLimit, ConnectionPermit};
use super::{service, timers, HostConfig, Shared, Stop};
use crate::http::{Body, HostRejection};
use crate::server::McpSession;
use crate::session::{MemoryStore, Store};
use crate::{Engine, EngineState, Server, SpawnFn};

/// Chunks of an SSE response waiting between a worker and the caller. Each chunk coalesces
/// what was ready (up to 32 KiB), so two are enough to keep a fast reader busy while the worker
/// encodes the next, and little enough that a slow reader holds back the engine's stream.
pub const STREAM_CHUNKS: usize = 2;

/// How long streams still open at the end of the drain get to be dropped by their tasks.
const ABANDON_GRACE: Duration = Duration::from_secs(1);

/// The MCP endpoint as a `tower::Service<http::Request<B>>`: cheap to clone (clones share the
/// workers), `Send + Sync`, with `Send` futures and response bodies. See the
/// [module documentation](self).
pub struct McpService<S = MemoryStore<McpSession>> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for McpService<S> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<S> fmt::Debug for McpService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpService").field("workers", &self.inner.workers.len()).finish_non_exhaustive()
    }
}

struct Inner<S> {
    state: Arc<EngineState<S>>,
    workers: Vec<Worker>,
    /// Where the search for the least loaded worker starts next.
    next: AtomicUsize,
    host: Arc<Shared>,
    finished: Arc<Finished>,
}

impl<S> Drop for Inner<S> {
    fn drop(&mut self) {
        // Nobody can send requests any more: the workers drain and end on their own.
        self.host.stop.trigger();
    }
}

/// The caller's side of one worker thread.
struct Worker {
    jobs: mpsc::UnboundedSender<Job>,
    /// Exchanges open on the worker: jobs queued, requests being answered, streams open.
    load: Arc<AtomicUsize>,
}

/// One request for a worker, and where its response goes.
struct Job {
    request: Request<RequestBody>,
    reply: oneshot::Sender<Response<ResponseBody>>,
    _load: Load,
}

/// The caller's request body, readable on the worker's thread.
type RequestBody = UnsyncBoxBody<Bytes, BodyError>;

/// The caller's body failed (the client's connection broke): answered as a malformed request.
#[derive(Debug)]
struct BodyError;

/// One exchange counted on a worker's load until it ends, however it ends.
struct Load(Arc<AtomicUsize>);

impl Load {
    fn new(load: &Arc<AtomicUsize>) -> Self {
        load.fetch_add(1, Ordering::Relaxed);
        Self(load.clone())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Worker threads still running, and a signal for when none is.
#[derive(Default)]
struct Finished {
    running: AtomicUsize,
    done: Stop,
}

/// Held by a worker thread; the last one to go says that all have.
struct Alive(Arc<Finished>);

impl Drop for Alive {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.trigger();
        }
    }
}

impl McpService {
    /// Serves the [`Server`]s `make_server` builds (one per worker thread) with every default:
    /// the in-memory store, [`EngineConfig::default`](crate::EngineConfig) (the endpoint at
    /// `/mcp`, loopback `Host` names only) and [`HostConfig::default`] (a worker per core).
    /// Returns once the workers run.
    pub fn new<F>(make_server: F) -> io::Result<Self>
    where
        F: Fn() -> Server + Send + Sync + 'static,
    {
        Self::spawn_with(super::default_state(), make_server, HostConfig::default())
    }
}

impl<S: Store<McpSession> + Send + Sync + 'static> McpService<S> {
    /// Serves `state` with `config.workers` threads, each building its own [`Server`] with
    /// `make_server` (handlers need not be `Send`), the same configuration as
    /// [`host::tokio::spawn_with`](super::tokio::spawn_with) without the listener. The first
    /// worker also runs the engine's timers. Returns once the threads run.
    ///
    /// Mount it at the engine's path ([`EngineConfig::path`](crate::EngineConfig::path), `/mcp`
    /// by default) with axum's `route_service`: the engine answers 404 to any other path, so
    /// under `nest_service` (which strips the prefix) set the path to what is left (`/`).
    pub fn spawn_with<F>(state: Arc<EngineState<S>>, make_server: F, config: HostConfig) -> io::Result<Self>
    where
        F: Fn() -> Server + Send + Sync + 'static,
    {
        let count = config.workers.max(1);
        let host = Arc::new(Shared {
            stop: Stop::default(),
            connections: ConnectionLimit::unbounded(),
            bodies: BodyBudget::new(config.body_budget_bytes),
            config,
        });
        let make_server = Arc::new(make_server);
        let finished = Arc::new(Finished::default());
        let mut workers = Vec::with_capacity(count);
        let mut failed = None;
        for index in 0..count {
            // Built here, so that a runtime that cannot start is the caller's error.
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (jobs, queue) = mpsc::unbounded_channel();
            let (state, make_server, host) = (state.clone(), make_server.clone(), host.clone());
            finished.running.fetch_add(1, Ordering::AcqRel);
            let alive = Alive(finished.clone());
            let started = std::thread::Builder::new().name(format!("mcp-tower-{index}")).spawn(move || {
                let _alive = alive;
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, serve(index, state, &*make_server, host, queue));
            });
            if let Err(error) = started {
                // The workers already started end on the stop `Inner` triggers as it drops.
                failed = Some(error);
                break;
            }
            workers.push(Worker { jobs, load: Arc::new(AtomicUsize::new(0)) });
        }
        let inner = Inner { state, workers, next: AtomicUsize::new(0), host, finished };
        match failed {
            None => Ok(Self { inner: Arc::new(inner) }),
            Some(error) => Err(error),
        }
    }

    /// The shared state (sessions, metrics, [`EngineState::announce`]).
    pub fn state(&self) -> &Arc<EngineState<S>> {
        &self.inner.state
    }

    /// Stops the workers and drains: from this call on (not from the first poll) new requests
    /// get 503 with `Retry-After`; requests in flight run to their end, and after
    /// [`HostConfig::drain_timeout`] the streams still open are ended. The future resolves when
    /// every worker thread has ended; drop it not to wait. Every clone of the service is stopped.
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.host.stop.trigger();
        let finished = self.inner.finished.clone();
        async move { finished.done.wait().await }
    }

    /// The worker with the fewest open exchanges, the search starting one worker further each
    /// time so that ties (an idle service) go round robin.
    fn pick(&self) -> &Worker {
        let workers = &self.inner.workers;
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        (0..workers.len())
            .map(|offset| &workers[(start + offset) % workers.len()])
            .min_by_key(|worker| worker.load.load(Ordering::Relaxed))
            .expect("at least one worker")
    }
}

impl<S, B> tower_service::Service<Request<B>> for McpService<S>
where
    S: Store<McpSession> + Send + Sync + 'static,
    B: http_body::Body + Send + 'static,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let retry_after = self.inner.state.config.retry_after;
        let host = self.inner.host.clone();
        if host.stop.is_triggered() {
            return ResponseFuture { answer: None, retry_after, host };
        }
        let request = request.map(|body| {
            body.map_frame(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
                .map_err(|_| BodyError)
                .boxed_unsync()
        });
        let worker = self.pick();
        let (reply, answer) = oneshot::channel();
        let job = Job { request, reply, _load: Load::new(&worker.load) };
        // A worker that has ended drops the job, and with it the reply: answered as stopping.
        let _ = worker.jobs.send(job);
        ResponseFuture { answer: Some(answer), retry_after, host }
    }
}

/// The response of an [`McpService`] call, from its worker.
pub struct ResponseFuture {
    answer: Option<oneshot::Receiver<Response<ResponseBody>>>,
    retry_after: Duration,
    host: Arc<Shared>,
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let answered = match &mut self.answer {
            Some(answer) => std::task::ready!(Pin::new(answer).poll(cx)).ok(),
            None => None,
        };
        Poll::Ready(Ok(answered.unwrap_or_else(|| self.unanswered())))
    }
}

impl ResponseFuture {
    /// The answer when no worker answered: the service is stopping, or the request's task
    /// ended without an answer (a handler panicked), which is the server's fault.
    fn unanswered(&self) -> Response<ResponseBody> {
        if !self.host.stop.is_triggered() {
            let mut response = Response::new(ResponseBody::full(None));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return response;
        }
        let (parts, mut body) = crate::http::reject(HostRejection::ShuttingDown, self.retry_after).into_parts();
        let bytes = body.take_complete().unwrap_or_else(|| unreachable!("a refusal has a complete body"));
        Response::from_parts(parts, ResponseBody::full(bytes))
    }
}

/// The body of an [`McpService`] response: a complete body, or an SSE stream carried from the
/// worker chunk by chunk. Dropping it ends the engine's stream.
pub struct ResponseBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl ResponseBody {
    fn full(bytes: Option<Bytes>) -> Self {
        Self { kind: Kind::Full(bytes) }
    }

    /// Whether this is an SSE stream (which may stay open indefinitely).
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream(_))
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full(bytes) => write!(f, "ResponseBody::Full({} bytes)", bytes.as_ref().map_or(0, Bytes::len)),
            Kind::Stream(_) => f.write_str("ResponseBody::Stream"),
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = match &mut self.kind {
            Kind::Full(bytes) => bytes.take(),
            Kind::Stream(chunks) => std::task::ready!(chunks.poll_recv(cx)),
        };
        Poll::Ready(chunk.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

/// One worker thread: its engine, the timers on the first worker, the jobs until the stop, then
/// the drain.
async fn serve<S, F>(
    index: usize,
    state: Arc<EngineState<S>>,
    make_server: &F,
    host: Arc<Shared>,
    mut queue: mpsc::UnboundedReceiver<Job>,
) where
    S: Store<McpSession> + Send + Sync + 'static,
    F: Fn() -> Server,
{
    let timer = TokioTimer::new();
    // Signalled when this worker's drain is over: its exchanges and timers end then.
    let abandon = Arc::new(Stop::default());
    if index == 0 {
        let sleeper = timer.clone();
        tokio::task::spawn_local(timers::drive(state.clone(), move |wait| sleeper.sleep(wait), abandon.clone()));
    }
    let engine = Engine::new(
        state,
        make_server(),
        SpawnFn(|task| {
            tokio::task::spawn_local(task);
        }),
    );
    let open = ConnectionLimit::unbounded();
    let mut stopped = pin!(host.stop.wait());
    loop {
        let job = match select(pin!(queue.recv()), stopped.as_mut()).await {
            Either::Left((Some(job), _)) => job,
            Either::Left((None, _)) | Either::Right(_) => break,
        };
        let Some(permit) = open.try_acquire() else { unreachable!("the count has no ceiling") };
        tokio::task::spawn_local(exchange(engine.clone(), job, timer.clone(), host.clone(), abandon.clone(), permit));
    }
    // Jobs still queued are dropped with the queue: their callers answer that the service stops.
    drop(queue);
    engine.close_listens();
    let _ = select(pin!(open.until_all_released()), timer.sleep(host.config.drain_timeout)).await;
    abandon.trigger();
    let _ = select(pin!(open.until_all_released()), timer.sleep(ABANDON_GRACE)).await;
}

/// One request on a worker: read and answered by the engine, its head sent back, then its SSE
/// body carried to the caller until either side ends it.
async fn exchange<S: Store<McpSession> + 'static>(
    engine: Engine<S>,
    job: Job,
    timer: TokioTimer,
    host: Arc<Shared>,
    abandon: Arc<Stop>,
    _open: ConnectionPermit,
) {
    let Job { request, mut reply, _load } = job;
    let mut abandoned = pin!(abandon.wait());
    let answer = pin!(service::answer(&engine, request, &timer, &host));
    // A caller gone before the head is a client that hung up: the answer is dropped, as hyper
    // drops it, which cancels what cannot be resumed.
    let response = match select(answer, select(pin!(reply.closed()), abandoned.as_mut())).await {
        Either::Left((response, _)) => response,
        Either::Right(_) => return,
    };
    let (parts, mut stream) = response.into_parts();
    if let Some(bytes) = stream.take_complete() {
        let _ = reply.send(Response::from_parts(parts, ResponseBody::full(bytes)));
        return;
    }
    let (chunks, receiver) = mpsc::channel(STREAM_CHUNKS);
    if reply.send(Response::from_parts(parts, ResponseBody { kind: Kind::Stream(receiver) })).is_ok() {
        carry(stream, chunks, abandoned).await;
    }
}

/// Moves the engine's stream to the caller, a chunk whenever there is room for one; returns
/// (dropping the stream) when it ends, when the caller drops the body, or when the drain is over.
async fn carry(mut stream: Body, chunks: mpsc::Sender<Bytes>, mut abandoned: Pin<&mut impl Future<Output = ()>>) {
    loop {
        let room = match select(pin!(chunks.reserve()), abandoned.as_mut()).await {
            Either::Left((Ok(room), _)) => room,
            Either::Left((Err(_), _)) | Either::Right(_) => return,
        };
        // A caller that drops the body while the stream is quiet must still be noticed.
        match select(pin!(stream.frame()), select(pin!(chunks.closed()), abandoned.as_mut())).await {
            Either::Left((Some(Ok(frame)), _)) => {
                if let Ok(data) = frame.into_data() {
                    room.send(data);
                }
            }
            Either::Left((Some(Err(never)), _)) => match never {},
            Either::Left((None, _)) | Either::Right(_) => return,
        }
    }
}
