//! Thin hosts that run the engine on a real runtime: accept connections, speak HTTP/1.1 with
//! hyper, and call the engine's timers when they fall due. Everything else is shared.
//!
//! Each host runs one single-threaded executor per worker thread, all accepting on one listener:
//! handlers need not be `Send`, and a request's tasks stay on the thread that received it.
//!
//! # Limits
//!
//! A host holds under clients that misbehave, on purpose or not. Every limit is in
//! [`HostConfig`] and on by default:
//!
//! - **Connections**: at most [`HostConfig::max_connections`] open at once across all workers.
//!   At the cap the workers stop accepting, so further connections wait in the kernel's listen
//!   backlog (and are served as others close) rather than being refused.
//! - **Request heads**: a connection's first request head must be complete within
//!   [`HostConfig::header_read_timeout`] of the connection's start, and every later head within
//!   that long of its first byte; otherwise the connection is cut without an answer.
//! - **Idle keep-alive**: a connection with no request in flight (the last response fully sent,
//!   nothing of the next received) is closed after [`HostConfig::idle_timeout`]. A connection
//!   carrying an open SSE stream has a request in flight and is never idle.
//! - **Request bodies**: a body larger than [`Engine::max_body_bytes`](crate::Engine::max_body_bytes)
//!   gets 413, judged on the declared `Content-Length` before anything is read (so
//!   `Expect: 100-continue` gets no `100 Continue`). The bodies being read across the whole host
//!   hold at most [`HostConfig::body_budget_bytes`]; a body that does not fit gets 503 with
//!   `Retry-After`. A body that has not fully arrived within [`HostConfig::body_read_timeout`]
//!   gets 408. Each of these answers closes the connection.
//!
//! # Stopping
//!
//! [`Running::stop`] drains: the workers stop accepting, every connection is asked to shut down
//! gracefully (requests in flight run to their end and their answers are sent; idle keep-alive
//! connections close at once), and the host waits up to [`HostConfig::drain_timeout`] for them.
//! What is still open then, typically SSE streams (which have no end of their own), is dropped:
//! the client sees the connection close and resumes its stream with `Last-Event-ID` elsewhere.

mod activity;
#[cfg(feature = "async-std")]
pub mod async_std;
mod budget;
mod config;
mod connection;
mod limit;
#[cfg(all(feature = "tokio", feature = "redis"))]
pub(crate) mod redis_connections;
mod service;
mod timers;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "tower")]
pub mod tower;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use event_listener::Event as Notify;

use self::budget::BodyBudget;
pub use self::config::HostConfig;
use self::limit::ConnectionLimit;

/// A listening socket on `addr` for a host, with a backlog of 4096 rather than std's 128: at
/// [`HostConfig::max_connections`] the host stops accepting and new connections wait in the
/// backlog, and a full backlog makes the kernel drop handshakes the client believes completed.
pub fn listen(addr: impl std::net::ToSocketAddrs) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let mut last = std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on");
    for address in addr.to_socket_addrs()? {
        let attempt = (|| {
            let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            socket.bind(&address.into())?;
            socket.listen(4096)?;
            Ok(std::net::TcpListener::from(socket))
        })();
        match attempt {
            Ok(listener) => return Ok(listener),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// What the one-call `serve` of each host serves with: the in-memory store, the engine's and the
/// sessions' defaults.
fn default_state() -> Arc<crate::EngineState> {
    Arc::new(crate::EngineState::new(crate::Sessions::builder().build(), crate::EngineConfig::default()))
}

/// A running host: its address, and the threads serving it.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// The address the host listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the host and waits for its threads: stops accepting, lets requests in flight
    /// finish and closes idle connections, and after [`HostConfig::drain_timeout`] drops the
    /// connections still open (SSE streams). Returns when every worker thread has ended.
    pub fn stop(self) {
        self.shared.stop.trigger();
        self.join();
    }

    /// Waits for the worker threads (forever, unless another handle stops them).
    pub fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// What every worker of one host shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: HostConfig,
    /// Triggered by [`Running::stop`].
    pub(crate) stop: Stop,
    /// Open connections across the workers.
    pub(crate) connections: Arc<ConnectionLimit>,
    /// Bytes of request bodies being read across the workers.
    pub(crate) bodies: Arc<BodyBudget>,
}

/// A one-way signal any number of tasks can wait for.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    stopped: AtomicBool,
    notify: Notify,
}

impl Stop {
    pub(crate) fn trigger(&self) {
        self.stopped.store(true, Ordering::Release);
        self.notify.notify(usize::MAX);
    }

    /// Whether [`Stop::trigger`] has been called.
    #[cfg(feature = "tower")]
    pub(crate) fn is_triggered(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub(crate) async fn wait(&self) {
        loop {
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            let listener = self.notify.listen();
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            listener.await;
        }
    }
}

/// Starts `config.workers` threads named `<name>-<index>`, each running
/// `thread(index, listener, shared)` on its own clone of the listening socket.
pub(crate) fn start_threads<T>(
    listener: std::net::TcpListener,
    name: &str,
    config: HostConfig,
    thread: T,
) -> std::io::Result<Running>
where
    T: Fn(usize, std::net::TcpListener, Arc<Shared>) + Send + Sync + 'static,
{
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        stop: Stop::default(),
        connections: ConnectionLimit::new(config.max_connections),
        bodies: BodyBudget::new(config.body_budget_bytes),
        config,
    });
    let thread = Arc::new(thread);
    let mut threads = Vec::new();
    for index in 0..shared.config.workers.max(1) {
        let started = listener.try_clone().and_then(|listener| {
            let (shared, thread) = (shared.clone(), thread.clone());
            std::thread::Builder::new().name(format!("{name}-{index}")).spawn(move || thread(index, listener, shared))
        });
        match started {
            Ok(handle) => threads.push(handle),
            Err(error) => {
                // The threads already started would otherwise serve on with no handle to stop them.
                Running { addr, shared, threads }.stop();
                return Err(error);
            }
        }
    }
    Ok(Running { addr, shared, threads })
}

/// Number of worker threads a host starts by default: one per available core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Waits on whichever runtime polls the caller (for the Redis bus's reconnects, which either
/// host's runtime may run).
#[cfg(feature = "redis")]
pub(crate) async fn pause(duration: std::time::Duration) {
    #[cfg(feature = "tokio")]
    if ::tokio::runtime::Handle::try_current().is_ok() {
        ::tokio::time::sleep(duration).await;
        return;
    }
    #[cfg(feature = "async-std")]
    ::async_std::task::sleep(duration).await;
    #[cfg(not(feature = "async-std"))]
    let _ = duration;
}
