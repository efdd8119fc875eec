//! A request's `params._meta`: the progress token of every revision, and from 2026-07-28 the
//! per-request envelope that replaces `initialize` (revision, client capabilities, client info,
//! log level).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::state::ClientCapabilities;
use crate::jsonrpc::ErrorObject;
use crate::model::{LogLevel, ProtocolVersion};

/// `_meta` key of the request's protocol revision; its presence is what makes a request one of
/// the sessionless era (the "claim").
pub(crate) const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of what the client can do, for this request only.
pub(crate) const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the client's name and version (display only, never required).
pub(crate) const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key of the lowest log level the client wants on this request's stream.
pub(crate) const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key naming the `subscriptions/listen` request a message belongs to.
pub(crate) const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// `_meta` key of the server's name and version on results.
pub(crate) const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

#[derive(Deserialize)]
struct Params {
    #[serde(rename = "_meta", default)]
    meta: Option<Value>,
}

/// What a request's `params._meta` holds, read once per request.
#[derive(Debug, Default)]
pub(crate) struct RequestMeta {
    /// `_meta` itself, when it is an object.
    fields: Option<Map<String, Value>>,
    /// `_meta` is present but not an object.
    malformed: bool,
}

impl RequestMeta {
    /// Reads `_meta` from a request's params. Only params that mention `_meta` pay for a second
    /// look.
    pub(crate) fn read(params: Option<&RawValue>) -> Self {
        let Some(raw) = params.map(RawValue::get) else { return Self::default() };
        if !raw.contains("\"_meta\"") {
            return Self::default();
        }
        match serde_json::from_str::<Params>(raw).map(|p| p.meta) {
            Ok(Some(Value::Object(fields))) => Self { fields: Some(fields), malformed: false },
            Ok(None | Some(Value::Null)) | Err(_) => Self::default(),
            Ok(Some(_)) => Self { fields: None, malformed: true },
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.fields.as_ref()?.get(key)
    }

    /// Whether the request claims the sessionless era (its `_meta` names a protocol revision).
    pub(crate) fn claims_sessionless(&self) -> bool {
        self.get(PROTOCOL_VERSION).is_some()
    }

    /// The progress token, if the client asked for progress.
    pub(crate) fn progress_token(&self) -> Option<Value> {
        self.get("progressToken").filter(|t| !t.is_null()).cloned()
    }

    /// Validates the sessionless envelope: a revision string and a capabilities object are
    /// required, client info is optional, a log level must be one of the spec's.
    ///
    /// The revision is returned as sent, unparsed: whether it is served is a later rung of the
    /// validation ladder than whether the headers agree with it.
    pub(crate) fn envelope(&self) -> Result<Envelope, ErrorObject> {
        let missing = |what: &str| {
            ErrorObject::invalid_params(format!(
                "Invalid params: _meta[\"{what}\"] is required on every request of protocol revision 2026-07-28 \
                 and later"
            ))
        };
        if self.malformed {
            return Err(ErrorObject::invalid_params("Invalid params: _meta must be an object"));
        }
        let version = match self.get(PROTOCOL_VERSION) {
            Some(Value::String(version)) => version.clone(),
            Some(_) => {
                return Err(ErrorObject::invalid_params(format!("Invalid params: {PROTOCOL_VERSION} must be a string")))
            }
            None => return Err(missing(PROTOCOL_VERSION)),
        };
        let capabilities = match self.get(CLIENT_CAPABILITIES) {
            Some(capabilities @ Value::Object(_)) => ClientCapabilities::from_json(capabilities),
            Some(_) => {
                return Err(ErrorObject::invalid_params(format!(
                    "Invalid params: {CLIENT_CAPABILITIES} must be an object"
                )))
            }
            None => return Err(missing(CLIENT_CAPABILITIES)),
        };
        let log_level = match self.get(LOG_LEVEL) {
            None | Some(Value::Null) => None,
            Some(level) => Some(LogLevel::deserialize(level).map_err(|_| {
                ErrorObject::invalid_params(format!("Invalid params: {LOG_LEVEL} {level} is not a log level"))
            })?),
        };
        let client_info = self.get(CLIENT_INFO).filter(|info| info.is_object()).cloned();
        Ok(Envelope { version, capabilities, client_info, log_level })
    }
}

/// The per-request envelope of the sessionless era, validated.
#[derive(Debug)]
pub(crate) struct Envelope {
    /// The revision as sent (see [`RequestMeta::envelope`]).
    pub(crate) version: String,
    pub(crate) capabilities: ClientCapabilities,
    /// The client's name and version, if it sent them (display only).
    pub(crate) client_info: Option<Value>,
    pub(crate) log_level: Option<LogLevel>,
}

impl Envelope {
    /// The revision, if it is one served without sessions.
    pub(crate) fn served_version(&self) -> Option<ProtocolVersion> {
        self.version.parse::<ProtocolVersion>().ok().filter(|v| v.is_sessionless())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(params: &str) -> RequestMeta {
        let raw: Box<RawValue> = serde_json::from_str(params).unwrap();
        RequestMeta::read(Some(&raw))
    }

    #[test]
    fn the_claim_is_the_revision_key_in_meta() {
        assert!(meta(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#).claims_sessionless());
        assert!(meta(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":7}}"#).claims_sessionless());
        assert!(!meta(r#"{"_meta":{"progressToken":1}}"#).claims_sessionless());
        assert!(!meta(r#"{"name":"_meta"}"#).claims_sessionless());
        assert!(!RequestMeta::read(None).claims_sessionless());
    }

    #[test]
    fn the_envelope_needs_a_revision_and_capabilities_but_not_client_info() {
        let ok = meta(
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
                "io.modelcontextprotocol/clientCapabilities":{"sampling":{}},
                "io.modelcontextprotocol/logLevel":"warning"}}"#,
        )
        .envelope()
        .unwrap();
        assert_eq!(ok.served_version(), Some(ProtocolVersion::V2026_07_28));
        assert!(ok.capabilities.sampling && !ok.capabilities.elicitation);
        assert_eq!(ok.log_level, Some(LogLevel::Warning));
        for bad in [
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#,
            r#"{"_meta":{"io.modelcontextprotocol/clientCapabilities":{}}}"#,
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":1,"io.modelcontextprotocol/clientCapabilities":{}}}"#,
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":[]}}"#,
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},
                "io.modelcontextprotocol/logLevel":"loud"}}"#,
            r#"{"_meta":"2026-07-28"}"#,
        ] {
            let error = meta(bad).envelope().unwrap_err();
            assert_eq!(error.code, crate::jsonrpc::ErrorCode::INVALID_PARAMS, "{bad}");
        }
        let old = meta(
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25","io.modelcontextprotocol/clientCapabilities":{}}}"#,
        );
        assert_eq!(old.envelope().unwrap().served_version(), None, "a session-era revision is not served sessionless");
    }
}
