//! The session era's lifecycle: `initialize` negotiates a revision and learns what the client
//! can do, and the client's notifications tell a session it is ready or a request is cancelled.
//! (The sessionless era has no lifecycle: see [`super::meta`].)

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::state::ClientCapabilities;
use super::Server;
use crate::jsonrpc::{ErrorObject, Id};
use crate::model::ProtocolVersion;

#[derive(Deserialize)]
struct InitializeParams {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
    #[serde(default)]
    capabilities: Value,
}

/// What `initialize` agreed.
#[derive(Debug)]
pub(crate) struct Negotiated {
    /// The revision of the session.
    pub(crate) version: ProtocolVersion,
    /// What the client declared it can do.
    pub(crate) client: ClientCapabilities,
    /// The `initialize` result.
    pub(crate) result: Value,
}

impl Server {
    /// Answers `initialize`. A revision that `initialize` cannot negotiate (unknown, or one
    /// without sessions) is answered with the latest it can; the client decides whether to go on.
    pub(crate) fn initialize(&self, params: Option<&RawValue>) -> Result<Negotiated, ErrorObject> {
        let params: InitializeParams = serde_json::from_str(params.map_or("{}", RawValue::get))
            .map_err(|e| ErrorObject::invalid_params(format!("Invalid initialize params: {e}")))?;
        let version = params
            .protocol_version
            .parse()
            .ok()
            .filter(|version: &ProtocolVersion| version.has_sessions())
            .unwrap_or(ProtocolVersion::LATEST);
        let client = ClientCapabilities::from_json(&params.capabilities);
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": self.capabilities(),
            "serverInfo": self.info,
        });
        if let Some(instructions) = &self.instructions {
            result["instructions"] = json!(instructions);
        }
        Ok(Negotiated { version, client, result })
    }
}

#[derive(Deserialize)]
struct CancelledParams {
    #[serde(rename = "requestId")]
    request_id: Id,
}

/// A notification from the client to its session that needs action.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ClientNotification {
    /// `notifications/initialized`: the handshake is complete.
    Initialized,
    /// `notifications/cancelled` for the client's request with this id.
    Cancelled(Id),
    /// Anything else (progress, roots/list_changed, unknown ones, malformed cancellations):
    /// accepted, and nothing to do.
    Ignored,
}

impl ClientNotification {
    pub(crate) fn parse(method: &str, params: Option<&RawValue>) -> Self {
        match method {
            "notifications/initialized" => Self::Initialized,
            "notifications/cancelled" => params
                .and_then(|raw| serde_json::from_str::<CancelledParams>(raw.get()).ok())
                .map_or(Self::Ignored, |cancelled| Self::Cancelled(cancelled.request_id)),
            _ => Self::Ignored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn initialize_negotiates_a_revision_with_sessions() {
        let server = Server::builder("s", "1").instructions("be kind").build();
        let asked = raw(r#"{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}}}"#);
        let negotiated = server.initialize(Some(&asked)).unwrap();
        assert_eq!(negotiated.version, ProtocolVersion::V2025_06_18);
        assert!(negotiated.client.sampling);
        assert_eq!(negotiated.result["instructions"], "be kind");
        for unserved in ["2026-07-28", "1999-01-01"] {
            let asked = raw(&format!(r#"{{"protocolVersion":"{unserved}"}}"#));
            assert_eq!(server.initialize(Some(&asked)).unwrap().version, ProtocolVersion::LATEST, "{unserved}");
        }
        assert!(server.initialize(None).is_err(), "protocolVersion is required");
    }

    #[test]
    fn notifications_that_need_action_are_told_apart() {
        assert_eq!(ClientNotification::parse("notifications/initialized", None), ClientNotification::Initialized);
        let cancel = raw(r#"{"requestId":"a","reason":"bored"}"#);
        assert_eq!(
            ClientNotification::parse("notifications/cancelled", Some(&cancel)),
            ClientNotification::Cancelled(Id::String("a".into()))
        );
        assert_eq!(ClientNotification::parse("notifications/cancelled", None), ClientNotification::Ignored);
        assert_eq!(ClientNotification::parse("notifications/progress", None), ClientNotification::Ignored);
    }
}
