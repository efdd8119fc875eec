//! The server side of the Model Context Protocol (MCP) over its Streamable HTTP transport, as a
//! sans-IO engine: it owns the protocol and the session state machine, and never opens a socket,
//! spawns a task on its own, or reads the operating system's clock.
//!
//! # Layers
//!
//! - [`Sessions`]: the runtime-free core. Sessions with idle and absolute expiry, per-stream
//!   bounded replay logs behind `Last-Event-ID`, live fan-out to the subscriber of each stream,
//!   keep-alive heartbeats, metrics, all on an injected [`Clock`]. Storage sits behind the
//!   [`Store`] trait (default [`session::MemoryStore`]).
//! - [`Engine`]: MCP over Streamable HTTP on top of it: `http::Request<Bytes>` in,
//!   `http::Response<Body>` out, where the [`Body`] is JSON or an SSE stream. It serves both
//!   protocol eras on one endpoint, deciding per request from the body: the session era
//!   (2025-03-26 … 2025-11-25: `initialize`, sessions, resumable streams, server-to-client
//!   requests and their answers) and the sessionless era (2026-07-28: `server/discover`, a
//!   per-request `_meta` envelope, `subscriptions/listen`, input-required results). It
//!   validates headers, dispatches to the handlers of a [`Server`] — the same handlers in both
//!   eras — and decides JSON or SSE per request.
//! - [`host`] (features `tokio`, `async-std`): thin HTTP/1.1 servers on hyper; with `tower`,
//!   [`host::tower::McpService`], the engine as a tower service to mount in axum.
//! - `prometheus` (feature `prometheus`, enabled by the hosts): the engine's counters and gauges
//!   in the Prometheus text format, read at scrape time (`EngineState::render_prometheus`).
//! - [`redis`] (feature `redis`, with a host feature): the [`Store`] in Redis or Valkey, shared
//!   by every process of a service.
//! - `bindings/wasm` (a separate crate): the same engine in a `fetch(Request) -> Response`
//!   worker, sessions in Durable Objects.
//!
//! # The run loop
//!
//! A host calls [`Engine::handle`] for each request and drives the timers; everything else is
//! the engine's. This is what [`host::tokio`] does, minus the sockets:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use mcp_session::model::{CallToolResult, Tool};
//! use mcp_session::{Engine, EngineConfig, EngineState, Server, Sessions, SpawnFn};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Echo {
//!     text: String,
//! }
//!
//! # async fn serve(next_request: impl Fn() -> http::Request<Bytes>) {
//! let sessions = Sessions::builder().build(); // SystemClock, 30 min idle, 4 h absolute
//! let state = Arc::new(EngineState::new(sessions, EngineConfig::default()));
//! let server = Server::builder("demo", "1.0.0")
//!     .typed_tool(Tool::new("echo", "Returns its text"), |Echo { text }, _ctx| async move {
//!         Ok(CallToolResult::text(text))
//!     })
//!     .build();
//! // Work that outlives a response (a call still running) goes to the host's executor.
//! let engine = Engine::new(state.clone(), server, SpawnFn(|task| {
//!     tokio::task::spawn_local(task);
//! }));
//!
//! // For every HTTP request to the endpoint:
//! let response = engine.handle(next_request()).await; // write status, headers, then the body
//!
//! // And once per process, the timers: sleep until the next deadline, then do what is due.
//! loop {
//!     let changed = state.sessions().deadline_changed(); // listen first: no change is missed
//!     if let Some(at) = state.next_deadline() {
//!         let wait = at.saturating_since(state.sessions().now());
//!         tokio::select! { _ = tokio::time::sleep(wait) => {}, _ = changed => {} }
//!     } else {
//!         changed.await;
//!     }
//!     state.handle_timeout().await; // early or spurious calls do nothing
//! }
//! # }
//! ```
//!
//! # Time
//!
//! Every decision about time reads the [`Clock`] given at construction, once per operation:
//! [`SystemClock`] in production (through `web-time`, so it works on wasm), [`ManualClock`] in
//! tests, which move time by hours in microseconds. Time is wall-clock milliseconds
//! ([`Timestamp`]) so that records persisted in one process are judged by another. The engine
//! never lets its own "now" go backwards, even if the system clock is stepped back.
//!
//! # Invariants
//!
//! 1. Event ids are unique across the streams of a session, strictly increasing per stream, and
//!    name their stream (`3-17`: stream 3, message 17). A resume replays exactly the events of
//!    the resumed stream after the given id, in order, once — or says exactly how many were lost
//!    ([`StreamItem::Lagged`]); there is never a silent gap. Nothing is sent twice, a restore from
//!    storage included.
//! 2. Every buffer is bounded, by count and by bytes: replay logs and live windows per stream,
//!    retained events across all sessions, logs per session, sessions in total and per tenant,
//!    requests running per session, batch length, resource subscriptions, request bodies. A limit
//!    reached gives a typed outcome (a lagged notice with an exact count, 413, 429 or 503 with
//!    `Retry-After`), never unbounded growth.
//! 3. Expiry scans nothing: deadlines are kept ordered, so a sweep costs O(expired · log n) and
//!    [`Sessions::next_deadline`] O(log n). Ending a session costs O(that session).
//! 4. A session is served only to the tenant and principal that created it; ids carry 122 random
//!    bits from the operating system's CSPRNG and are visible ASCII.
//! 5. No input, however malformed, panics the engine or touches another session: bad requests
//!    get a precise status and a JSON-RPC error body and change nothing.
//! 6. The core never reads the OS clock, never depends on an async runtime and never spawns.
//! 7. A session with an attached stream or a running call is not idle; its idle timeout starts
//!    when the last of them ends ([`SessionsConfig::activity_holds`]). One never used after
//!    `initialize` expires after the initialization timeout.
//! 8. No handler is left waiting with nobody to wake it: a sender paced by its reader is woken by
//!    every change of that reader, and a reply that cannot be resumed (the client hung up before
//!    a response, in any mode) cancels its requests and fails their sends at once. Once a
//!    session ends nothing of it is left in the engine (streams, subscribers, requests in flight,
//!    resource watches): [`EngineState::holds_anything_of`].
//! 9. The era of a request is decided from its body before any session logic: a request of the
//!    sessionless era never reads, creates or touches a session, whatever `Mcp-Session-Id` or
//!    `Last-Event-ID` it carries, and nothing about a client is inferred from its earlier
//!    requests. A closed response stream cancels its request.
//! 10. A handler asks the client for input with the same call in both eras; in the sessionless
//!     era the answers come back only in a `requestState` the engine sealed for that owner,
//!     method and params, and a state that does not verify is refused before any handler runs.
//!     A listen stream gets its acknowledgement first and then only what it asked for, each
//!     frame tagged with its subscription id.
//! 11. A store that cannot answer (a remote store's outage, a refused write) makes the request a
//!     503 with `Retry-After` and a JSON-RPC error body, never a 404: no session is ended or
//!     forgotten because of it, and the engine serves again as soon as the store does.
//! 12. Replicas sharing a store and a [`bus::Bus`] serve a session as one process does: an event
//!     a handler on one publishes reaches the subscriber another holds once, in order, or is
//!     counted lost exactly (doorbells lost with a connection included); a client's answer,
//!     cancellation or DELETE posted to any replica reaches the one holding the request or the
//!     stream; a call whose replica stops (dies, or pauses past its lease) ends with one
//!     JSON-RPC error on the stream its client resumed elsewhere, and nothing more from that
//!     replica, and the sessions it held idle out from its lease's end. A client that connects
//!     to a stream on one replica ends its connection to it on another, as a resume does within
//!     one. Within one process, concurrent publishers never reorder what a subscriber sees.
//!     (Checked case by case in `tests/redis_bus.rs`, and under interleavings by the whole-engine
//!     simulation over two replicas on one Redis.)
//!
//! # Panics
//!
//! Only on misuse that is a bug in the caller, documented where it can happen (a zero replay
//! capacity in a configuration, publishing to a stream after finishing it, a [`ManualClock`]
//! moved backwards).
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[macro_use]
mod setters;

pub mod bridge;
pub mod bus;
mod clients;
pub mod clock;
mod coop;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(any(feature = "tokio", feature = "async-std"))]
pub mod host;
pub mod http;
pub mod jsonrpc;
mod listen;
mod metrics;
pub mod model;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(all(feature = "redis", any(feature = "tokio", feature = "async-std")))]
pub mod redis;
pub mod server;
pub mod session;
mod sessions;
mod spawn;
pub mod stream;
mod watch;

pub use bridge::{Bridge, ChangeEvent};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use http::{Body, Engine, EngineConfig, EngineState, Occupancy};
pub use listen::Change;
pub use metrics::MetricsSnapshot;
pub use server::{McpSession, RequestContext, Server};
pub use session::{Owner, Principal, SessionId, SessionIdGenerator, SessionRecord, Store, TenantId};
pub use sessions::{
    Census, PublishError, Resume, SessionHold, Sessions, SessionsBuilder, SessionsConfig, SubscribeError,
    SubscribeOptions, Subscription,
};
pub use spawn::{Spawn, SpawnFn};
pub use stream::{Event, EventId, StreamId, StreamItem};

/// The README's Rust example is compiled as a doc test.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
