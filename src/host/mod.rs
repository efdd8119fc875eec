//! Thin hosts that run the engine on a real runtime: accept connections, speak HTTP/1.1 with
//! hyper, and call the engine's timers when they fall due. Everything else is shared.
//!
//! Each host runs one single-threaded executor per worker thread, all accepting on one listener:
//! handlers need not be `Send`, and a request's tasks stay on the thread that received it.

#[cfg(feature = "async-std")]
pub mod async_std;
mod service;
mod timers;
#[cfg(feature = "tokio")]
pub mod tokio;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use event_listener::Event as Notify;

/// A running host: its address, and the threads serving it.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// The address the host listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, ends the worker threads, and waits for them.
    /// Open connections are dropped.
    pub fn stop(self) {
        self.stop.trigger();
        self.join();
    }

    /// Waits for the worker threads (forever, unless another handle stops them).
    pub fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Stop {
    stopped: AtomicBool,
    notify: Notify,
}

impl Stop {
    fn trigger(&self) {
        self.stopped.store(true, Ordering::Release);
        self.notify.notify(usize::MAX);
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

/// Starts `workers` threads named `<name>-<index>`, each running `thread(index, listener, stop)`
/// on its own clone of the listening socket.
pub(crate) fn start_threads<T>(
    listener: std::net::TcpListener,
    name: &str,
    workers: usize,
    thread: T,
) -> std::io::Result<Running>
where
    T: Fn(usize, std::net::TcpListener, Arc<Stop>) + Send + Sync + 'static,
{
    let addr = listener.local_addr()?;
    let stop = Arc::new(Stop::default());
    let thread = Arc::new(thread);
    let mut threads = Vec::new();
    for index in 0..workers.max(1) {
        let (listener, stop, thread) = (listener.try_clone()?, stop.clone(), thread.clone());
        threads.push(
            std::thread::Builder::new().name(format!("{name}-{index}")).spawn(move || thread(index, listener, stop))?,
        );
    }
    Ok(Running { addr, stop, threads })
}

/// Number of worker threads a host starts by default: one per available core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
