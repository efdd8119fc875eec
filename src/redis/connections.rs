//! The connections a store sends its commands on: one per thread that runs a tokio runtime.
//!
//! A connection is driven by a task on the runtime that made it. Were one connection shared by
//! every worker thread, each command would hop to the thread driving it and its reply hop back:
//! two wake-ups across threads a command, measured at a quarter of a replica's CPU for a tool
//! call. So a thread sending from inside a tokio runtime gets a connection of its own, made in
//! the background on that runtime at its first command (which goes on the shared connection),
//! and its commands then stay on their thread. A runtime that shut down takes its connections'
//! tasks with it, so each thread's connection is kept together with a token a task of that
//! runtime holds: once the token is gone, the thread makes a new connection on the runtime it
//! runs in now.
//!
//! Elsewhere (async-std, whose executor has no thread of its own to stay on; a thread outside
//! any runtime), and until a thread's own connection is made (Redis may be down: the thread
//! tries again once the attempt is over), commands go on the connection the store was made
//! with.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// See the [module docs](self).
pub(super) struct Connections {
    shared: ConnectionManager,
    #[cfg(feature = "tokio")]
    own: per_thread::PerThread,
}

impl Connections {
    /// Connects to `client` with `config`; the connection made here is the shared one, and this
    /// thread's own when it runs a tokio runtime.
    pub(super) async fn connect(client: redis::Client, config: ConnectionManagerConfig) -> redis::RedisResult<Self> {
        let shared = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
        #[cfg(feature = "tokio")]
        let own = per_thread::PerThread::new(client, config, &shared);
        Ok(Self {
            shared,
            #[cfg(feature = "tokio")]
            own,
        })
    }

    /// The connection made with the store, for what must not depend on the calling thread.
    pub(super) fn shared(&self) -> ConnectionManager {
        self.shared.clone()
    }

    /// The connection to send a command on from this thread.
    pub(super) fn get(&self) -> ConnectionManager {
        #[cfg(feature = "tokio")]
        if let Some(own) = self.own.get() {
            return own;
        }
        self.shared.clone()
    }
}

#[cfg(feature = "tokio")]
mod per_thread {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, Weak};

    use redis::aio::{ConnectionManager, ConnectionManagerConfig};
    use thread_local::ThreadLocal;

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

    pub(super) struct PerThread {
        client: redis::Client,
        config: ConnectionManagerConfig,
        slots: ThreadLocal<Arc<Slot>>,
    }

    /// A token held by a task of the current runtime until the runtime shuts down.
    fn runtime_token() -> Weak<()> {
        let token = Arc::new(());
        let held = Arc::downgrade(&token);
        tokio::spawn(async move {
            let _token = token;
            std::future::pending::<()>().await
        });
        held
    }

    impl PerThread {
        pub(super) fn new(client: redis::Client, config: ConnectionManagerConfig, made: &ConnectionManager) -> Self {
            let per_thread = Self { client, config, slots: ThreadLocal::new() };
            if tokio::runtime::Handle::try_current().is_ok() {
                let own = Own { connection: made.clone(), runtime_runs: runtime_token() };
                *lock(per_thread.slots.get_or_default()) = Some(own);
            }
            per_thread
        }

        /// This thread's connection; `None` outside a tokio runtime, and until it is made (this
        /// starts making it).
        pub(super) fn get(&self) -> Option<ConnectionManager> {
            tokio::runtime::Handle::try_current().ok()?;
            let slot = self.slots.get_or_default();
            if let Some(own) = &*lock(slot) {
                if own.runtime_runs.strong_count() > 0 {
                    return Some(own.connection.clone());
                }
            }
            if !slot.connecting.swap(true, Ordering::AcqRel) {
                let (slot, client, config) = (slot.clone(), self.client.clone(), self.config.clone());
                tokio::spawn(async move {
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
}
