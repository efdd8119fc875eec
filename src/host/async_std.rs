//! The async-std host: the same hyper connection driver on async-std's executor and sockets,
//! with async-io's timer (the reactor async-std runs on) for hyper and the connections' deadlines.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mcp_session::host::HostConfig;
//! use mcp_session::{EngineConfig, EngineState, Server, Sessions};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:8080").unwrap();
//! let state = Arc::new(EngineState::new(Sessions::builder().build(), EngineConfig::default()));
//! let config = HostConfig::default().workers(2).max_connections(256);
//! let running = mcp_session::host::async_std::spawn_with(listener, state, || Server::builder("demo", "1.0.0").build(), config).unwrap();
//! running.join();
//! ```

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::worker::{self, Runtime};
use super::{HostConfig, Running, Shared};
use crate::server::McpSession;
use crate::session::Store;
use crate::{EngineState, Server};

/// Serves the [`Server`]s `make_server` builds (one per worker thread) on `addr` with every
/// default: the in-memory store, [`EngineConfig::default`](crate::EngineConfig) (which accepts
/// loopback `Host` names only: bind 127.0.0.1 or configure the hosts) and [`HostConfig::default`].
/// Returns once the host listens; [`Running::join`] serves until it is stopped. For your own
/// store, limits or authentication, build an [`EngineState`] and call [`spawn_with`].
///
/// ```no_run
/// use mcp_session::model::{CallToolResult, Tool};
/// use mcp_session::Server;
///
/// let running = mcp_session::host::async_std::serve("127.0.0.1:8080", || {
///     Server::builder("demo", "1.0.0")
///         .tool(Tool::new("hello", "Says hello"), |_args: serde_json::Value, _ctx| async move {
///             Ok(CallToolResult::text("hello"))
///         })
///         .build()
/// })
/// .expect("127.0.0.1:8080 is free");
/// println!("serving on http://{}/mcp", running.local_addr());
/// running.join();
/// ```
pub fn serve<F>(addr: impl std::net::ToSocketAddrs, make_server: F) -> io::Result<Running>
where
    F: Fn() -> Server + Send + Sync + 'static,
{
    spawn_with(super::listen(addr)?, super::default_state(), make_server, HostConfig::default())
}

/// Serves `state` on `listener` with `workers` threads and the other [`HostConfig`] defaults.
/// See [`spawn_with`].
pub fn spawn<S, F>(
    listener: TcpListener,
    state: Arc<EngineState<S>>,
    make_server: F,
    workers: usize,
) -> io::Result<Running>
where
    S: Store<McpSession> + Send + Sync + 'static,
    F: Fn() -> Server + Send + Sync + 'static,
{
    spawn_with(listener, state, make_server, HostConfig::default().workers(workers))
}

/// Serves `state` on `listener` with `config.workers` threads, each running async-std's executor
/// on its own thread-local queue and building its own [`Server`] with `make_server`.
pub fn spawn_with<S, F>(
    listener: TcpListener,
    state: Arc<EngineState<S>>,
    make_server: F,
    config: HostConfig,
) -> io::Result<Running>
where
    S: Store<McpSession> + Send + Sync + 'static,
    F: Fn() -> Server + Send + Sync + 'static,
{
    let make_server = Arc::new(make_server);
    super::start_threads(listener, "mcp-async-std", config, move |index, listener, host| {
        async_std::task::block_on(worker(index, listener, state.clone(), make_server.clone(), host))
    })
}

async fn worker<S, F>(
    index: usize,
    listener: TcpListener,
    state: Arc<EngineState<S>>,
    make_server: Arc<F>,
    host: Arc<Shared>,
) where
    S: Store<McpSession> + Send + Sync + 'static,
    F: Fn() -> Server,
{
    let listener = async_std::net::TcpListener::from(listener);
    let runtime = Runtime {
        spawn: |task| {
            async_std::task::spawn_local(task);
        },
        timer: SmolTimer::new(),
        accept: || async {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        },
        wrap: FuturesIo::new,
    };
    worker::run(index, state, &*make_server, host, runtime).await;
}
