//! What the sessionless era (2026-07-28) adds to results: `resultType` on every one, cache hints
//! on the cacheable ones, and `server/discover`, which replaces `initialize`.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::handler::Reply;
use super::meta::SERVER_INFO;
use super::Server;
use crate::jsonrpc::ErrorObject;
use crate::model::ProtocolVersion;

/// Who may reuse a cached result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CacheScope {
    /// Only the client that asked (results that depend on who asks).
    #[default]
    Private,
    /// Any client (shared caches too).
    Public,
}

/// How long a client may reuse a result (`ttlMs`) and who may (`cacheScope`). The default, 0 ms
/// and private, asks clients not to reuse anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheHint {
    /// How long the result stays fresh.
    pub ttl: Duration,
    /// Who may reuse it.
    pub scope: CacheScope,
}

impl CacheHint {
    /// A hint of `ttl` for `scope`.
    pub fn new(ttl: Duration, scope: CacheScope) -> Self {
        Self { ttl, scope }
    }

    fn ttl_ms(self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }
}

/// The results that carry cache hints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cacheable {
    /// `server/discover`.
    Discover,
    /// `tools/list`.
    ToolsList,
    /// `prompts/list`.
    PromptsList,
    /// `resources/list`.
    ResourcesList,
    /// `resources/templates/list`.
    ResourceTemplatesList,
    /// `resources/read`.
    ResourcesRead,
}

impl Cacheable {
    /// The cacheable result a method answers with, if any.
    pub(crate) fn of(method: &str) -> Option<Self> {
        Some(match method {
            "server/discover" => Self::Discover,
            "tools/list" => Self::ToolsList,
            "prompts/list" => Self::PromptsList,
            "resources/list" => Self::ResourcesList,
            "resources/templates/list" => Self::ResourceTemplatesList,
            "resources/read" => Self::ResourcesRead,
            _ => return None,
        })
    }
}

/// The cache hints a server gives, per cacheable result.
#[derive(Clone, Debug, Default)]
pub(crate) struct CacheHints(Vec<(Cacheable, CacheHint)>);

impl CacheHints {
    pub(crate) fn set(&mut self, what: Cacheable, hint: CacheHint) {
        self.0.retain(|(w, _)| *w != what);
        self.0.push((what, hint));
    }

    pub(crate) fn get(&self, what: Cacheable) -> CacheHint {
        self.0.iter().find(|(w, _)| *w == what).map(|(_, hint)| *hint).unwrap_or_default()
    }
}

impl Server {
    /// The result of `server/discover`: every revision served (the same list an
    /// unsupported-version error gives), exactly the capabilities served, the instructions,
    /// and the server's name and version in `_meta`.
    pub(crate) fn discover(&self) -> Value {
        let mut result = json!({
            "supportedVersions": ProtocolVersion::NEWEST_FIRST,
            "capabilities": self.capabilities(),
        });
        if let Some(instructions) = &self.instructions {
            result["instructions"] = json!(instructions);
        }
        result
    }

    /// Completes a handler's result for the sessionless era: `resultType: "complete"` (unless
    /// the result says otherwise), the cache hint of `method` if its result is cacheable, and
    /// the server's name and version in `_meta`.
    pub(crate) fn complete_result(&self, method: &str, reply: Reply) -> Result<Reply, ErrorObject> {
        let hint = Cacheable::of(method).map(|what| self.cache_hints.get(what));
        if let Some(completed) = self.splice_completion(&reply, hint) {
            return Ok(completed);
        }
        // A result with its own `resultType` or `_meta`: merged field by field.
        let mut result: Map<String, Value> = serde_json::from_slice(reply.as_bytes())
            .map_err(|e| ErrorObject::internal(format!("a handler's result is not a JSON object: {e}")))?;
        result.entry("resultType").or_insert_with(|| json!("complete"));
        if let Some(hint) = hint {
            result.insert("ttlMs".into(), json!(hint.ttl_ms()));
            result.insert("cacheScope".into(), json!(hint.scope));
        }
        self.stamp(&mut result);
        Reply::json(&result)
    }

    /// The completed result written in front of the handler's fields, without parsing them: for
    /// the usual result, an object with neither `resultType` nor `_meta` of its own.
    fn splice_completion(&self, reply: &Reply, hint: Option<CacheHint>) -> Option<Reply> {
        let bytes = reply.as_bytes();
        let open = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
        if bytes[open] != b'{'
            || memchr::memmem::find(bytes, b"\"resultType\"").is_some()
            || memchr::memmem::find(bytes, b"\"_meta\"").is_some()
        {
            return None;
        }
        let rest = &bytes[open + 1..];
        let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
        let info = serde_json::to_string(&self.info).ok()?;
        let mut out = Vec::with_capacity(bytes.len() + info.len() + 96);
        out.extend_from_slice(br#"{"resultType":"complete","#);
        if let Some(hint) = hint {
            let scope = match hint.scope {
                CacheScope::Private => "private",
                CacheScope::Public => "public",
            };
            out.extend_from_slice(format!(r#""ttlMs":{},"cacheScope":"{scope}","#, hint.ttl_ms()).as_bytes());
        }
        out.extend_from_slice(br#""_meta":{""#);
        out.extend_from_slice(SERVER_INFO.as_bytes());
        out.extend_from_slice(br#"":"#);
        out.extend_from_slice(info.as_bytes());
        out.push(b'}');
        if !empty {
            out.push(b',');
        }
        out.extend_from_slice(rest);
        Some(Reply::raw(out))
    }

    /// An input-required result as the sessionless era sends it: with the server's name and
    /// version in `_meta`, and no cache hint (a round is never reused).
    pub(crate) fn input_required_result(&self, reply: Reply) -> Result<Reply, ErrorObject> {
        let mut result: Map<String, Value> = serde_json::from_slice(reply.as_bytes())
            .map_err(|e| ErrorObject::internal(format!("an input-required result is not a JSON object: {e}")))?;
        self.stamp(&mut result);
        Reply::json(&result)
    }

    /// Puts the server's name and version in a result's `_meta` (every result SHOULD carry it).
    fn stamp(&self, result: &mut Map<String, Value>) {
        let meta = result.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.entry(SERVER_INFO).or_insert_with(|| json!(self.info));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_get_their_type_cache_hint_and_server_info() {
        let server = Server::builder("s", "1")
            .cache_hint(Cacheable::ToolsList, CacheHint::new(Duration::from_secs(60), CacheScope::Public))
            .build();
        let listed = server.complete_result("tools/list", Reply::raw(r#"{"tools":[]}"#)).unwrap();
        let listed: Value = serde_json::from_slice(listed.as_bytes()).unwrap();
        assert_eq!(listed["resultType"], "complete");
        assert_eq!((listed["ttlMs"].clone(), listed["cacheScope"].clone()), (json!(60_000), json!("public")));
        assert_eq!(listed["_meta"][SERVER_INFO]["name"], "s");

        let read = server.complete_result("resources/read", Reply::raw(r#"{"contents":[]}"#)).unwrap();
        let read: Value = serde_json::from_slice(read.as_bytes()).unwrap();
        assert_eq!((read["ttlMs"].clone(), read["cacheScope"].clone()), (json!(0), json!("private")), "the default");

        let called = server.complete_result("tools/call", Reply::raw(r#"{"content":[],"_meta":{"mine":1}}"#)).unwrap();
        let called: Value = serde_json::from_slice(called.as_bytes()).unwrap();
        assert!(called.get("ttlMs").is_none(), "a tool result is not cacheable");
        assert_eq!(called["_meta"]["mine"], 1, "the handler's own _meta stays");

        let refused = server.complete_result("tools/call", Reply::raw("[1]")).unwrap_err();
        assert_eq!(refused.code, crate::jsonrpc::ErrorCode::INTERNAL_ERROR);

        // Spliced or merged, the same fields; pretty-printed and empty results too.
        for raw in ["{}", " { } ", "{\n  \"content\": []\n}", r#"{"resultType":"complete","content":[]}"#] {
            let completed = server.complete_result("tools/list", Reply::raw(raw)).unwrap();
            let completed: Value =
                serde_json::from_slice(completed.as_bytes()).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(completed["resultType"], "complete", "{raw:?}");
            assert_eq!(completed["ttlMs"], 60_000, "{raw:?}");
            assert_eq!(completed["_meta"][SERVER_INFO]["version"], "1", "{raw:?}");
        }
    }
}
