//! How the engine asks its host to run a task.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// Runs a task to completion on the host's executor, on the current thread.
///
/// The engine never spawns by itself. A request whose handler cannot answer at once keeps
/// running after its HTTP response has started (and after the client disconnects: the spec says
/// a dropped stream is not a cancellation), so the engine hands that work to the host. Handlers
/// need not be `Send`, so tasks are spawned locally: `tokio::task::spawn_local` inside a
/// `LocalSet`, `async_std::task::spawn_local`, `wasm_bindgen_futures::spawn_local`.
pub trait Spawn {
    /// Runs `task` to completion; it must not be dropped early.
    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()>>>);
}

impl<T: Spawn + ?Sized> Spawn for Rc<T> {
    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()>>>) {
        (**self).spawn(task)
    }
}

/// A [`Spawn`] from a closure.
///
/// ```
/// use mcp_session::{Spawn, SpawnFn};
///
/// fn on_tokio_local_set() -> impl Spawn {
///     SpawnFn(|task| {
///         tokio::task::spawn_local(task);
///     })
/// }
/// ```
pub struct SpawnFn<F>(pub F);

impl<F: Fn(Pin<Box<dyn Future<Output = ()>>>)> Spawn for SpawnFn<F> {
    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()>>>) {
        (self.0)(task)
    }
}
