//! Typed handlers: arguments deserialized into a Rust type whose JSON Schema is derived with
//! `schemars` (draft 2020-12, as MCP requires), and results serialized from one.
//!
//! The schema a client sees and the type the handler receives come from one definition, so they
//! cannot drift apart. Arguments that do not fit the type never reach the handler: a tool answers
//! with a tool execution error (`isError: true`) that names the field, which the model can read
//! and correct (the 2025-11-25 revision asks for input validation errors to be reported this
//! way); a prompt or a resource template, which have no such result, answer -32602.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;

use futures_util::FutureExt;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::context::RequestContext;
use super::handler::{HandlerFuture, IntoReply, PromptHandler, Reply, ResourceHandler, ToolHandler, Variables};
use super::ServerBuilder;
use crate::jsonrpc::ErrorObject;
use crate::model::{CallToolResult, Content, Prompt, PromptArgument, ResourceTemplate, Tool};

/// A tool's structured result: `T` fills `structuredContent`, its schema is the tool's
/// `outputSchema`, and its JSON text is the text content beside it (for clients that read only
/// `content`, as the specification asks).
///
/// `T` must serialize to a JSON object and derive an object schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Structured<T>(pub T);

/// What a typed tool returns: a [`CallToolResult`], a [`Reply`], or a [`Structured`] value (which
/// also declares the tool's output schema).
pub trait ToolOutput: 'static {
    /// The tool's `outputSchema`, if its result is structured.
    fn output_schema() -> Option<Value>;

    /// Serializes the result.
    fn into_output(self) -> Result<Reply, ErrorObject>;
}

impl ToolOutput for CallToolResult {
    fn output_schema() -> Option<Value> {
        None
    }

    fn into_output(self) -> Result<Reply, ErrorObject> {
        self.into_reply()
    }
}

impl ToolOutput for Reply {
    fn output_schema() -> Option<Value> {
        None
    }

    fn into_output(self) -> Result<Reply, ErrorObject> {
        Ok(self)
    }
}

impl<T: Serialize + JsonSchema + 'static> ToolOutput for Structured<T> {
    fn output_schema() -> Option<Value> {
        Some(object_schema::<T>("output"))
    }

    fn into_output(self) -> Result<Reply, ErrorObject> {
        let value = serde_json::to_value(&self.0)
            .map_err(|e| ErrorObject::internal(format!("unserializable structured result: {e}")))?;
        if !value.is_object() {
            return Err(ErrorObject::internal("a structured result must be a JSON object"));
        }
        let text = value.to_string();
        let mut result = CallToolResult::new(vec![Content::text(text)]);
        result.structured_content = Some(value);
        result.into_reply()
    }
}

/// The root schema of `T`, draft 2020-12, with subschemas inlined where they can be (clients
/// such as form renderers do not all follow `$ref`).
fn schema_of<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .with(|settings| settings.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// The schema of `T`, which MCP requires to describe an object (tool arguments, structured
/// results).
///
/// # Panics
///
/// If `T`'s schema is not of type `object`: a tool declared with it could never be called or
/// answered, which is a mistake in the program, found when the server is built.
fn object_schema<T: JsonSchema>(role: &str) -> Value {
    let schema = schema_of::<T>();
    assert!(
        schema.get("type").and_then(Value::as_str) == Some("object"),
        "the {role} type {} does not derive an object schema (a struct with named fields does): {schema}",
        std::any::type_name::<T>(),
    );
    schema
}

/// Deserializes `value` into `T`; the error names the field that did not fit (`a.b[2]: invalid
/// type: …`, or `missing field `x``).
fn decode<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| e.to_string())
}

/// Strings (prompt arguments, template variables) as a JSON object of strings.
fn string_object<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(pairs.map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).collect::<Map<_, _>>())
}

/// A tool handler whose arguments are a `A`.
struct TypedTool<F, A, R> {
    handler: F,
    types: PhantomData<fn(A) -> R>,
}

impl<F, A, Fut, R> ToolHandler for TypedTool<F, A, R>
where
    F: Fn(A, RequestContext) -> Fut + 'static,
    A: DeserializeOwned + 'static,
    Fut: Future<Output = Result<R, ErrorObject>> + 'static,
    R: ToolOutput,
{
    fn call(&self, arguments: Value, ctx: RequestContext) -> HandlerFuture {
        match decode::<A>(arguments) {
            Ok(arguments) => {
                (self.handler)(arguments, ctx).map(|outcome| outcome.and_then(R::into_output)).boxed_local()
            }
            Err(why) => {
                let refused = CallToolResult::error(format!("invalid arguments: {why}")).into_reply();
                futures_util::future::ready(refused).boxed_local()
            }
        }
    }
}

/// A prompt handler whose arguments are a `A`.
struct TypedPrompt<F, A> {
    handler: F,
    types: PhantomData<fn(A)>,
}

impl<F, A, Fut, R> PromptHandler for TypedPrompt<F, A>
where
    F: Fn(A, RequestContext) -> Fut + 'static,
    A: DeserializeOwned + 'static,
    Fut: Future<Output = Result<R, ErrorObject>> + 'static,
    R: IntoReply,
{
    fn get(&self, arguments: HashMap<String, String>, ctx: RequestContext) -> HandlerFuture {
        let object = string_object(arguments.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match decode::<A>(object) {
            Ok(arguments) => {
                (self.handler)(arguments, ctx).map(|outcome| outcome.and_then(R::into_reply)).boxed_local()
            }
            Err(why) => invalid_params(why),
        }
    }
}

/// A resource template handler whose variables are a `V`.
struct TypedTemplate<F, V> {
    handler: F,
    types: PhantomData<fn(V)>,
}

impl<F, V, Fut, R> ResourceHandler for TypedTemplate<F, V>
where
    F: Fn(String, V, RequestContext) -> Fut + 'static,
    V: DeserializeOwned + 'static,
    Fut: Future<Output = Result<R, ErrorObject>> + 'static,
    R: IntoReply,
{
    fn read(&self, uri: String, variables: Variables, ctx: RequestContext) -> HandlerFuture {
        match decode::<V>(string_object(variables.iter())) {
            Ok(variables) => {
                (self.handler)(uri, variables, ctx).map(|outcome| outcome.and_then(R::into_reply)).boxed_local()
            }
            Err(why) => invalid_params(why),
        }
    }
}

fn invalid_params(why: String) -> HandlerFuture {
    futures_util::future::ready(Err(ErrorObject::invalid_params(format!("invalid arguments: {why}")))).boxed_local()
}

/// The prompt arguments an object schema describes: one per property, with its description and
/// whether it is required.
fn prompt_arguments(schema: &Value) -> Vec<PromptArgument> {
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return Vec::new() };
    properties
        .iter()
        .map(|(name, property)| PromptArgument {
            name: name.clone(),
            description: property.get("description").and_then(Value::as_str).map(str::to_owned),
            required: required.contains(&name.as_str()),
        })
        .collect()
}

impl ServerBuilder {
    /// Offers a tool whose arguments are an `A`: its `inputSchema` is derived from `A` (replacing
    /// whatever `tool` declared), and its `outputSchema` from the result type when that is
    /// [`Structured`].
    ///
    /// Arguments that do not deserialize into `A` never reach the handler: the call answers
    /// `isError: true` with a text that names the field. A handler's `Err` is a JSON-RPC error;
    /// a failure the model should see is `Ok(CallToolResult::error(..))` (return
    /// [`CallToolResult`] or [`Reply`] rather than `Structured` for such a tool).
    ///
    /// ```
    /// use mcp_session::model::Tool;
    /// use mcp_session::server::{Server, Structured};
    /// use schemars::JsonSchema;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct Add {
    ///     /// The first term.
    ///     a: i64,
    ///     /// The second term.
    ///     b: i64,
    /// }
    ///
    /// #[derive(Serialize, JsonSchema)]
    /// struct Sum {
    ///     sum: i64,
    /// }
    ///
    /// let server = Server::builder("calculator", "1.0.0")
    ///     .typed_tool(Tool::new("add", "Adds two integers"), |Add { a, b }, _ctx| async move {
    ///         Ok(Structured(Sum { sum: a + b }))
    ///     })
    ///     .build();
    /// let add = server.tool("add").unwrap();
    /// assert_eq!(add.input_schema["required"], serde_json::json!(["a", "b"]));
    /// assert_eq!(add.output_schema.as_ref().unwrap()["properties"]["sum"]["type"], "integer");
    /// ```
    ///
    /// # Panics
    ///
    /// If a tool of that name is already registered, or if `A` (or a `Structured` result) does
    /// not derive an object schema.
    pub fn typed_tool<A, F, Fut, R>(self, mut tool: Tool, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + 'static,
        F: Fn(A, RequestContext) -> Fut + 'static,
        Fut: Future<Output = Result<R, ErrorObject>> + 'static,
        R: ToolOutput,
    {
        tool.input_schema = object_schema::<A>("argument");
        if let Some(output) = R::output_schema() {
            tool.output_schema = Some(output);
        }
        self.tool(tool, TypedTool { handler, types: PhantomData })
    }

    /// Offers a prompt whose arguments are an `A` (a struct of `String` and `Option<String>`
    /// fields: prompt arguments are strings): its arguments are listed from `A`'s fields, in
    /// name order (the schema's properties are a sorted JSON object), their doc comments as
    /// descriptions, required unless optional (replacing whatever `prompt` listed). Arguments
    /// that do not fit answer -32602 naming the field.
    ///
    /// # Panics
    ///
    /// If `A` does not derive an object schema.
    pub fn typed_prompt<A, F, Fut, R>(self, mut prompt: Prompt, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + 'static,
        F: Fn(A, RequestContext) -> Fut + 'static,
        Fut: Future<Output = Result<R, ErrorObject>> + 'static,
        R: IntoReply + 'static,
    {
        prompt.arguments = prompt_arguments(&object_schema::<A>("prompt argument"));
        self.prompt(prompt, TypedPrompt { handler, types: PhantomData })
    }

    /// Offers a family of resources by URI template; the handler receives the matched variables
    /// as a `V` (a struct of `String` fields named like the template's variables). Variables that
    /// do not fit answer -32602 naming the field.
    pub fn typed_resource_template<V, F, Fut, R>(self, template: ResourceTemplate, handler: F) -> Self
    where
        V: DeserializeOwned + 'static,
        F: Fn(String, V, RequestContext) -> Fut + 'static,
        Fut: Future<Output = Result<R, ErrorObject>> + 'static,
        R: IntoReply + 'static,
    {
        self.resource_template(template, TypedTemplate { handler, types: PhantomData })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Point {
        /// Across.
        x: i32,
        y: Option<i32>,
        tags: Vec<String>,
    }

    #[test]
    fn a_wrong_field_is_named_in_the_error() {
        let why = decode::<Point>(json!({ "x": "one", "tags": [] })).err().unwrap();
        assert!(why.starts_with("x: invalid type: string \"one\""), "{why}");
        let why = decode::<Point>(json!({ "x": 1, "tags": [1] })).err().unwrap();
        assert!(why.starts_with("tags[0]: invalid type"), "{why}");
        let why = decode::<Point>(json!({ "tags": [] })).err().unwrap();
        assert_eq!(why, "missing field `x`");
    }

    #[test]
    fn an_object_schema_is_draft_2020_12_with_descriptions_and_required_fields() {
        let schema = object_schema::<Point>("argument");
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["properties"]["x"]["description"], "Across.");
        assert_eq!(schema["required"], json!(["x", "tags"]));
    }

    #[test]
    #[should_panic(expected = "does not derive an object schema")]
    fn a_scalar_argument_type_is_refused_when_the_server_is_built() {
        object_schema::<String>("argument");
    }

    #[test]
    fn prompt_arguments_follow_the_fields() {
        #[derive(Deserialize, JsonSchema)]
        #[allow(dead_code)]
        struct Review {
            /// The code to review.
            code: String,
            style: Option<String>,
        }
        let arguments = prompt_arguments(&object_schema::<Review>("prompt argument"));
        assert_eq!(
            arguments,
            vec![
                PromptArgument { name: "code".into(), description: Some("The code to review.".into()), required: true },
                PromptArgument { name: "style".into(), description: None, required: false },
            ]
        );
    }
}
