//! The Redis store's connections on the tokio host: one per worker thread, made on and driven
//! by that thread's runtime, so that a command and its reply stay on their thread (see
//! `redis::connections` for why, and for what it falls back to).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::thread_local::ThreadLocal;

/// A thread's connection, and whether the runtime driving it still runs.
struct Own {
    connection: ConnectionManager,
    runtime_runs: Weak<()>,
}

/// What a thread has: its connection once made, and whether one is being made.
#[derive(Default)]
struct Slot {
    own: Mutex<Option<Own>>,
    connecting: AtomicBool,
}

/// A connection per thread, each made on and driven by the thread's tokio runtime.
pub(crate) struct PerThread {
    client: ::redis::Client,
    config: ConnectionManagerConfig,
    slots: ThreadLocal<Arc<Slot>>,
}

/// A token held by a task of the current runtime until the runtime shuts down.
fn runtime_token() -> Weak<()> {
    let token = Arc::new(());
    let held = Arc::downgrade(&token);
    ::tokio::spawn(async move {
        let _token = token;
        std::future::pending::<()>().await
    });
    held
}

impl PerThread {
    pub(crate) fn new(client: ::redis::Client, config: ConnectionManagerConfig, made: &ConnectionManager) -> Self {
        let per_thread = Self { client, config, slots: ThreadLocal::new() };
        if ::tokio::runtime::Handle::try_current().is_ok() {
            let own = Own { connection: made.clone(), runtime_runs: runtime_token() };
            *lock(per_thread.slots.get_or_default()) = Some(own);
        }
        per_thread
    }

    /// This thread's connection; `None` outside a tokio runtime, and until it is made (this
    /// starts making it).
    pub(crate) fn get(&self) -> Option<ConnectionManager> {
        ::tokio::runtime::Handle::try_current().ok()?;
        let slot = self.slots.get_or_default();
        if let Some(own) = &*lock(slot) {
            if own.runtime_runs.strong_count() > 0 {
                return Some(own.connection.clone());
            }
        }
        if !slot.connecting.swap(true, Ordering::AcqRel) {
            let (slot, client, config) = (slot.clone(), self.client.clone(), self.config.clone());
            ::tokio::spawn(async move {
                if let Ok(connection) = ConnectionManager::new_with_config(client, config).await {
                    *lock(&slot) = Some(Own { connection, runtime_runs: runtime_token() });
                }
                slot.connecting.store(false, Ordering::Release);
            });
        }
        None
    }
}

/// The slot's connection; a panic while it was held (there is none to have) loses nothing.
fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Option<Own>> {
    slot.own.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
