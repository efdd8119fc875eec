//! The tokio host: hyper 1 on one current-thread runtime per worker.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mcp_session::host::HostConfig;
//! use mcp_session::{EngineConfig, EngineState, Server, Sessions};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:8080").unwrap();
//! let state = Arc::new(EngineState::new(Sessions::builder().build(), EngineConfig::default()));
//! let config = HostConfig::default().workers(2).idle_timeout(Duration::from_secs(30));
//! let running = mcp_session::host::tokio::spawn_with(listener, state, || Server::builder("demo", "1.0.0").build(), config).unwrap();
//! running.join();
//! ```

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};

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
/// let running = mcp_session::host::tokio::serve("127.0.0.1:8080", || {
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

/// Serves `state` on `listener` with `config.workers` threads, each building its own [`Server`]
/// with `make_server` (handlers need not be `Send`). Returns once the threads run.
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
    listener.set_nonblocking(true)?;
    let make_server = Arc::new(make_server);
    super::start_threads(listener, "mcp-tokio", config, move |index, listener, host| {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "cannot start a tokio runtime");
                return;
            }
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, worker(index, listener, state.clone(), make_server.clone(), host));
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
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot register the listener with tokio");
            return;
        }
    };
    let runtime = Runtime {
        spawn: |task| {
            tokio::task::spawn_local(task);
        },
        timer: TokioTimer::new(),
        accept: || async {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        },
        wrap: TokioIo::new,
    };
    worker::run(index, state, &*make_server, host, runtime).await;
}
