//! `host::tower::McpService`: the engine as a tower service, called the way axum calls it
//! (`ServiceExt::oneshot` on a clone), with no socket. Requests cross to the service's worker
//! threads and their answers, SSE streams included, come back to the test's runtime.
//!
//! The engine's time is a `ManualClock` nobody moves. What crosses threads is awaited with a
//! generous bound ([`PATIENCE`]), never slept for. The body read timeout and the drain are the
//! host's real timers, set short where a scenario needs them to fire.
#![cfg(all(feature = "tower", not(target_family = "wasm")))]

mod common;
mod support_http;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use mcp_session::host::tower::{McpService, ResponseBody};
use mcp_session::host::HostConfig;
use mcp_session::http::{FromExtension, ResponseMode};
use mcp_session::model::{CallToolResult, LogLevel, Tool};
use mcp_session::{EngineConfig, EngineState, Owner, Principal, RequestContext, Server, TenantId};
use serde_json::{json, Value};
use support_http::{get, initialize, modern, notification, post, tool_call, Frame, Req, V2025_11_25};
use tokio::sync::{mpsc, Semaphore};
use tower::ServiceExt;

/// The longest any wait for another thread lasts before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the tools tell the test, from the worker threads.
type Notes = mpsc::UnboundedSender<String>;

struct Fixture {
    service: McpService,
    /// Opens the `wait_then_log` tool, one permit per call.
    gate: Arc<Semaphore>,
    notes: mpsc::UnboundedReceiver<String>,
}

fn fixture(
    workers: usize,
    config: impl FnOnce(&mut EngineConfig),
    host: impl FnOnce(HostConfig) -> HostConfig,
) -> Fixture {
    fixture_with(workers, config, host, |state| state)
}

fn fixture_with(
    workers: usize,
    config: impl FnOnce(&mut EngineConfig),
    host: impl FnOnce(HostConfig) -> HostConfig,
    state: impl FnOnce(EngineState) -> EngineState,
) -> Fixture {
    let clock = common::clock();
    let mut engine = EngineConfig::default();
    config(&mut engine);
    let state = Arc::new(state(EngineState::new(common::builder(&clock).build(), engine)));
    let gate = Arc::new(Semaphore::new(0));
    let (notes, receiver) = mpsc::unbounded_channel();
    let make_server = {
        let gate = gate.clone();
        move || server(gate.clone(), notes.clone())
    };
    let service = McpService::spawn_with(state, make_server, host(HostConfig::default().workers(workers)))
        .expect("the workers start");
    Fixture { service, gate, notes: receiver }
}

fn server(gate: Arc<Semaphore>, notes: Notes) -> Server {
    let cancel_notes = notes.clone();
    Server::builder("tower-tests", "0.0.0")
        .tool(Tool::new("echo", "Returns `text`"), |args: Value, _| async move {
            Ok(CallToolResult::text(args["text"].as_str().unwrap_or_default()))
        })
        .tool(
            Tool::new("log_then_wait_then_log", "Logs, waits for the gate, logs, returns"),
            move |_, ctx: RequestContext| {
                let (gate, notes) = (gate.clone(), notes.clone());
                async move {
                    let thread = std::thread::current().name().unwrap_or("?").to_owned();
                    ctx.log(LogLevel::Info, Some("test"), json!("early")).await.ok();
                    let _ = notes.send(format!("waiting on {thread}"));
                    gate.acquire().await.expect("the gate stays open").forget();
                    ctx.log(LogLevel::Info, Some("test"), json!("late")).await.ok();
                    let _ = notes.send("finished".into());
                    Ok(CallToolResult::text("waited"))
                }
            },
        )
        .tool(Tool::new("until_cancelled", "Waits until cancelled"), move |_, ctx: RequestContext| {
            let notes = cancel_notes.clone();
            async move {
                let _ = notes.send("started".into());
                ctx.cancelled().await;
                let _ = notes.send("cancelled".into());
                Ok(CallToolResult::text("finished anyway"))
            }
        })
        .build()
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(future)
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future).await.unwrap_or_else(|_| panic!("{what}: nothing within {PATIENCE:?}"))
}

impl Fixture {
    async fn send(&self, request: Req) -> Response<ResponseBody> {
        self.send_request(request.build().map(Full::new)).await
    }

    async fn send_request<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: http_body::Body + Send + 'static,
    {
        let Ok(response) = within("the response", self.service.clone().oneshot(request)).await;
        response
    }

    async fn note(&mut self) -> String {
        within("a note from a tool", self.notes.recv()).await.expect("the tools hold the sender")
    }

    /// `initialize` and `notifications/initialized`; the session's id.
    async fn connect(&self, owner: Option<&Owner>) -> String {
        let response = self.send_request(with_owner(post(&initialize(0, V2025_11_25, json!({}))), owner)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        // JSON or a one-message stream, by the response mode: read to its end either way.
        let _ = within("the body", response.into_body().collect()).await;
        let initialized = post(&notification("notifications/initialized", None)).session(&id).version(V2025_11_25);
        assert_eq!(self.send_request(with_owner(initialized, owner)).await.status(), StatusCode::ACCEPTED);
        id
    }
}

/// The request as middleware that authenticated `owner` hands it on.
fn with_owner(request: Req, owner: Option<&Owner>) -> Request<Full<Bytes>> {
    let mut request = request.build().map(Full::new);
    if let Some(owner) = owner {
        request.extensions_mut().insert(owner.clone());
    }
    request
}

fn call(session: &str, id: u64, tool: &str, arguments: Value) -> Req {
    post(&tool_call(id, tool, arguments)).session(session).version(V2025_11_25)
}

async fn json_of(response: Response<ResponseBody>) -> Value {
    let body = response.into_body();
    assert!(!body.is_stream(), "a complete body");
    let bytes = within("the body", body.collect()).await.expect("infallible").to_bytes();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

/// Reads SSE frames off a response body as they arrive.
struct Sse {
    body: ResponseBody,
    buffer: String,
}

impl Sse {
    fn of(response: Response<ResponseBody>) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let body = response.into_body();
        assert!(body.is_stream());
        Self { body, buffer: String::new() }
    }

    /// The next frame; `None` once the stream has ended.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let text: String = self.buffer.drain(..end + 2).collect();
                return Some(Frame::parse(&text[..end]));
            }
            match within("the next SSE frame", self.body.frame()).await {
                Some(frame) => {
                    let data = frame.expect("infallible").into_data().expect("only data frames");
                    self.buffer.push_str(std::str::from_utf8(&data).expect("SSE is UTF-8"));
                }
                None => {
                    assert!(self.buffer.is_empty(), "a partial frame at the end: {:?}", self.buffer);
                    return None;
                }
            }
        }
    }

    /// The next frame that carries a message.
    async fn message(&mut self) -> Value {
        loop {
            let frame = self.next().await.expect("the stream ended before a message");
            if !frame.data.is_empty() {
                return serde_json::from_str(&frame.data).expect("a JSON message");
            }
        }
    }

    async fn read_to_end(&mut self) -> Vec<Value> {
        let mut messages = Vec::new();
        while let Some(frame) = self.next().await {
            if !frame.data.is_empty() {
                messages.push(serde_json::from_str(&frame.data).expect("a JSON message"));
            }
        }
        messages
    }
}

fn logged(message: &Value) -> &Value {
    assert_eq!(message["method"], "notifications/message", "{message}");
    &message["params"]["data"]
}

#[test]
fn initialize_and_a_call_answer_as_the_host_does() {
    block_on(async {
        let f = fixture(2, |_| {}, |host| host);
        let response = f.send(post(&initialize(1, V2025_11_25, json!({})))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        // A complete body says its size, so the server in front sends Content-Length.
        let declared = http_body::Body::size_hint(response.body()).exact();
        let bytes = within("the body", response.into_body().collect()).await.expect("infallible").to_bytes();
        assert_eq!(declared, Some(bytes.len() as u64));
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["result"]["serverInfo"]["name"], "tower-tests");
        assert_eq!(body["result"]["protocolVersion"], V2025_11_25);

        let initialized = post(&notification("notifications/initialized", None)).session(&session).version(V2025_11_25);
        let accepted = f.send(initialized).await;
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        assert!(http_body::Body::is_end_stream(accepted.body()));

        // Any worker serves any session: the state is shared.
        for id in 2..6 {
            let reply = json_of(f.send(call(&session, id, "echo", json!({ "text": "hi" }))).await).await;
            assert_eq!(
                reply,
                json!({ "jsonrpc": "2.0", "id": id, "result": { "content": [{ "type": "text", "text": "hi" }] } })
            );
        }
        f.service.shutdown().await;
    });
}

#[test]
fn an_sse_reply_streams_before_its_handler_finishes() {
    block_on(async {
        let mut f = fixture(1, |c| c.response_mode = ResponseMode::Sse, |host| host);
        let session = f.connect(None).await;
        let mut sse = Sse::of(f.send(call(&session, 1, "log_then_wait_then_log", json!({}))).await);
        assert!(sse.next().await.expect("the priming event").id.is_some());
        assert_eq!(logged(&sse.message().await), "early", "the first message arrives while the handler waits");
        assert!(f.note().await.starts_with("waiting"));
        assert!(f.notes.try_recv().is_err(), "the handler has not finished");
        f.gate.add_permits(1);
        let rest = sse.read_to_end().await;
        assert_eq!(rest.len(), 2, "{rest:?}");
        assert_eq!(logged(&rest[0]), "late");
        assert_eq!(rest[1]["result"]["content"][0]["text"], "waited");
        assert_eq!(f.note().await, "finished");
    });
}

#[test]
fn a_dropped_session_stream_detaches_and_its_call_resumes_with_last_event_id() {
    block_on(async {
        let mut f = fixture(1, |c| c.response_mode = ResponseMode::Sse, |host| host);
        let session = f.connect(None).await;
        let mut sse = Sse::of(f.send(call(&session, 1, "log_then_wait_then_log", json!({}))).await);
        let priming = sse.next().await.expect("the priming event").id.expect("an event id");
        assert!(f.note().await.starts_with("waiting"));
        let subscribers = f.service.state().occupancy().sessions.subscribers;
        assert_eq!(subscribers, 1);
        drop(sse); // the client hangs up
        within("the stream to detach", async {
            while f.service.state().occupancy().sessions.subscribers != 0 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        // A dropped stream is not a cancellation: the call runs on, into the replay log.
        f.gate.add_permits(1);
        assert_eq!(f.note().await, "finished");
        let resume = get().session(&session).version(V2025_11_25).last_event_id(&priming);
        let replayed = Sse::of(f.send(resume).await).read_to_end().await;
        assert_eq!(replayed.len(), 3, "{replayed:?}");
        assert_eq!((logged(&replayed[0]), logged(&replayed[1])), (&json!("early"), &json!("late")));
        assert_eq!(replayed[2]["result"]["content"][0]["text"], "waited");
    });
}

#[test]
fn a_dropped_sessionless_stream_cancels_its_request() {
    block_on(async {
        let mut f = fixture(1, |c| c.response_mode = ResponseMode::Sse, |host| host);
        let response = f.send(modern(1, "tools/call", json!({ "name": "until_cancelled" }), json!({}))).await;
        let sse = Sse::of(response);
        assert_eq!(f.note().await, "started");
        drop(sse);
        assert_eq!(f.note().await, "cancelled", "nobody can resume the stream: its request is cancelled");
    });
}

#[test]
fn a_response_dropped_before_its_head_cancels_what_cannot_be_resumed() {
    block_on(async {
        // Adaptive mode waits for a sessionless request's answer, as JSON mode does.
        let mut f = fixture(1, |_| {}, |host| host);
        let request = modern(1, "tools/call", json!({ "name": "until_cancelled" }), json!({})).build().map(Full::new);
        let pending = tokio::spawn(f.service.clone().oneshot(request));
        assert_eq!(f.note().await, "started");
        pending.abort();
        assert_eq!(f.note().await, "cancelled");
    });
}

#[test]
fn a_body_over_the_limit_is_413_with_a_json_rpc_error() {
    block_on(async {
        let f = fixture(1, |c| c.max_body_bytes = 1024, |host| host);
        let big = post(&tool_call(1, "echo", json!({ "text": "x".repeat(2000) })));
        let expected =
            json!({ "jsonrpc": "2.0", "id": null, "error": { "code": -32000, "message": "Request body too large" } });

        // Declared by Content-Length: refused before a byte is read.
        let response = f.send(big).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(json_of(response).await, expected);

        // Chunked, no size declared: refused once the chunks pass the limit.
        let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(vec![b' '; 400]))));
        let request = post(&json!({})).build().map(|_| StreamBody::new(futures::stream::iter(chunks)));
        let response = f.send_request(request).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(json_of(response).await, expected);

        // At the limit: answered.
        let small = f.send(post(&initialize(1, V2025_11_25, json!({})))).await;
        assert_eq!(small.status(), StatusCode::OK);
    });
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_408() {
    block_on(async {
        let f = fixture(1, |_| {}, |host| host.body_read_timeout(Duration::from_millis(100)));
        let (_sender, chunks) = mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(1);
        let stalled = post(&json!({})).build().map(|_| StreamBody::new(tokio_stream(chunks)));
        let response = f.send_request(stalled).await;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()["connection"], "close", "the rest of the body is never read");
        assert_eq!(json_of(response).await["error"]["message"], "Request Timeout: the body did not arrive in time");
    });
}

fn tokio_stream<T>(mut receiver: mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[test]
fn a_session_belongs_to_the_owner_middleware_named() {
    block_on(async {
        let f = fixture_with(
            2,
            |_| {},
            |host| host,
            |state| state.with_authenticator(FromExtension::new().challenge("Bearer")),
        );
        let ada = Owner::new(TenantId::new("acme"), Principal::new("ada"));
        let bob = Owner::new(TenantId::new("acme"), Principal::new("bob"));
        let session = f.connect(Some(&ada)).await;

        let as_ada = f.send_request(with_owner(call(&session, 1, "echo", json!({ "text": "mine" })), Some(&ada))).await;
        assert_eq!(json_of(as_ada).await["result"]["content"][0]["text"], "mine");

        let as_bob =
            f.send_request(with_owner(call(&session, 2, "echo", json!({ "text": "theirs" })), Some(&bob))).await;
        assert_eq!(as_bob.status(), StatusCode::NOT_FOUND, "another owner's session does not exist for them");

        let nobody = f.send(call(&session, 3, "echo", json!({ "text": "?" }))).await;
        assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED, "no owner from the middleware is no owner at all");
        assert_eq!(nobody.headers()["www-authenticate"], "Bearer");
        let initialize_anonymously = f.send(post(&initialize(4, V2025_11_25, json!({})))).await;
        assert_eq!(initialize_anonymously.status(), StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn requests_go_to_the_least_loaded_worker() {
    block_on(async {
        let mut f = fixture(2, |c| c.response_mode = ResponseMode::Sse, |host| host);
        let session = f.connect(None).await;
        let first = Sse::of(f.send(call(&session, 1, "log_then_wait_then_log", json!({}))).await);
        let on_first = f.note().await;
        let second = Sse::of(f.send(call(&session, 2, "log_then_wait_then_log", json!({}))).await);
        let on_second = f.note().await;
        assert_ne!(on_first, on_second, "the busy worker is passed over");
        drop((first, second));
    });
}

#[test]
fn shutdown_ends_open_streams_after_the_drain_and_refuses_new_requests() {
    block_on(async {
        let f = fixture(2, |_| {}, |host| host.drain_timeout(Duration::from_millis(100)));
        let session = f.connect(None).await;
        let mut standalone = Sse::of(f.send(get().session(&session).version(V2025_11_25)).await);
        assert!(standalone.next().await.expect("the priming event").id.is_some());

        let stopped = f.service.shutdown();
        let refused = f.send(call(&session, 1, "echo", json!({ "text": "late" }))).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(
            json_of(refused).await["error"]["message"],
            "Service Unavailable: the server is shutting down; try again"
        );

        assert!(standalone.next().await.is_none(), "the open stream ends with the drain");
        within("every worker to end", stopped).await;
    });
}
