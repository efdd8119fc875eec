//! The handler traits, implemented by plain `async` closures.
//!
//! Handlers need not be `Send`: their futures may hold `Rc`s or JavaScript values, so the same
//! handlers run on a thread-per-core tokio host and in a wasm worker.

use std::collections::HashMap;
use std::future::Future;

use futures_util::future::LocalBoxFuture;
use serde_json::Value;

use super::context::RequestContext;
use crate::jsonrpc::ErrorObject;
use crate::model::{CallToolResult, Completion, GetPromptResult, ReadResourceResult};

/// Runs a tool: `Fn(arguments, ctx) -> impl Future<Output = Result<CallToolResult, ErrorObject>>`.
///
/// A tool that fails in a way the model should see returns `Ok(CallToolResult::error(..))`;
/// an `Err` becomes a JSON-RPC error (for malformed arguments and the like).
pub trait ToolHandler: 'static {
    /// Calls the tool.
    fn call(
        &self,
        arguments: Value,
        ctx: RequestContext,
    ) -> LocalBoxFuture<'static, Result<CallToolResult, ErrorObject>>;
}

impl<F, Fut> ToolHandler for F
where
    F: Fn(Value, RequestContext) -> Fut + 'static,
    Fut: Future<Output = Result<CallToolResult, ErrorObject>> + 'static,
{
    fn call(
        &self,
        arguments: Value,
        ctx: RequestContext,
    ) -> LocalBoxFuture<'static, Result<CallToolResult, ErrorObject>> {
        Box::pin(self(arguments, ctx))
    }
}

/// Reads a resource: `Fn(uri, ctx)`; for a template, also the matched variables.
pub trait ResourceHandler: 'static {
    /// Reads the resource at `uri`.
    fn read(
        &self,
        uri: String,
        variables: Variables,
        ctx: RequestContext,
    ) -> LocalBoxFuture<'static, Result<ReadResourceResult, ErrorObject>>;
}

impl<F, Fut> ResourceHandler for F
where
    F: Fn(String, Variables, RequestContext) -> Fut + 'static,
    Fut: Future<Output = Result<ReadResourceResult, ErrorObject>> + 'static,
{
    fn read(
        &self,
        uri: String,
        variables: Variables,
        ctx: RequestContext,
    ) -> LocalBoxFuture<'static, Result<ReadResourceResult, ErrorObject>> {
        Box::pin(self(uri, variables, ctx))
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
    fn get(
        &self,
        arguments: HashMap<String, String>,
        ctx: RequestContext,
    ) -> LocalBoxFuture<'static, Result<GetPromptResult, ErrorObject>>;
}

impl<F, Fut> PromptHandler for F
where
    F: Fn(HashMap<String, String>, RequestContext) -> Fut + 'static,
    Fut: Future<Output = Result<GetPromptResult, ErrorObject>> + 'static,
{
    fn get(
        &self,
        arguments: HashMap<String, String>,
        ctx: RequestContext,
    ) -> LocalBoxFuture<'static, Result<GetPromptResult, ErrorObject>> {
        Box::pin(self(arguments, ctx))
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

/// Suggests argument values: `Fn(request, ctx)`.
pub trait CompletionHandler: 'static {
    /// Completes the argument.
    fn complete(
        &self,
        request: CompletionRequest,
        ctx: RequestContext,
    ) -> LocalBoxFuture<'static, Result<Completion, ErrorObject>>;
}

impl<F, Fut> CompletionHandler for F
where
    F: Fn(CompletionRequest, RequestContext) -> Fut + 'static,
    Fut: Future<Output = Result<Completion, ErrorObject>> + 'static,
{
    fn complete(
        &self,
        request: CompletionRequest,
        ctx: RequestContext,
    ) -> LocalBoxFuture<'static, Result<Completion, ErrorObject>> {
        Box::pin(self(request, ctx))
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
