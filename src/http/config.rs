//! How the HTTP front door behaves.

use std::time::Duration;

use crate::server::RequestStateKey;

/// Which `Host` headers are accepted (DNS-rebinding protection).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostPolicy {
    /// Only `localhost`, `127.0.0.0/8` and `[::1]`, any port. The default: right for a server
    /// bound to loopback, and it refuses a rebinding attack's foreign host name.
    #[default]
    Loopback,
    /// Only these host names (compared without port, case-insensitively).
    Only(Vec<String>),
    /// Any host (behind a proxy that already checks it).
    Any,
}

/// Which `Origin` headers are accepted on browser requests (requests without `Origin` are not
/// from a browser and pass).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// An origin whose host the [`HostPolicy`] accepts. The default.
    #[default]
    SameAsHost,
    /// Exactly these origins (`https://app.example.com`).
    Only(Vec<String>),
    /// Any origin.
    Any,
}

/// How a POSTed request is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseMode {
    /// `application/json` when the handler answers at once without sending anything first;
    /// otherwise an SSE stream (primed, so the client can resume it) as soon as the handler has
    /// to wait or sends a notification or a request to the client. The default: quick calls cost
    /// no stream, long ones survive a dropped connection. A sessionless (2026-07-28) request has
    /// nothing to resume, so it is answered as in [`ResponseMode::Json`].
    #[default]
    Adaptive,
    /// Always an SSE stream, except for an error a sessionless (2026-07-28) request gets at once,
    /// which keeps its HTTP status.
    Sse,
    /// `application/json` unless the handler sends a notification or a request to the client,
    /// which upgrades the reply to SSE (where the official SDKs would drop the message).
    Json,
}

/// Options of the HTTP front door.
///
/// Start from the default and change what differs, by field or by the setter of the same name
/// (new options arrive with their defaults, so neither way breaks when one is added):
///
/// ```
/// use std::time::Duration;
/// use mcp_session::http::{EngineConfig, ResponseMode};
///
/// let config = EngineConfig::default().response_mode(ResponseMode::Sse).retry(Duration::from_millis(500));
/// assert_eq!(config.max_batch, 64);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The MCP endpoint's path. Default `/mcp`.
    pub path: String,
    /// Accepted `Host` headers. Default [`HostPolicy::Loopback`].
    pub hosts: HostPolicy,
    /// Accepted `Origin` headers. Default [`OriginPolicy::SameAsHost`].
    pub origins: OriginPolicy,
    /// Largest POST body accepted; larger gets 413. Default 4 MiB.
    pub max_body_bytes: usize,
    /// The SSE `retry` sent with priming events: how long a client waits before resuming a
    /// stream the server closed. Default 1 s.
    pub retry: Duration,
    /// What temporary refusals (429, 503) tell the client in `Retry-After`, rounded down to
    /// whole seconds (at least 1). Default 5 s.
    pub retry_after: Duration,
    /// JSON or SSE replies.
    pub response_mode: ResponseMode,
    /// No sessions: every POST stands alone, GET and DELETE get 405, no `Mcp-Session-Id` is
    /// issued, and requests to the client are impossible. Default off.
    pub stateless: bool,
    /// Logger name of change-event notifications. Default `"changes"`.
    pub bridge_logger: String,
    /// Messages a JSON-RPC batch may hold (2025-03-26 sessions); a longer batch gets 400.
    /// Default 64.
    pub max_batch: usize,
    /// Client requests one session may have running at once, in every response mode; beyond it
    /// a POST gets 429 with `Retry-After`. Default 64.
    pub max_calls_per_session: usize,
    /// Resource URIs one session may subscribe to; beyond it `resources/subscribe` gets a
    /// JSON-RPC error. Default 128.
    pub max_resource_subscriptions: usize,
    /// The resource URI each change-bridge topic (see [`Bridge::topic`](crate::Bridge::topic))
    /// is announced as to `subscriptions/listen` streams: a listener watching that URI gets
    /// `notifications/resources/updated` when its tenant's data changes. Default: every topic
    /// as `changes://<topic>` (`changes://documents_updated`, …).
    pub bridge_uris: Vec<(String, String)>,
    /// Seals the `requestState` of input-required results (2026-07-28), which clients echo
    /// back. Replicas serving the same clients must share it. Default: a random key per process.
    pub request_state_key: RequestStateKey,
    /// How long a `requestState` stays valid, on the engine's clock. Default 10 minutes.
    pub request_state_ttl: Duration,
    /// `subscriptions/listen` streams open at once, in total; beyond it a listen gets 429 with
    /// `Retry-After`. Default 4096.
    pub max_listens: usize,
    /// `subscriptions/listen` streams one authenticated principal may hold open at once
    /// (anonymous clients cannot be told apart, so they share [`EngineConfig::max_listens`]).
    /// Default 16.
    pub max_listens_per_principal: usize,
}

setters!(EngineConfig {
    path: String,
    hosts: HostPolicy,
    origins: OriginPolicy,
    max_body_bytes: usize,
    retry: Duration,
    retry_after: Duration,
    response_mode: ResponseMode,
    stateless: bool,
    bridge_logger: String,
    max_batch: usize,
    max_calls_per_session: usize,
    max_resource_subscriptions: usize,
    bridge_uris: Vec<(String, String)>,
    request_state_key: RequestStateKey,
    request_state_ttl: Duration,
    max_listens: usize,
    max_listens_per_principal: usize,
});

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            path: "/mcp".into(),
            hosts: HostPolicy::Loopback,
            origins: OriginPolicy::SameAsHost,
            max_body_bytes: 4 * 1024 * 1024,
            retry: Duration::from_secs(1),
            retry_after: Duration::from_secs(5),
            response_mode: ResponseMode::Adaptive,
            stateless: false,
            bridge_logger: "changes".into(),
            max_batch: 64,
            max_calls_per_session: 64,
            max_resource_subscriptions: 128,
            bridge_uris: [
                "memories_updated",
                "documents_updated",
                "consolidation_updated",
                "graph_updated",
                "tenant_updated",
                "memory_updated",
            ]
            .into_iter()
            .map(|topic| (topic.to_owned(), format!("changes://{topic}")))
            .collect(),
            request_state_key: RequestStateKey::random(),
            request_state_ttl: Duration::from_secs(600),
            max_listens: 4096,
            max_listens_per_principal: 16,
        }
    }
}
