//! The connections a store sends its commands on: one per thread that runs a tokio runtime
//! (made by `host::redis_connections`, where what knows a runtime lives).
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
    own: crate::host::redis_connections::PerThread,
}

impl Connections {
    /// Connects to `client` with `config`; the connection made here is the shared one, and this
    /// thread's own when it runs a tokio runtime.
    pub(super) async fn connect(client: redis::Client, config: ConnectionManagerConfig) -> redis::RedisResult<Self> {
        let shared = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
        #[cfg(feature = "tokio")]
        let own = crate::host::redis_connections::PerThread::new(client, config, &shared);
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
