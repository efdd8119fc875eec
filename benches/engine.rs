//! Hot paths of the core engine: publish-and-deliver, replay after `Last-Event-ID`, the timer
//! call with a million idle sessions, one HTTP request through `Engine::handle`, and a whole
//! 2026-07-28 `tools/call` with arguments as JSON and as a typed struct.
//!
//! `cargo bench --bench engine`. Futures here complete without waiting (the in-memory store
//! never blocks), so each is polled once with `now_or_never` instead of paying for an executor.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use futures::{FutureExt, StreamExt};
use mcp_session::model::{CallToolResult, Tool};
use mcp_session::{
    Engine, EngineConfig, EngineState, EventId, ManualClock, Owner, Resume, Server, SessionIdGenerator, Sessions,
    SpawnFn, StreamId, SubscribeOptions, Timestamp,
};

fn ready<T>(future: impl std::future::Future<Output = T>) -> T {
    future.now_or_never().expect("in-memory operations complete without waiting")
}

fn engine() -> (ManualClock, Sessions<()>) {
    let clock = ManualClock::new(Timestamp::from_millis(1_795_262_400_000));
    let sessions = Sessions::builder().clock(clock.clone()).ids(SessionIdGenerator::seeded(7)).build();
    (clock, sessions)
}

const PAYLOAD: &[u8] =
    br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1,"total":1000}}"#;

fn publish_and_deliver(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_and_deliver");
    group.throughput(Throughput::Elements(1));
    let (_clock, sessions) = engine();
    let id = ready(sessions.create(Owner::anonymous(), ())).unwrap();
    let payload = Bytes::from_static(PAYLOAD);

    let mut get =
        ready(sessions.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default())).unwrap();
    group.bench_function("standalone_stream_one_subscriber", |b| {
        b.iter(|| {
            ready(sessions.publish(id, StreamId::STANDALONE, payload.clone())).unwrap();
            black_box(get.next().now_or_never().flatten().expect("delivered"));
        })
    });

    let mut post = ready(sessions.open_stream(id, false)).unwrap();
    let stream = post.stream();
    group.bench_function("request_stream_paced_send", |b| {
        b.iter(|| {
            ready(sessions.send(id, stream, payload.clone())).unwrap();
            black_box(post.next().now_or_never().flatten().expect("delivered"));
        })
    });
    group.finish();
}

fn replay_after_last_event_id(c: &mut Criterion) {
    let (_clock, sessions) = engine();
    let id = ready(sessions.create(Owner::anonymous(), ())).unwrap();
    for _ in 0..256 {
        ready(sessions.publish(id, StreamId::STANDALONE, Bytes::from_static(PAYLOAD))).unwrap();
    }
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(256));
    group.bench_function("256_events_after_last_event_id", |b| {
        b.iter(|| {
            let from = Resume::After(EventId::message(StreamId::STANDALONE, 0));
            let mut sub =
                ready(sessions.subscribe(id, StreamId::STANDALONE, from, SubscribeOptions::default())).unwrap();
            let mut count = 0;
            while let Some(Some(item)) = sub.next().now_or_never() {
                black_box(item);
                count += 1;
            }
            assert_eq!(count, 256);
        })
    });
    group.finish();
}

fn timeout_with_a_million_sessions(c: &mut Criterion) {
    // A million sessions of one tenant, past the default caps; never used, so they keep the
    // idle timeout's half hour rather than the initialization timeout's minute.
    let clock = ManualClock::new(Timestamp::from_millis(1_795_262_400_000));
    let sessions = Sessions::builder()
        .clock(clock.clone())
        .ids(SessionIdGenerator::seeded(7))
        .max_sessions(None)
        .max_sessions_per_tenant(None)
        .initialization_timeout(Duration::from_secs(30 * 60))
        .build();
    for _ in 0..1_000_000 {
        ready(sessions.create(Owner::anonymous(), ())).unwrap();
    }
    clock.advance(Duration::from_secs(60));
    let mut group = c.benchmark_group("timers_1m_sessions_none_due");
    group.bench_function("handle_timeout", |b| b.iter(|| ready(sessions.handle_timeout())));
    group.bench_function("next_deadline", |b| b.iter(|| black_box(sessions.next_deadline())));
    group.finish();
    assert_eq!(sessions.len(), 1_000_000);
    // a lookup costs the same with a million neighbours: hash lookup plus a re-indexed deadline
    let probe = ready(sessions.create(Owner::anonymous(), ())).unwrap();
    c.bench_function("lookup_1m_sessions", |b| {
        b.iter_batched(|| (), |()| ready(sessions.lookup(probe, &Owner::anonymous())).unwrap(), BatchSize::SmallInput)
    });
}

/// `Mcp-Method`-routed 2026-07-28 `tools/call` of `tool` with `{"text": "hello"}`.
fn tool_call_request(tool: &str) -> http::Request<Bytes> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"hello"}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    http::Request::post("/mcp")
        .header("host", "localhost:3000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(Bytes::from(body))
        .unwrap()
}

fn tool_call_typed_and_untyped(c: &mut Criterion) {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Echo {
        text: String,
    }
    let server = Server::builder("bench", "0.0.0")
        .tool(Tool::new("echo_value", "Echoes `text`"), |args: serde_json::Value, _| async move {
            match args["text"].as_str() {
                Some(text) => Ok(CallToolResult::text(text)),
                None => Ok(CallToolResult::error("`text` (a string) is required")),
            }
        })
        .typed_tool(Tool::new("echo_typed", "Echoes `text`"), |Echo { text }, _| async move {
            Ok(CallToolResult::text(text))
        })
        .build();
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let state = Arc::new(EngineState::new(Sessions::builder().build(), EngineConfig::default()));
    let engine = Engine::new(state, server, SpawnFn(move |task| spawner.spawn_local(task).expect("the pool runs")));
    let mut group = c.benchmark_group("tools_call_2026_07_28");
    group.throughput(Throughput::Elements(1));
    for tool in ["echo_value", "echo_typed"] {
        group.bench_function(tool, |b| {
            b.iter_batched(
                || tool_call_request(tool),
                |request| {
                    let response = pool.run_until(engine.handle(request));
                    let body: Vec<Bytes> = pool.run_until(response.into_body().collect());
                    assert!(body.concat().windows(5).any(|w| w == b"hello"), "echoed");
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn post(body: &'static str, session: Option<&str>) -> http::Request<Bytes> {
    let mut request = http::Request::post("http://localhost/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.body(Bytes::from_static(body.as_bytes())).unwrap()
}

/// What the front door costs per request: a `tools/call` answered as JSON on a session, and a
/// request refused with 404 (a session that does not exist). The pool only runs the work a
/// response leaves behind; each request is answered within `run_until`.
fn http_request(c: &mut Criterion) {
    let clock = ManualClock::new(Timestamp::from_millis(1_795_262_400_000));
    let sessions = Sessions::builder().clock(clock).ids(SessionIdGenerator::seeded(7)).build();
    let state = Arc::new(EngineState::new(sessions, EngineConfig::default()));
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let server = Server::builder("bench", "1.0.0")
        .tool(Tool::new("echo", "Returns its text argument"), |args: serde_json::Value, _ctx| async move {
            Ok(CallToolResult::text(args["text"].as_str().unwrap_or_default()))
        })
        .build();
    let engine = Engine::new(state, server, SpawnFn(move |task| spawner.spawn_local(task).expect("running")));
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
    let response = pool.run_until(engine.handle(post(initialize, None)));
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let _ = pool
        .run_until(engine.handle(post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, Some(&session))));
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
    let mut group = c.benchmark_group("http_request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("tools_call_json", |b| {
        b.iter(|| {
            let response = pool.run_until(engine.handle(post(call, Some(&session))));
            assert_eq!(response.status(), http::StatusCode::OK);
            pool.run_until_stalled();
            black_box(response)
        })
    });
    let unknown = "00000000000000000000000000000000";
    group.bench_function("unknown_session_404", |b| {
        b.iter(|| {
            let response = pool.run_until(engine.handle(post(call, Some(unknown))));
            assert_eq!(response.status(), http::StatusCode::NOT_FOUND);
            black_box(response)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = http_request, tool_call_typed_and_untyped, publish_and_deliver, replay_after_last_event_id,
        timeout_with_a_million_sessions
}
criterion_main!(benches);
