//! Which protocol era a POST belongs to, decided from its body before any session logic, with
//! the headers as a cross-check; and the header rungs of the sessionless era's validation
//! ladder.
//!
//! A request whose `params._meta` names a protocol revision (the "claim") is of the sessionless
//! era (2026-07-28 and later), whatever its method: `Mcp-Session-Id` and `Last-Event-ID` are
//! ignored on it. Everything else is of the session era and is served exactly as before.

use std::borrow::Cow;

use http::HeaderMap;
use serde_json::json;
use serde_json::value::RawValue;

use super::headers::{MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION};
use crate::jsonrpc::{BadMember, ErrorCode, ErrorObject, Id, Incoming};
use crate::model::ProtocolVersion;
use crate::server::{Envelope, RequestMeta};

/// What a POST is, era-wise.
pub(crate) enum Era<'a> {
    /// The session era: `initialize`, sessions, the GET stream, as before.
    Sessions,
    /// One request of the sessionless era.
    Sessionless(Sessionless<'a>),
    /// A sessionless notification or client response: nothing to act on (the sessionless era
    /// defines no client notifications over HTTP, and honouring a posted cancellation would let
    /// one caller cancel another's work). Answered 202 and dropped.
    Dropped,
}

/// A request of the sessionless era, before its envelope is validated.
pub(crate) struct Sessionless<'a> {
    pub(crate) id: Id,
    pub(crate) method: Cow<'a, str>,
    pub(crate) params: Option<&'a RawValue>,
    pub(crate) meta: RequestMeta,
}

/// A POST refused while its era was decided or its envelope checked: an HTTP status and the
/// JSON-RPC error, echoing the request id when there is one.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) status: http::StatusCode,
    pub(crate) id: Option<Id>,
    pub(crate) error: ErrorObject,
}

impl Refused {
    pub(crate) fn into_response(self) -> http::Response<super::body::Body> {
        super::reply::error(self.status, self.id.as_ref(), &self.error)
    }

    fn bad_request(id: Option<Id>, error: ErrorObject) -> Self {
        Self { status: http::StatusCode::BAD_REQUEST, id, error }
    }

    fn header_mismatch(id: &Id, message: String) -> Self {
        Self::bad_request(Some(id.clone()), ErrorObject::new(ErrorCode::HEADER_MISMATCH, message))
    }
}

/// Whether `MCP-Protocol-Version` names a revision of the sessionless era.
pub(crate) fn header_is_sessionless(headers: &HeaderMap) -> bool {
    header_text(headers, MCP_PROTOCOL_VERSION)
        .ok()
        .flatten()
        .and_then(|text| text.parse::<ProtocolVersion>().ok())
        .is_some_and(ProtocolVersion::is_sessionless)
}

/// A header as text: `Ok(None)` when absent, `Err` when repeated or not visible ASCII.
fn header_text(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Result<Option<&str>, ()> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(());
    }
    value.to_str().map(|text| Some(text.trim())).map_err(drop)
}

/// Decides the era of a POST's messages (see the module docs).
pub(crate) fn classify<'a>(
    headers: &HeaderMap,
    members: &mut Vec<Result<Incoming<'a>, BadMember>>,
    batch: bool,
) -> Result<Era<'a>, Refused> {
    let claims = |member: &Result<Incoming<'a>, BadMember>| match member {
        Ok(Incoming::Request { params, .. } | Incoming::Notification { params, .. }) => {
            RequestMeta::read(*params).claims_sessionless()
        }
        _ => false,
    };
    if batch {
        if members.iter().any(claims) {
            let error = ErrorObject::new(
                ErrorCode::INVALID_REQUEST,
                "Invalid Request: requests of protocol revision 2026-07-28 and later cannot be batched",
            );
            return Err(Refused::bad_request(None, error));
        }
        return Ok(Era::Sessions);
    }
    let header_says_sessionless = header_is_sessionless(headers);
    let meta = match members.first() {
        Some(Ok(Incoming::Request { params, .. } | Incoming::Notification { params, .. })) => {
            RequestMeta::read(*params)
        }
        _ => RequestMeta::default(),
    };
    let claimed = meta.claims_sessionless();
    if !claimed && !header_says_sessionless {
        return Ok(Era::Sessions);
    }
    match members.pop().expect("a single message") {
        Ok(Incoming::Request { id, method, params }) => {
            if !claimed {
                // The header speaks the sessionless era, the body does not carry its envelope.
                let error = meta.envelope().expect_err("no claim, so no revision in _meta");
                return Err(Refused::bad_request(Some(id), error));
            }
            Ok(Era::Sessionless(Sessionless { id, method, params, meta }))
        }
        Ok(Incoming::Notification { .. }) => Ok(Era::Dropped),
        Ok(Incoming::Response { .. }) => {
            let error = ErrorObject::new(
                ErrorCode::INVALID_REQUEST,
                "Invalid Request: protocol revision 2026-07-28 has no server requests to answer",
            );
            Err(Refused::bad_request(None, error))
        }
        Err(bad) => Err(Refused::bad_request(bad.id, bad.error.into_error_object())),
    }
}

/// The methods served in the sessionless era. Everything else — `initialize`, `ping`,
/// `logging/setLevel`, `resources/subscribe` and `resources/unsubscribe` included — is not found.
const SESSIONLESS_METHODS: [&str; 10] = [
    "server/discover",
    "subscriptions/listen",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
];

/// Whether `method` exists in the sessionless era.
pub(crate) fn is_sessionless_method(method: &str) -> bool {
    SESSIONLESS_METHODS.contains(&method)
}

/// The first rungs of the ladder: the envelope, then the standard headers against it, then the
/// revision. Returns the validated envelope and the revision served.
pub(crate) fn check_envelope(
    headers: &HeaderMap,
    request: &Sessionless<'_>,
) -> Result<(Envelope, ProtocolVersion), Refused> {
    let id = &request.id;
    let envelope = request.meta.envelope().map_err(|error| Refused::bad_request(Some(id.clone()), error))?;
    match header_text(headers, MCP_PROTOCOL_VERSION) {
        Ok(Some(header)) if header == envelope.version => {}
        Ok(Some(header)) => {
            return Err(Refused::header_mismatch(
                id,
                format!(
                    "Header mismatch: MCP-Protocol-Version {header:?} differs from _meta protocolVersion {:?}",
                    envelope.version
                ),
            ))
        }
        Ok(None) => {
            return Err(Refused::header_mismatch(id, "Header mismatch: MCP-Protocol-Version is required".into()))
        }
        Err(()) => {
            return Err(Refused::header_mismatch(id, "Header mismatch: MCP-Protocol-Version is malformed".into()))
        }
    }
    match header_text(headers, MCP_METHOD) {
        Ok(Some(header)) if header == request.method => {}
        Ok(Some(header)) => {
            return Err(Refused::header_mismatch(
                id,
                format!("Header mismatch: Mcp-Method {header:?} differs from the body's method {:?}", request.method),
            ))
        }
        Ok(None) => return Err(Refused::header_mismatch(id, "Header mismatch: Mcp-Method is required".into())),
        Err(()) => return Err(Refused::header_mismatch(id, "Header mismatch: Mcp-Method is malformed".into())),
    }
    let Some(version) = envelope.served_version() else {
        let supported: Vec<&str> = ProtocolVersion::NEWEST_FIRST.iter().map(|v| v.as_str()).collect();
        let error = ErrorObject::new(
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            format!("Unsupported protocol version {:?}", envelope.version),
        )
        .with_data(json!({ "supported": supported, "requested": envelope.version }));
        return Err(Refused::bad_request(Some(id.clone()), error));
    };
    Ok((envelope, version))
}

/// `Mcp-Name` against the body: `params.name` of `tools/call` and `prompts/get`, `params.uri`
/// of `resources/read`. `name` is what the body says (`None` when it says nothing usable,
/// which the method's own params check refuses later).
pub(crate) fn check_name(headers: &HeaderMap, id: &Id, method: &str, name: Option<&str>) -> Result<(), Refused> {
    if !matches!(method, "tools/call" | "prompts/get" | "resources/read") {
        return Ok(());
    }
    let header = match header_text(headers, MCP_NAME) {
        Ok(Some(header)) => header,
        Ok(None) => {
            return Err(Refused::header_mismatch(id, format!("Header mismatch: Mcp-Name is required on {method}")))
        }
        Err(()) => return Err(Refused::header_mismatch(id, "Header mismatch: Mcp-Name is malformed".into())),
    };
    let decoded = decode_header_value(header)
        .ok_or_else(|| Refused::header_mismatch(id, "Header mismatch: Mcp-Name has a malformed base64 value".into()))?;
    match name {
        Some(name) if name != decoded => Err(Refused::header_mismatch(
            id,
            format!("Header mismatch: Mcp-Name {decoded:?} differs from the body's {name:?}"),
        )),
        _ => Ok(()),
    }
}

/// The `Mcp-Param-{Name}` headers of a `tools/call` against its arguments: every property of
/// the tool's input schema annotated `x-mcp-header: Name` that the arguments hold must be
/// mirrored by a header with the same value (after decoding; numbers compared as numbers),
/// and a header may not name a value the arguments lack.
pub(crate) fn check_param_headers(
    headers: &HeaderMap,
    id: &Id,
    server: &crate::server::Server,
    tool: Option<&str>,
    params: &str,
) -> Result<(), Refused> {
    use serde_json::Value;
    let Some(tool) = tool.and_then(|name| server.tool(name)) else { return Ok(()) };
    let Some(properties) = tool.input_schema.get("properties").and_then(Value::as_object) else { return Ok(()) };
    if !properties.values().any(|schema| schema.get("x-mcp-header").is_some()) {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct Arguments {
        #[serde(default)]
        arguments: Option<serde_json::Map<String, Value>>,
    }
    let arguments = serde_json::from_str::<Arguments>(params).ok().and_then(|p| p.arguments);
    let arguments = arguments.as_ref();
    for (property, schema) in properties {
        let Some(header) = schema.get("x-mcp-header").and_then(Value::as_str) else { continue };
        let name = format!("{}{header}", super::headers::MCP_PARAM_PREFIX);
        let sent = header_text(headers, &name)
            .map_err(|()| Refused::header_mismatch(id, format!("Header mismatch: Mcp-Param-{header} is malformed")))?;
        let value = arguments.and_then(|a| a.get(property)).filter(|v| !v.is_null());
        let agrees = match (sent, value) {
            (None, None) => true,
            (None, Some(_)) | (Some(_), None) => false,
            (Some(sent), Some(value)) => {
                let decoded = decode_header_value(sent).ok_or_else(|| {
                    Refused::header_mismatch(
                        id,
                        format!("Header mismatch: Mcp-Param-{header} has a malformed base64 value"),
                    )
                })?;
                match value {
                    Value::String(text) => *text == decoded,
                    Value::Bool(flag) => decoded == if *flag { "true" } else { "false" },
                    Value::Number(number) => decoded.parse::<f64>().ok() == number.as_f64(),
                    _ => false,
                }
            }
        };
        if !agrees {
            return Err(Refused::header_mismatch(
                id,
                format!("Header mismatch: Mcp-Param-{header} does not match argument {property:?}"),
            ));
        }
    }
    Ok(())
}

/// A header value with the spec's `=?base64?…?=` sentinel decoded (values that are not valid
/// header text travel that way); `None` for a sentinel that does not decode to UTF-8.
pub(crate) fn decode_header_value(value: &str) -> Option<Cow<'_, str>> {
    use base64::Engine as _;
    let Some(encoded) = value.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) else {
        return Some(Cow::Borrowed(value));
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    String::from_utf8(bytes).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_sentinels_decode_and_plain_values_pass_through() {
        assert_eq!(decode_header_value("get_weather").as_deref(), Some("get_weather"));
        assert_eq!(decode_header_value("=?base64?5pel5pys?=").as_deref(), Some("日本"));
        assert_eq!(decode_header_value("=?base64?!!?="), None);
        assert_eq!(decode_header_value("=?base64?/w==?="), None, "not UTF-8");
    }
}
