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
        let mut result: Map<String, Value> = serde_json::from_slice(reply.as_bytes())
            .map_err(|e| ErrorObject::internal(format!("a handler's result is not a JSON object: {e}")))?;
        result.entry("resultType").or_insert_with(|| json!("complete"));
        if let Some(what) = Cacheable::of(method) {
            let hint = self.cache_hints.get(what);
            result.insert("ttlMs".into(), json!(hint.ttl_ms()));
            result.insert("cacheScope".into(), json!(hint.scope));
        }
        self.stamp(&mut result);
        Reply::json(&result)
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
    }
}
