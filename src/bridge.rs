//! The change-event bridge: the application's "data changed" events become MCP log
//! notifications on the standalone streams of the affected tenant's sessions.

use std::sync::Arc;

use async_broadcast::{Receiver, RecvError};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::session::{SessionId, Store, TenantId};
use crate::sessions::Sessions;

/// Something changed in the application's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// What kind of record changed (`episode`, `document`, `chunk`, `cluster`, `triple`,
    /// `tenant`, or anything else).
    pub kind: String,
    /// Why, in the application's words.
    pub reason: String,
    /// The tenant whose data changed; only that tenant's sessions are told.
    pub tenant_id: String,
    /// When, in milliseconds since the Unix epoch.
    pub ts_ms: u64,
}

/// Turns [`ChangeEvent`]s into `notifications/message` and fans them out to a tenant's sessions.
#[derive(Clone, Debug)]
pub struct Bridge {
    logger: Arc<str>,
}

impl Bridge {
    /// A bridge whose notifications carry `logger` as their logger name.
    pub fn new(logger: impl Into<Arc<str>>) -> Self {
        Self { logger: logger.into() }
    }

    /// The `data` a change of `kind` is announced as.
    pub fn topic(kind: &str) -> &'static str {
        match kind {
            "episode" => "memories_updated",
            "document" | "chunk" => "documents_updated",
            "cluster" => "consolidation_updated",
            "triple" => "graph_updated",
            "tenant" => "tenant_updated",
            _ => "memory_updated",
        }
    }

    /// The JSON-RPC notification announcing `event`.
    ///
    /// ```
    /// use mcp_session::{Bridge, ChangeEvent};
    ///
    /// let event = ChangeEvent { kind: "chunk".into(), reason: "ingest".into(), tenant_id: "acme".into(), ts_ms: 7 };
    /// let message: serde_json::Value = serde_json::from_slice(&Bridge::new("memory").notification(&event)).unwrap();
    /// assert_eq!(message["method"], "notifications/message");
    /// assert_eq!(message["params"]["level"], "info");
    /// assert_eq!(message["params"]["data"], "documents_updated");
    /// assert_eq!(message["params"]["details"]["reason"], "ingest");
    /// ```
    pub fn notification(&self, event: &ChangeEvent) -> Bytes {
        let message = json!({
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": {
                "level": "info",
                "logger": &*self.logger,
                "data": Self::topic(&event.kind),
                "details": {
                    "reason": event.reason,
                    "tenant_id": event.tenant_id,
                    "ts_ms": event.ts_ms,
                    "kind": event.kind,
                },
            },
        });
        Bytes::from(serde_json::to_vec(&message).expect("a JSON value always serializes"))
    }

    /// Announces one event to the sessions of its tenant whose state `accept`s an `info` log
    /// message, except `except` (the session that made the change). Returns how many sessions
    /// were told.
    pub async fn forward<D, S, F>(
        &self,
        sessions: &Sessions<D, S>,
        event: &ChangeEvent,
        except: Option<SessionId>,
        accept: F,
    ) -> usize
    where
        S: Store<D>,
        F: Fn(&D) -> bool,
    {
        let tenant = TenantId::new(event.tenant_id.as_str());
        sessions.publish_to_tenant(&tenant, self.notification(event), except, accept).await
    }

    /// Forwards every event of `source` until it closes. A source that overflowed (this bridge
    /// fell behind the application) is logged and skipped, not treated as an error: the events
    /// it lost are the application's to resend.
    pub async fn run<D, S, F>(&self, sessions: &Sessions<D, S>, source: Receiver<ChangeEvent>, accept: F)
    where
        S: Store<D>,
        F: Fn(&D) -> bool,
    {
        self.run_with(sessions, source, async |_| 0, accept).await
    }

    /// [`Bridge::run`], with `also` run for each event first (the engine tells its listen
    /// streams there).
    pub(crate) async fn run_with<D, S, F, A>(
        &self,
        sessions: &Sessions<D, S>,
        mut source: Receiver<ChangeEvent>,
        also: A,
        accept: F,
    ) where
        S: Store<D>,
        F: Fn(&D) -> bool,
        A: AsyncFn(&ChangeEvent) -> usize,
    {
        loop {
            match source.recv_direct().await {
                Ok(event) => {
                    also(&event).await;
                    self.forward(sessions, &event, None, &accept).await;
                }
                Err(RecvError::Overflowed(skipped)) => {
                    tracing::warn!(skipped, "change-event source lagged; skipping to the newest events");
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_table() {
        let table = [
            ("episode", "memories_updated"),
            ("document", "documents_updated"),
            ("chunk", "documents_updated"),
            ("cluster", "consolidation_updated"),
            ("triple", "graph_updated"),
            ("tenant", "tenant_updated"),
            ("note", "memory_updated"),
            ("", "memory_updated"),
        ];
        for (kind, topic) in table {
            assert_eq!(Bridge::topic(kind), topic, "{kind}");
        }
    }

    #[test]
    fn notification_carries_every_detail() {
        let event = ChangeEvent { kind: "triple".into(), reason: "merge".into(), tenant_id: "t1".into(), ts_ms: 42 };
        let message: serde_json::Value = serde_json::from_slice(&Bridge::new("kb").notification(&event)).unwrap();
        assert_eq!(
            message,
            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {
                "level": "info", "logger": "kb", "data": "graph_updated",
                "details": {"reason": "merge", "tenant_id": "t1", "ts_ms": 42, "kind": "triple"}}})
        );
    }
}
