//! How a host treats its connections: threads, the connection cap, the timeouts of each phase
//! of a connection, the memory that request bodies may hold, and how long a stop waits.

use std::time::Duration;

/// Options of a host ([`host::tokio::spawn_with`](super::tokio::spawn_with),
/// [`host::async_std::spawn_with`](super::async_std::spawn_with)).
///
/// Every limit is on by default, sized for one machine serving many clients: a client that
/// connects and sends nothing, sends its request slowly, or keeps an idle connection open holds
/// a file descriptor and some memory, and each of these is bounded. Set fields directly or chain
/// the setters:
///
/// ```
/// use std::time::Duration;
/// use mcp_session::host::HostConfig;
///
/// let config = HostConfig::default().workers(2).max_connections(256).idle_timeout(Duration::from_secs(30));
/// assert_eq!(config.max_connections, 256);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostConfig {
    /// Worker threads, each with its own single-threaded executor, all accepting on the one
    /// listener. Default [`default_workers`](super::default_workers), one per core: handlers need
    /// not be `Send`, so a thread per core is what spreads the load. At least 1.
    pub workers: usize,
    /// Connections open at once across all workers. At the cap the workers stop accepting, so new
    /// connections wait in the kernel's listen backlog until one closes (backpressure, not
    /// refusal). Default 1024: below the usual soft limit on file descriptors, so `accept` does
    /// not fail with `EMFILE` first. At least 1.
    pub max_connections: usize,
    /// How long a client may take to send a request's head (request line and headers), counted
    /// from the connection's start for the first request and from the first byte for later ones.
    /// A head not complete in time gets the connection closed without an answer. Default 10 s:
    /// a real client sends its head at once; a slow one is a client holding a connection open.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait with no request in flight (the previous answer
    /// fully sent, not a byte of the next request received) before it is closed. A connection
    /// streaming an SSE response is not idle. Default 60 s: long enough for a client's next call
    /// to reuse the connection, short enough that idle clients do not pile up.
    pub idle_timeout: Duration,
    /// How long the whole body of a request may take to arrive once its head is in. A late body
    /// gets 408 and the connection closes. Default 30 s: a 4 MiB body on a slow link arrives
    /// well within it; a stalled one no longer holds its bytes and its connection for ever.
    pub body_read_timeout: Duration,
    /// Bytes of request bodies being read at once across the whole host. A declared
    /// `Content-Length` is reserved before reading, a chunked body chunk by chunk; a request that
    /// does not fit gets 503 with `Retry-After`. Bytes are released once the engine has answered.
    /// Default 64 MiB: sixteen bodies of the engine's default 4 MiB limit, and many thousands of
    /// ordinary calls, in a bounded amount of memory. Keep it at least
    /// [`EngineConfig::max_body_bytes`](crate::EngineConfig::max_body_bytes), or the largest
    /// bodies can never fit.
    pub body_budget_bytes: usize,
    /// How long [`Running::stop`](super::Running::stop) lets in-flight requests finish before it
    /// drops what is left (open SSE streams, which never finish by themselves). Default 10 s: a
    /// typical deploy's grace period, after which the client resumes its stream elsewhere.
    pub drain_timeout: Duration,
    /// A path, outside the MCP endpoint, where `GET` answers the engine's metrics in the
    /// Prometheus text format ([`EngineState::render_prometheus`](crate::EngineState::render_prometheus)),
    /// before any body is read and without the endpoint's Host, Origin and authentication checks:
    /// anyone who reaches the port can scrape it, so bind to an interface only scrapers reach, or
    /// put the server behind a proxy that serves only the endpoint. Other methods get 405.
    /// Default `None`: every path goes to the engine (which answers 404 off its endpoint).
    pub metrics_path: Option<String>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            workers: super::default_workers(),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            body_budget_bytes: 64 * 1024 * 1024,
            drain_timeout: Duration::from_secs(10),
            metrics_path: None,
        }
    }
}

impl HostConfig {
    /// Sets [`HostConfig::workers`] (0 counts as 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Sets [`HostConfig::max_connections`] (0 counts as 1).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Sets [`HostConfig::header_read_timeout`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`HostConfig::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`HostConfig::body_read_timeout`].
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets [`HostConfig::body_budget_bytes`].
    pub fn body_budget_bytes(mut self, bytes: usize) -> Self {
        self.body_budget_bytes = bytes;
        self
    }

    /// Sets [`HostConfig::drain_timeout`].
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Sets [`HostConfig::metrics_path`] (`Some("/metrics")` to serve metrics there).
    pub fn metrics_path(mut self, path: Option<impl Into<String>>) -> Self {
        self.metrics_path = path.map(Into::into);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_never_configure_a_host_that_cannot_serve() {
        let config = HostConfig::default().workers(0).max_connections(0);
        assert_eq!((config.workers, config.max_connections), (1, 1));
    }

    #[test]
    fn the_default_budget_holds_the_engines_largest_body() {
        let engine = crate::EngineConfig::default();
        assert!(HostConfig::default().body_budget_bytes >= engine.max_body_bytes);
    }
}
