//! The MCP server: what it offers (tools, resources, templates, prompts) and the handlers that
//! implement it.

mod context;
mod dispatch;
mod handler;
mod input;
mod lifecycle;
mod meta;
mod outlet;
mod request_state;
mod sessionless;
mod state;
#[cfg(feature = "schemars")]
mod typed;

use std::collections::HashMap;
use std::rc::Rc;

use serde::Serialize;

pub(crate) use context::{Call, CallIdentity, LocalFrame, LocalStream, ResponseStream, StreamSlot};
pub use context::{ClientRequestError, Input, RequestContext};
pub(crate) use dispatch::dispatch;
pub use handler::{
    CompletionHandler, CompletionReference, CompletionRequest, HandlerFuture, IntoReply, PromptHandler, Reply,
    ResourceHandler, SubscribeHandler, ToolHandler, Variables,
};
pub(crate) use input::{takes_input, Round};
pub(crate) use lifecycle::{ClientNotification, Negotiated};
pub(crate) use meta::{Envelope, RequestMeta, SERVER_INFO, SUBSCRIPTION_ID};
pub(crate) use outlet::{Outlet, ResourceSubscribeError};
pub use request_state::{RequestStateError, RequestStateKey, ShortSecret};
pub(crate) use sessionless::CacheHints;
pub use sessionless::{CacheHint, CacheScope, Cacheable};
pub use state::{ClientCapabilities, McpSession};
#[cfg(feature = "schemars")]
pub use typed::{Structured, ToolOutput};

use crate::model::{Prompt, Resource, ResourceTemplate, Tool};

/// Name and version the server reports in `initialize`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Implementation {
    /// Programmatic name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// What an MCP server offers and how it answers. Built once per thread (handlers need not be
/// `Send`); see [`ServerBuilder`].
///
/// ```
/// use mcp_session::model::{CallToolResult, Tool};
/// use mcp_session::server::Server;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Echo {
///     /// What comes back.
///     text: String,
/// }
///
/// let server = Server::builder("demo", "1.0.0")
///     .typed_tool(Tool::new("echo", "Returns its text argument"), |Echo { text }, _ctx| async move {
///         Ok(CallToolResult::text(text))
///     })
///     .build();
/// assert_eq!(server.tool("echo").unwrap().input_schema["required"], serde_json::json!(["text"]));
/// ```
pub struct Server {
    pub(crate) info: Implementation,
    pub(crate) instructions: Option<String>,
    pub(crate) tools: Vec<(Tool, Rc<dyn ToolHandler>)>,
    pub(crate) tool_index: HashMap<String, usize>,
    pub(crate) resources: Vec<(Resource, Rc<dyn ResourceHandler>)>,
    pub(crate) templates: Vec<(ResourceTemplate, Rc<dyn ResourceHandler>)>,
    pub(crate) prompts: Vec<(Prompt, Rc<dyn PromptHandler>)>,
    pub(crate) completion: Option<Rc<dyn CompletionHandler>>,
    pub(crate) on_subscribe: Option<Rc<dyn SubscribeHandler>>,
    pub(crate) cache_hints: CacheHints,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("info", &self.info)
            .field("tools", &self.tools.iter().map(|(t, _)| &t.name).collect::<Vec<_>>())
            .field("resources", &self.resources.len())
            .field("templates", &self.templates.len())
            .field("prompts", &self.prompts.len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts describing a server called `name` at `version`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> ServerBuilder {
        ServerBuilder {
            server: Server {
                info: Implementation { name: name.into(), version: version.into(), title: None },
                instructions: None,
                tools: Vec::new(),
                tool_index: HashMap::new(),
                resources: Vec::new(),
                templates: Vec::new(),
                prompts: Vec::new(),
                completion: None,
                on_subscribe: None,
                cache_hints: CacheHints::default(),
            },
        }
    }

    /// The tools offered.
    pub fn tools(&self) -> impl Iterator<Item = &Tool> {
        self.tools.iter().map(|(tool, _)| tool)
    }

    /// The tool called `name`.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tool_index.get(name).map(|&index| &self.tools[index].0)
    }

    /// The `capabilities` of `initialize` and `server/discover`: each feature that has
    /// something registered. Lists announce their changes (see
    /// [`EngineState::announce`](crate::EngineState::announce)).
    pub(crate) fn capabilities(&self) -> serde_json::Value {
        let mut caps = serde_json::Map::new();
        if !self.tools.is_empty() {
            caps.insert("tools".into(), serde_json::json!({ "listChanged": true }));
        }
        if self.has_resources() {
            caps.insert("resources".into(), serde_json::json!({ "subscribe": true, "listChanged": true }));
        }
        if !self.prompts.is_empty() {
            caps.insert("prompts".into(), serde_json::json!({ "listChanged": true }));
        }
        if self.completion.is_some() {
            caps.insert("completions".into(), serde_json::json!({}));
        }
        caps.insert("logging".into(), serde_json::json!({}));
        serde_json::Value::Object(caps)
    }
}

impl Server {
    /// Whether any resource or resource template is offered.
    pub(crate) fn has_resources(&self) -> bool {
        !self.resources.is_empty() || !self.templates.is_empty()
    }

    /// Whether `method` is served: its feature has something registered. Requests for a feature
    /// the capabilities do not declare are not found.
    pub(crate) fn serves(&self, method: &str) -> bool {
        match method.split('/').next() {
            Some("tools") => !self.tools.is_empty(),
            Some("prompts") => !self.prompts.is_empty(),
            Some("resources") => self.has_resources(),
            Some("completion") => self.completion.is_some(),
            _ => true,
        }
    }
}

/// Registers what a [`Server`] offers.
pub struct ServerBuilder {
    server: Server,
}

impl ServerBuilder {
    /// The display name reported in `initialize`.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.server.info.title = Some(title.into());
        self
    }

    /// Instructions the client may give the model.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.server.instructions = Some(instructions.into());
        self
    }

    /// Offers a tool whose arguments arrive as JSON, for servers whose tools are only known at
    /// run time (a tool of a fixed shape is better served by
    /// [`typed_tool`](Self::typed_tool), which derives the schema and checks the arguments). The
    /// handler checks the arguments against `tool`'s `inputSchema` itself.
    ///
    /// ```
    /// use mcp_session::model::{CallToolResult, Tool};
    /// use mcp_session::server::Server;
    /// use serde_json::{json, Value};
    ///
    /// let schema = json!({ "type": "object", "properties": { "key": { "type": "string" } }, "required": ["key"] });
    /// let server = Server::builder("settings", "1.0.0")
    ///     .tool(Tool::new("lookup", "Reads a setting").input_schema(schema), |args: Value, _ctx| async move {
    ///         let Some(key) = args["key"].as_str() else {
    ///             return Ok(CallToolResult::error("`key` (a string) is required"));
    ///         };
    ///         Ok(CallToolResult::text(format!("{key} is unset")))
    ///     })
    ///     .build();
    /// assert!(server.tool("lookup").is_some());
    /// ```
    ///
    /// # Panics
    ///
    /// If a tool of that name is already registered.
    pub fn tool(mut self, tool: Tool, handler: impl ToolHandler) -> Self {
        let index = self.server.tools.len();
        let previous = self.server.tool_index.insert(tool.name.clone(), index);
        assert!(previous.is_none(), "tool {:?} registered twice", tool.name);
        self.server.tools.push((tool, Rc::new(handler)));
        self
    }

    /// Whether a tool of that name is registered.
    pub fn has_tool(&self, name: &str) -> bool {
        self.server.tool_index.contains_key(name)
    }

    /// Offers a concrete resource: `Fn(uri, ctx)` returning a [`ReadResourceResult`] (or a
    /// [`Reply`]).
    ///
    /// [`ReadResourceResult`]: crate::model::ReadResourceResult
    pub fn resource<H, Fut, R>(mut self, resource: Resource, handler: H) -> Self
    where
        H: Fn(String, RequestContext) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<R, crate::jsonrpc::ErrorObject>> + 'static,
        R: IntoReply,
    {
        let handler = move |uri: String, _: Variables, ctx| handler(uri, ctx);
        self.server.resources.push((resource, Rc::new(handler)));
        self
    }

    /// Offers a family of resources by URI template; the handler receives the matched variables.
    pub fn resource_template(mut self, template: ResourceTemplate, handler: impl ResourceHandler) -> Self {
        self.server.templates.push((template, Rc::new(handler)));
        self
    }

    /// Offers a prompt.
    pub fn prompt(mut self, prompt: Prompt, handler: impl PromptHandler) -> Self {
        self.server.prompts.push((prompt, Rc::new(handler)));
        self
    }

    /// Answers `completion/complete`.
    pub fn completion(mut self, handler: impl CompletionHandler) -> Self {
        self.server.completion = Some(Rc::new(handler));
        self
    }

    /// Runs when a client subscribes to a resource.
    pub fn on_subscribe(mut self, handler: impl SubscribeHandler) -> Self {
        self.server.on_subscribe = Some(Rc::new(handler));
        self
    }

    /// How long clients of the 2026-07-28 revision may reuse a result, and who may (by default
    /// 0 ms, private: not at all).
    pub fn cache_hint(mut self, what: Cacheable, hint: CacheHint) -> Self {
        self.server.cache_hints.set(what, hint);
        self
    }

    /// The server.
    pub fn build(self) -> Server {
        self.server
    }
}
