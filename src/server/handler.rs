//! The handler traits, implemented by plain `async` closures.
//!
//! Handlers need not be `Send`: their futures may hold `Rc`s or JavaScript values, so the same
//! handlers run on a thread-per-core tokio host and in a wasm worker.

use std::collections::HashMap;
use std::future::Future;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use serde::Serialize;
use serde_json::Value;

use super::context::RequestContext;
use crate::jsonrpc::ErrorObject;
use crate::model::{CallToolResult, Completion, GetPromptResult, ReadResourceResult};

/// A handler's result, serialized: the `result` member of the response.
///
/// Handlers usually return a typed result ([`CallToolResult`], [`ReadResourceResult`],
/// [`GetPromptResult`], [`Completion`]), which becomes a `Reply` through [`IntoReply`]. A host
/// whose handlers already produce JSON (another language's objects, a cache) returns
/// [`Reply::raw`] and skips a parse and a re-serialization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply(pub(crate) Bytes);

impl Reply {
    /// Serializes `value`.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, ErrorObject> {
        serde_json::to_vec(value)
            .map(|bytes| Self(Bytes::from(bytes)))
            .map_err(|e| ErrorObject::internal(format!("unserializable result: {e}")))
    }

    /// A result that is already JSON text (one JSON value). It is sent as is; pretty-printed
    /// JSON is fine, its line breaks become separate SSE `data:` lines.
    pub fn raw(json: impl Into<Bytes>) -> Self {
        Self(json.into())
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// What a handler may return: a typed result, or a [`Reply`] already serialized.
pub trait IntoReply {
    /// Serializes the result.
    fn into_reply(self) -> Result<Reply, ErrorObject>;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Result<Reply, ErrorObject> {
        Ok(self)
    }
}

macro_rules! typed_reply {
    ($($ty:ty),*) => {$(
        impl IntoReply for $ty {
            fn into_reply(self) -> Result<Reply, ErrorObject> {
                Reply::json(&self)
            }
        }
    )*};
}

typed_reply!(CallToolResult, ReadResourceResult, GetPromptResult, Completion);

/// A handler's answer, boxed for the registry.
pub type HandlerFuture = LocalBoxFuture<'static, Result<Reply, ErrorObject>>;

fn boxed<Fut, R>(future: Fut) -> HandlerFuture
where
    Fut: Future<Output = Result<R, ErrorObject>> + 'static,
    R: IntoReply,
{
    future.map(|outcome| outcome.and_then(IntoReply::into_reply)).boxed_local()
}

/// Runs a tool: `Fn(arguments, ctx) -> impl Future<Output = Result<CallToolResult, ErrorObject>>`.
///
/// A tool that fails in a way the model should see returns `Ok(CallToolResult::error(..))`;
/// an `Err` becomes a JSON-RPC error (for malformed arguments and the like).
pub trait ToolHandler: 'static {
    /// Calls the tool.
    fn call(&self, arguments: Value, ctx: RequestContext) -> HandlerFuture;
}

impl<F, Fut, R> ToolHandler for F
where
    F: Fn(Value, RequestContext) -> Fut + 'static,
    Fut: Future<Output = Result<R, ErrorObject>> + 'static,
    R: IntoReply,
{
    fn call(&self, arguments: Value, ctx: RequestContext) -> HandlerFuture {
        boxed(self(arguments, ctx))
    }
}

/// Reads a resource: `Fn(uri, variables, ctx)`; the variables are those a URI template matched
/// (empty for a concrete resource).
pub trait ResourceHandler: 'static {
    /// Reads the resource at `uri`.
    fn read(&self, uri: String, variables: Variables, ctx: RequestContext) -> HandlerFuture;
}

impl<F, Fut, R> ResourceHandler for F
where
    F: Fn(String, Variables, RequestContext) -> Fut + 'static,
    Fut: Future<Output = Result<R, ErrorObject>> + 'static,
    R: IntoReply,
{
    fn read(&self, uri: String, variables: Variables, ctx: RequestContext) -> HandlerFuture {
        boxed(self(uri, variables, ctx))
    }
}

/// The variables a URI template matched (empty for a concrete resource).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variables(pub(crate) Vec<(String, String)>);

impl Variables {
    /// The value of variable `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every `(name, value)` pair, in template order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Renders a prompt: `Fn(arguments, ctx)`.
pub trait PromptHandler: 'static {
    /// Renders the prompt with these arguments.
    fn get(&self, arguments: HashMap<String, String>, ctx: RequestContext) -> HandlerFuture;
}

impl<F, Fut, R> PromptHandler for F
where
    F: Fn(HashMap<String, String>, RequestContext) -> Fut + 'static,
    Fut: Future<Output = Result<R, ErrorObject>> + 'static,
    R: IntoReply,
{
    fn get(&self, arguments: HashMap<String, String>, ctx: RequestContext) -> HandlerFuture {
        boxed(self(arguments, ctx))
    }
}

/// What `completion/complete` asks to complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionRequest {
    /// What the argument belongs to.
    pub reference: CompletionReference,
    /// The argument's name.
    pub argument: String,
    /// What the user typed so far.
    pub value: String,
    /// Values of other arguments already given.
    pub context: HashMap<String, String>,
}

/// The prompt or resource template an argument belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompletionReference {
    /// `ref/prompt` by name.
    Prompt(String),
    /// `ref/resource` by URI (template).
    Resource(String),
}

/// Suggests argument values: `Fn(request, ctx)`; the reply is the `completion` object
/// (`{values, total?, hasMore?}`).
pub trait CompletionHandler: 'static {
    /// Completes the argument.
    fn complete(&self, request: CompletionRequest, ctx: RequestContext) -> HandlerFuture;
}

impl<F, Fut, R> CompletionHandler for F
where
    F: Fn(CompletionRequest, RequestContext) -> Fut + 'static,
    Fut: Future<Output = Result<R, ErrorObject>> + 'static,
    R: IntoReply,
{
    fn complete(&self, request: CompletionRequest, ctx: RequestContext) -> HandlerFuture {
        boxed(self(request, ctx))
    }
}

/// Runs after a client subscribed to a resource (the subscription is recorded first, so an
/// update sent from here reaches the new subscriber): `Fn(uri, ctx)`.
pub trait SubscribeHandler: 'static {
    /// Called once per `resources/subscribe`.
    fn subscribed(&self, uri: String, ctx: RequestContext) -> LocalBoxFuture<'static, ()>;
}

impl<F, Fut> SubscribeHandler for F
where
    F: Fn(String, RequestContext) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn subscribed(&self, uri: String, ctx: RequestContext) -> LocalBoxFuture<'static, ()> {
        Box::pin(self(uri, ctx))
    }
}
