//! The async-std host: the same hyper connection driver on async-std's executor and sockets.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mcp_session::{EngineConfig, EngineState, Server, Sessions};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:8080").unwrap();
//! let state = Arc::new(EngineState::new(Sessions::builder().build(), EngineConfig::default()));
//! let running = mcp_session::host::async_std::spawn(listener, state, || Server::builder("demo", "1.0.0").build(), 2).unwrap();
//! running.join();
//! ```

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use smol_hyper::rt::FuturesIo;

use super::worker::{self, LocalTask, Runtime};
use super::{service, Running, Stop};
use crate::server::McpSession;
use crate::session::Store;
use crate::{Engine, EngineState, Server};

/// Serves `state` on `listener` with `workers` threads, each running async-std's executor on
/// its own thread-local queue and building its own [`Server`] with `make_server`.
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
    let make_server = Arc::new(make_server);
    super::start_threads(listener, "mcp-async-std", workers, move |index, listener, stop| {
        async_std::task::block_on(worker(index, listener, state.clone(), make_server.clone(), stop))
    })
}

async fn worker<S, F>(
    index: usize,
    listener: TcpListener,
    state: Arc<EngineState<S>>,
    make_server: Arc<F>,
    stop: Arc<Stop>,
) where
    S: Store<McpSession> + Send + Sync + 'static,
    F: Fn() -> Server,
{
    let listener = async_std::net::TcpListener::from(listener);
    let runtime = Runtime {
        spawn: |task| {
            async_std::task::spawn_local(task);
        },
        sleep: async_std::task::sleep,
        accept: || async {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        },
        serve: |engine: Engine<S>, tcp| -> LocalTask {
            Box::pin(async move {
                let service = service_fn(move |request| service::handle(engine.clone(), request));
                let connection = http1::Builder::new().serve_connection(FuturesIo::new(tcp), service);
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "connection ended with an error");
                }
            })
        },
    };
    worker::run(index, state, &*make_server, stop, runtime).await;
}
