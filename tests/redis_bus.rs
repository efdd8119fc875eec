//! Replicas with a bus between them ([`RedisBus`]) over a real `redis-server`: what is live in one
//! process reaches a request that lands on another. A handler on A reaches the client's stream
//! held by B (a resumed request stream, the GET stream), exactly once and in order, also across
//! a dropped doorbell subscription; a connection to a stream made on B ends the one A held; the client's answer to A's elicitation posted to B reaches
//! A's handler; a cancellation posted to B cancels A's call; a DELETE on B ends A's streams; a
//! call whose replica stops renewing its lease ends with one error on B, a session it held idles
//! out from its lease's end, and a paused replica that comes back adds nothing (invariant 12 of
//! the crate docs; the in-process half is in `src/sessions/hub.rs`'s tests).
#![cfg(all(feature = "redis", feature = "tokio", feature = "async-std"))]

mod support_redis;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use http::{Method, Response, StatusCode};
use mcp_session::http::headers::{LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use mcp_session::http::ResponseMode;
use mcp_session::jsonrpc::ErrorObject;
use mcp_session::model::{CallToolResult, LogLevel, ReadResourceResult, Resource, ResourceContents, Tool};
use mcp_session::redis::{RedisBus, RedisStore};
use mcp_session::session::StorePolicy;
use mcp_session::{
    Body, ChangeEvent, Engine, EngineConfig, EngineState, EventId, ManualClock, McpSession, RequestContext, Server,
    Sessions, SessionsConfig, SpawnFn, Store, TenantId, Timestamp,
};
use serde_json::{json, Value};
use tokio::sync::Notify;

use support_redis::{call, fresh_prefix, request, Event, RedisServer, VERSION};

/// How long a test waits for something that must happen (a bound, not a pace: it passes as soon
/// as the thing happens).
const WITHIN: Duration = Duration::from_secs(10);

fn run(test: impl AsyncFnOnce(&mut RedisServer)) {
    let Some(mut server) = RedisServer::start() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, test(&mut server));
}

/// What the tools of every replica share: a gate a handler waits at, and whether a call saw
/// its cancellation.
#[derive(Default)]
struct Shared {
    gate: Notify,
    /// Told when a `gated` call is over, however it ended.
    gated_over: Notify,
    cancelled: AtomicBool,
    cancel_seen: Notify,
}

struct Replica {
    state: Arc<EngineState<RedisStore<McpSession>>>,
    engine: Engine<RedisStore<McpSession>>,
    bus: RedisBus,
    /// The task feeding the engine from the bus (and renewing the replica's lease).
    follower: tokio::task::JoinHandle<()>,
}

fn internal(error: impl std::fmt::Display) -> ErrorObject {
    ErrorObject::internal(error.to_string())
}

async fn replica(server: &RedisServer, prefix: &str, clock: &ManualClock, shared: &Arc<Shared>) -> Replica {
    let store: RedisStore<McpSession> = server.store_at(prefix, StorePolicy::default()).await;
    let bus = RedisBus::connect(&store).await.expect("the bus connects");
    let sessions = Sessions::with_store(store, Arc::new(clock.clone()), SessionsConfig::default());
    let config = EngineConfig::default().response_mode(ResponseMode::Sse);
    let state = Arc::new(EngineState::new(sessions, config).with_bus(bus.clone()));
    let (followed, following) = (state.clone(), bus.clone());
    let follower = tokio::task::spawn_local(async move { following.follow(&followed).await });
    let (gated, cancelled) = (shared.clone(), shared.clone());
    let server = Server::builder("replica", "0.0.0")
        .tool(Tool::new("gated", "Logs 1, waits at the gate, logs 2 and 3"), move |_, ctx: RequestContext| {
            let shared = gated.clone();
            async move {
                let outcome = async {
                    ctx.log(LogLevel::Info, None, json!(1)).await.map_err(internal)?;
                    shared.gate.notified().await;
                    for n in 2..=3 {
                        ctx.log(LogLevel::Info, None, json!(n)).await.map_err(internal)?;
                    }
                    Ok(CallToolResult::text("gated done"))
                }
                .await;
                shared.gated_over.notify_one();
                outcome
            }
        })
        .tool(Tool::new("ask", "Elicits, returns the action"), |_, ctx: RequestContext| async move {
            let answer = ctx
                .elicit(json!({ "message": "name?", "requestedSchema": { "type": "object", "properties": {} } }))
                .await
                .map_err(internal)?;
            Ok(CallToolResult::text(answer["action"].as_str().unwrap_or("none")))
        })
        .tool(Tool::new("wait", "Waits for its cancellation"), move |_, ctx: RequestContext| {
            let shared = cancelled.clone();
            async move {
                ctx.cancelled().await;
                shared.cancelled.store(true, Ordering::SeqCst);
                shared.cancel_seen.notify_one();
                Ok(CallToolResult::text("cancelled"))
            }
        })
        // A resource, so that listen streams may watch resource URIs (the bridge's among them).
        .resource(Resource::new("note://1", "note"), |uri, _| async move {
            Ok(ReadResourceResult::new(vec![ResourceContents::text(uri, "text/plain", "a note")]))
        })
        .tool(
            Tool::new("announce", "Notifies the session's GET stream"),
            |args: Value, ctx: RequestContext| async move {
                ctx.notify_session("notifications/message", json!({ "level": "info", "data": args["n"] }))
                    .await
                    .map_err(internal)?;
                Ok(CallToolResult::text("announced"))
            },
        )
        .build();
    let spawn = SpawnFn(|task| {
        tokio::task::spawn_local(task);
    });
    let engine = Engine::new(state.clone(), server, spawn);
    Replica { state, engine, bus, follower }
}

async fn replicas_on(server: &RedisServer, clock: &ManualClock) -> (Replica, Replica, Arc<Shared>) {
    let prefix = fresh_prefix();
    let shared = Arc::new(Shared::default());
    let a = replica(server, &prefix, clock, &shared).await;
    let b = replica(server, &prefix, clock, &shared).await;
    (a, b, shared)
}

async fn replicas(server: &RedisServer) -> (Replica, Replica, Arc<Shared>) {
    replicas_on(server, &ManualClock::new(Timestamp::from_millis(1_000_000))).await
}

/// Reads an SSE body event by event.
struct Sse {
    body: Body,
    buffer: String,
}

impl Sse {
    fn new(response: Response<Body>) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        Self { body: response.into_body(), buffer: String::new() }
    }

    /// The next event with data (priming events and keep-alives skipped), or `None` at the end
    /// of the stream; fails the test if none comes within [`WITHIN`].
    async fn next(&mut self) -> Option<Event> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let event = Event::parse(&block);
                if event.data.is_some() {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout(WITHIN, self.body.next()).await.expect("an event or the end in time")?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Every event with data to the end of the stream.
    async fn rest(&mut self) -> Vec<Value> {
        let mut all = Vec::new();
        while let Some(event) = self.next().await {
            all.extend(event.data);
        }
        all
    }
}

async fn initialize(replica: &Replica) -> String {
    let message = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": VERSION, "capabilities": { "elicitation": {} },
            "clientInfo": { "name": "t", "version": "0" },
        },
    });
    let response = replica.engine.handle(request(Method::POST, None, Some(&message))).await;
    let session = response.headers().get(MCP_SESSION_ID).expect("a session id").to_str().unwrap().to_owned();
    let init = Sse::new(response).next().await.expect("the initialize result");
    assert_eq!(init.data.unwrap()["result"]["protocolVersion"], VERSION);
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = replica.engine.handle(request(Method::POST, Some(&session), Some(&initialized))).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    session
}

fn logged(message: &Value) -> Option<&Value> {
    (message["method"] == "notifications/message").then(|| &message["params"]["data"])
}

fn result_text(message: &Value) -> Option<&str> {
    message["result"]["content"][0]["text"].as_str()
}

/// A GET stream on `replica`, once it is attached there (the engine answers its head only then).
async fn listen(replica: &Replica, session: &str) -> Sse {
    Sse::new(replica.engine.handle(request(Method::GET, Some(session), None)).await)
}

/// Calls `announce` with `n` on `replica` (notifying the session's GET stream) and reads its answer.
async fn announce(replica: &Replica, session: &str, n: u64) {
    let message = call(n, "announce", json!({ "n": n }));
    let mut reply = Sse::new(replica.engine.handle(request(Method::POST, Some(session), Some(&message))).await);
    assert_eq!(reply.rest().await.last().and_then(result_text), Some("announced"));
}

/// Starts the `gated` call on `replica` and reads its first log, the id to resume after.
async fn start_gated(replica: &Replica, session: &str) -> (Sse, String) {
    let mut stream =
        Sse::new(replica.engine.handle(request(Method::POST, Some(session), Some(&call(5, "gated", json!({}))))).await);
    let first = stream.next().await.expect("the first log");
    assert_eq!(logged(first.data.as_ref().unwrap()), Some(&json!(1)));
    (stream, first.id.expect("an event id"))
}

/// Resumes a stream on `replica` after the event `last`.
async fn resume(replica: &Replica, session: &str, last: &str) -> Sse {
    let mut resume = request(Method::GET, Some(session), None);
    resume.headers_mut().insert(LAST_EVENT_ID, last.parse().unwrap());
    Sse::new(replica.engine.handle(resume).await)
}

/// Opens the gate of the `gated` call and reads the rest of its stream: the two logs after the
/// first, once and in order, then the result and the end.
async fn the_rest_of_gated(shared: &Shared, stream: &mut Sse) {
    shared.gate.notify_one();
    let rest = stream.rest().await;
    let logs: Vec<&Value> = rest.iter().filter_map(logged).collect();
    assert_eq!(logs, [&json!(2), &json!(3)], "what was published after the resume, once, in order: {rest:?}");
    assert_eq!(rest.last().and_then(result_text), Some("gated done"), "then the result, and the end: {rest:?}");
}

#[test]
fn a_request_stream_resumed_on_another_replica_gets_the_rest_live_once_in_order() {
    run(async |server| {
        let (a, b, shared) = replicas(server).await;
        let session = initialize(&a).await;
        let (on_a, last) = start_gated(&a, &session).await;
        // The client loses A's connection and resumes the stream on B while the call still runs.
        drop(on_a);
        let mut on_b = resume(&b, &session, &last).await;
        the_rest_of_gated(&shared, &mut on_b).await;
        assert_eq!(b.state.occupancy().sessions.live_streams, 0, "nothing of the remote stream stays live on B");
    });
}

#[test]
fn a_handler_on_one_replica_reaches_the_get_stream_held_by_another() {
    run(async |server| {
        let (a, b, _) = replicas(server).await;
        let session = initialize(&a).await;
        let mut on_b = listen(&b, &session).await;
        for n in 1..=3 {
            announce(&a, &session, n).await;
        }
        for n in 1..=3 {
            let event = on_b.next().await.expect("the announcement");
            assert_eq!(logged(event.data.as_ref().unwrap()), Some(&json!(n)), "in order, once");
        }
    });
}

#[test]
fn a_get_stream_opened_on_another_replica_ends_the_one_held_before() {
    run(async |server| {
        let (a, b, _) = replicas(server).await;
        let session = initialize(&a).await;
        let mut on_a = listen(&a, &session).await;
        let mut on_b = listen(&b, &session).await;
        // Within one replica the second GET would be refused (409); across replicas the newer
        // connection stands and the older one ends, so that no message goes out on both.
        assert!(on_a.next().await.is_none(), "A's GET stream ends once B's is attached");
        assert_eq!(a.state.occupancy().sessions.subscribers, 0, "A holds no connection to the session");
        announce(&a, &session, 1).await;
        let event = on_b.next().await.expect("the announcement");
        assert_eq!(logged(event.data.as_ref().unwrap()), Some(&json!(1)), "on B's stream, the only one");
    });
}

#[test]
fn a_stream_resumed_on_another_replica_ends_the_connection_left_behind() {
    run(async |server| {
        let (a, b, shared) = replicas(server).await;
        let session = initialize(&a).await;
        let (mut on_a, last) = start_gated(&a, &session).await;
        // The client resumes on B without A having seen it hang up (a half-open connection).
        let mut on_b = resume(&b, &session, &last).await;
        assert!(on_a.next().await.is_none(), "A's connection to the stream ends, the call goes on");
        the_rest_of_gated(&shared, &mut on_b).await;
    });
}

#[test]
fn doorbells_lost_with_the_subscription_are_made_up_for_on_reconnect() {
    run(async |server| {
        let (a, b, _) = replicas(server).await;
        let session = initialize(&a).await;
        let mut on_b = listen(&b, &session).await;
        // Every doorbell subscription drops; events appended before the replicas subscribe again
        // ring no bell anywhere.
        let killed: u32 = server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]).parse().expect("a count");
        assert!(killed >= 2, "each replica's subscription went ({killed})");
        for n in 1..=5 {
            announce(&a, &session, n).await;
        }
        for n in 1..=5 {
            let event = on_b.next().await.expect("the announcement, after the reconnect's resync at the latest");
            assert_eq!(logged(event.data.as_ref().unwrap()), Some(&json!(n)), "in order, once");
        }
    });
}

#[test]
fn an_answer_posted_to_another_replica_reaches_the_waiting_handler() {
    run(async |server| {
        let (a, b, _) = replicas(server).await;
        let session = initialize(&a).await;
        let mut on_a =
            Sse::new(a.engine.handle(request(Method::POST, Some(&session), Some(&call(3, "ask", json!({}))))).await);
        let ask = on_a.next().await.expect("the elicitation").data.unwrap();
        assert_eq!(ask["method"], "elicitation/create");
        let id = ask["id"].clone();
        assert!(id.as_str().is_some_and(|id| id.contains('.')), "ids name the replica that waits: {id}");
        let answer = json!({ "jsonrpc": "2.0", "id": id, "result": { "action": "decline" } });
        let response = b.engine.handle(request(Method::POST, Some(&session), Some(&answer))).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let rest = on_a.rest().await;
        assert_eq!(rest.last().and_then(result_text), Some("decline"), "{rest:?}");
    });
}

#[test]
fn a_cancellation_posted_to_another_replica_cancels_the_call() {
    run(async |server| {
        let (a, b, shared) = replicas(server).await;
        let session = initialize(&a).await;
        let on_a = a.engine.handle(request(Method::POST, Some(&session), Some(&call(9, "wait", json!({}))))).await;
        assert_eq!(on_a.status(), StatusCode::OK);
        let seen = shared.cancel_seen.notified();
        let cancel = json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 9 } });
        let response = b.engine.handle(request(Method::POST, Some(&session), Some(&cancel))).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        tokio::time::timeout(WITHIN, seen).await.expect("A's handler is cancelled");
        assert!(shared.cancelled.load(Ordering::SeqCst));
        drop(on_a);
    });
}

#[test]
fn a_delete_on_one_replica_ends_the_streams_another_holds() {
    run(async |server| {
        let (a, b, _) = replicas(server).await;
        let session = initialize(&a).await;
        let mut on_a = listen(&a, &session).await;
        let response = b.engine.handle(request(Method::DELETE, Some(&session), None)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(on_a.next().await.is_none(), "A's GET stream ends");
        assert!(!a.state.holds_anything_of(session.parse().unwrap()), "nothing of the session stays on A");
    });
}

#[test]
fn a_stream_whose_replica_died_mid_call_ends_with_one_error_once_its_lease_runs_out() {
    run(async |server| {
        let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
        let (a, b, shared) = replicas_on(server, &clock).await;
        let (session, first) = gated_call_left_after_its_first_log(&a).await;
        let mut on_b = resume(&b, &session, first.id.as_deref().unwrap()).await;
        // A stops renewing its lease (it died, or it is paused); its call is still in flight.
        a.follower.abort();
        assert_eq!(b.bus.tend(&b.state).await, Ok(0), "a lease that has not run out proves nothing");
        clock.advance(Duration::from_secs(16));
        assert_eq!(b.bus.tend(&b.state).await, Ok(1), "one error for the one request");
        assert_eq!(b.bus.tend(&b.state).await, Ok(0), "and only once");
        let rest = on_b.rest().await;
        assert_eq!(rest.len(), 1, "the error, then the end: {rest:?}");
        assert_eq!(rest[0]["id"], 5);
        assert_eq!(rest[0]["error"]["code"], -32603, "{rest:?}");
        // A comes back (a pause, not a death): its call goes on, but the stream takes nothing
        // more from it.
        let over = shared.gated_over.notified();
        shared.gate.notify_one();
        tokio::time::timeout(WITHIN, over).await.expect("A's call ends");
        let replayed = resume(&b, &session, first.id.as_deref().unwrap()).await.rest().await;
        assert_eq!(replayed, rest, "the zombie's later events never arrive");
    });
}

/// Found by the simulation over Redis: a replica that dies between logging its last response
/// and ending the stream must not have that request answered a second time, by an error.
#[test]
fn a_stream_whose_replica_died_after_its_response_ends_without_a_second_answer() {
    run(async |server| {
        let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
        let (a, b, shared) = replicas_on(server, &clock).await;
        let (session, first) = gated_call_left_after_its_first_log(&a).await;
        let first_id = first.id.clone().unwrap();
        let stream = first_id.parse::<EventId>().expect("an event id").stream();
        // What A's call had logged when it died: its response, not yet the stream's end.
        let response = json!({ "jsonrpc": "2.0", "id": 5, "result": { "content": [] } });
        let id = session.parse().unwrap();
        a.state.sessions().store().append(id, stream, response.to_string().into()).await.expect("logged");
        let mut on_b = resume(&b, &session, &first_id).await;
        a.follower.abort();
        clock.advance(Duration::from_secs(16));
        assert_eq!(b.bus.tend(&b.state).await, Ok(0), "no error: the one request has its response");
        let rest = on_b.rest().await;
        assert_eq!(rest, vec![response], "the response once, then the end");
        let over = shared.gated_over.notified();
        shared.gate.notify_one();
        tokio::time::timeout(WITHIN, over).await.expect("A's call ends");
    });
}

#[test]
fn a_session_held_by_a_replica_that_died_idles_out_once_its_lease_runs_out() {
    run(async |server| {
        let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
        let (a, b, _) = replicas_on(server, &clock).await;
        let session = initialize(&a).await;
        let id = session.parse().unwrap();
        a.bus.tend(&a.state).await.expect("A's lease");
        let lease_end = a.state.sessions().now().saturating_add(Duration::from_secs(15));
        // A holds the session (its GET stream is attached there) and has told the store so.
        let _on_a = listen(&a, &session).await;
        a.state.sessions().handle_timeout().await;
        // A dies holding it: no lease renewal, no release, ever.
        a.follower.abort();
        clock.advance(Duration::from_secs(16));
        b.bus.tend(&b.state).await.expect("B tends");
        // Released as of A's lease's end: the idle timeout runs from there.
        let idle = StorePolicy::default().expiry.idle;
        clock.set(Timestamp::from_millis(lease_end.saturating_add(idle).as_millis() - 1));
        assert_eq!(b.state.sessions().handle_timeout().await, Vec::new(), "not idle for long enough yet");
        clock.advance(Duration::from_millis(1));
        assert_eq!(b.state.sessions().handle_timeout().await, vec![id], "idle since A's lease ended");
        let again = b.engine.handle(request(Method::POST, Some(&session), Some(&call(7, "announce", json!({}))))).await;
        assert_eq!(again.status(), StatusCode::NOT_FOUND);
        let prefix = &b.state.sessions().store().config().prefix;
        let left = server.cli(&["--scan", "--pattern", &format!("{prefix}:holds:*")]);
        assert_eq!(left, "", "nothing of the hold is left in Redis");
    });
}

#[test]
fn a_replica_taken_for_dead_that_comes_back_releases_nothing_another_holds() {
    run(async |server| {
        let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
        let (a, b, _) = replicas_on(server, &clock).await;
        let session = initialize(&a).await;
        a.bus.tend(&a.state).await.expect("A's lease");
        // Both hold the session: the client's GET streams on A, then on B.
        let on_a = listen(&a, &session).await;
        a.state.sessions().handle_timeout().await;
        let _on_b = listen(&b, &session).await;
        b.state.sessions().handle_timeout().await;
        // A pauses past its lease; B ends A's hold.
        a.follower.abort();
        clock.advance(Duration::from_secs(16));
        b.bus.tend(&b.state).await.expect("B tends");
        // A comes back and lets go of what it held: there is nothing of A's left to release.
        drop(on_a);
        a.state.sessions().handle_timeout().await;
        clock.advance(StorePolicy::default().expiry.idle + Duration::from_secs(60));
        b.bus.tend(&b.state).await.expect("B tends");
        assert_eq!(b.state.sessions().handle_timeout().await, Vec::new(), "B's hold keeps the session");
        let ping = json!({ "jsonrpc": "2.0", "id": 8, "method": "ping" });
        let response = b.engine.handle(request(Method::POST, Some(&session), Some(&ping))).await;
        assert_eq!(response.status(), StatusCode::OK);
    });
}

#[test]
fn a_change_bridged_on_one_replica_reaches_the_listen_streams_of_another() {
    run(async |server| {
        let (a, b, _) = replicas(server).await;
        let uri = "changes://documents_updated";
        let listen = json!({
            "jsonrpc": "2.0", "id": "L", "method": "subscriptions/listen",
            "params": {
                "notifications": { "resourceSubscriptions": [uri] },
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        });
        let mut opening = request(Method::POST, None, Some(&listen));
        opening.headers_mut().insert(MCP_PROTOCOL_VERSION, "2026-07-28".parse().unwrap());
        opening.headers_mut().insert("mcp-method", "subscriptions/listen".parse().unwrap());
        let mut on_b = Sse::new(b.engine.handle(opening).await);
        let acknowledged = on_b.next().await.expect("the acknowledgement").data.unwrap();
        assert_eq!(acknowledged["params"]["notifications"]["resourceSubscriptions"], json!([uri]), "{acknowledged}");
        let (sender, source) = async_broadcast::broadcast(4);
        let bridging = a.state.clone();
        let bridge = tokio::task::spawn_local(async move { bridging.run_bridge(source).await });
        let tenant = TenantId::default().as_str().to_owned();
        let event = ChangeEvent { kind: "document".into(), reason: "ingest".into(), tenant_id: tenant, ts_ms: 1 };
        sender.broadcast_direct(event).await.expect("the bridge listens");
        let heard = on_b.next().await.expect("the change, from the other replica's bridge").data.unwrap();
        assert_eq!(heard["method"], "notifications/resources/updated", "{heard}");
        assert_eq!(heard["params"]["uri"], uri);
        drop(sender);
        bridge.await.expect("the bridge ends with its source");
    });
}

/// A session on A whose client starts the `gated` call 5 there (A holding its lease) and hangs
/// up after the call's first log, which it returns.
async fn gated_call_left_after_its_first_log(a: &Replica) -> (String, Event) {
    let session = initialize(a).await;
    a.bus.tend(&a.state).await.expect("A's lease");
    let mut on_a =
        Sse::new(a.engine.handle(request(Method::POST, Some(&session), Some(&call(5, "gated", json!({}))))).await);
    let first = on_a.next().await.expect("the first log");
    (session, first)
}
