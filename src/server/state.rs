//! What the MCP server remembers about each session (persisted with the session record).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{LogLevel, ProtocolVersion};

/// Per-session MCP state: the negotiated revision, what the client can do, and its settings.
///
/// Stored in the session record (see [`Store`](crate::Store)), so it survives wherever the
/// record does — a Durable Object's storage included. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpSession {
    /// The revision agreed in `initialize`.
    pub protocol_version: ProtocolVersion,
    /// What the client declared it supports.
    pub client: ClientCapabilities,
    /// The minimum level of log messages the client wants (`logging/setLevel`); `None` until set,
    /// meaning every level.
    pub log_level: Option<LogLevel>,
    /// Whether `notifications/initialized` arrived.
    pub initialized: bool,
    /// Resource URIs the client subscribed to.
    pub subscriptions: Arc<[Arc<str>]>,
}

impl McpSession {
    /// The state right after `initialize`.
    pub fn new(protocol_version: ProtocolVersion, client: ClientCapabilities) -> Self {
        Self { protocol_version, client, log_level: None, initialized: false, subscriptions: Arc::from([]) }
    }

    /// Whether the client subscribed to `uri`.
    pub fn is_subscribed(&self, uri: &str) -> bool {
        self.subscriptions.iter().any(|s| &**s == uri)
    }
}

/// The client capabilities the server acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCapabilities {
    /// `sampling/createMessage` may be sent.
    pub sampling: bool,
    /// `elicitation/create` may be sent.
    pub elicitation: bool,
    /// `roots/list` may be sent.
    pub roots: bool,
}

impl ClientCapabilities {
    /// Reads the `capabilities` object of `initialize`, ignoring anything unknown.
    pub fn from_json(capabilities: &serde_json::Value) -> Self {
        let has = |name: &str| capabilities.get(name).is_some_and(|v| !v.is_null());
        Self { sampling: has("sampling"), elicitation: has("elicitation"), roots: has("roots") }
    }
}
