//! Routing a request's method to the server's handlers.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::ready;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::context::RequestContext;
use super::handler::{CompletionReference, CompletionRequest, HandlerFuture, Reply, Variables};
use super::outlet::ResourceSubscribeError;
use super::Server;
use crate::jsonrpc::{ErrorCode, ErrorObject};
use crate::model::{match_template, LogLevel};

/// `{}`: the result of methods that only acknowledge.
fn empty() -> Reply {
    Reply::raw(Bytes::from_static(b"{}"))
}

fn answer<T: Serialize>(value: T) -> HandlerFuture {
    ready(Reply::json(&value)).boxed_local()
}

fn refuse(error: ErrorObject) -> HandlerFuture {
    ready(Err(error)).boxed_local()
}

fn params<T: DeserializeOwned>(raw: Option<&RawValue>) -> Result<T, ErrorObject> {
    let text = raw.map_or("{}", RawValue::get);
    serde_json::from_str(text).map_err(|e| ErrorObject::invalid_params(format!("Invalid params: {e}")))
}

#[derive(Deserialize)]
struct CallToolParams {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct UriParams {
    uri: String,
}

#[derive(Deserialize)]
struct GetPromptParams {
    name: String,
    #[serde(default)]
    arguments: Option<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct SetLevelParams {
    level: LogLevel,
}

#[derive(Deserialize)]
struct CompleteParams {
    #[serde(rename = "ref")]
    reference: Reference,
    argument: CompleteArgument,
    #[serde(default)]
    context: Option<CompleteContext>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Reference {
    #[serde(rename = "ref/prompt")]
    Prompt { name: String },
    #[serde(rename = "ref/resource")]
    Resource { uri: String },
}

#[derive(Deserialize)]
struct CompleteArgument {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct CompleteContext {
    #[serde(default)]
    arguments: HashMap<String, String>,
}

/// `{"<key>": <reply>}` without parsing the reply again.
fn wrap(key: &str, reply: &Reply) -> Reply {
    let mut out = Vec::with_capacity(reply.as_bytes().len() + key.len() + 5);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(reply.as_bytes());
    out.push(b'}');
    Reply::raw(out)
}

/// Calls the handler for `method`. Methods the engine answers itself (`initialize`) never
/// reach here.
pub(crate) fn dispatch(
    server: &Rc<Server>,
    ctx: RequestContext,
    method: &str,
    raw: Option<&RawValue>,
) -> HandlerFuture {
    match method {
        "ping" => answer(json!({})),
        "tools/list" => answer(json!({ "tools": server.tools().collect::<Vec<_>>() })),
        "tools/call" => {
            let p: CallToolParams = match params(raw) {
                Ok(p) => p,
                Err(e) => return refuse(e),
            };
            let Some(&index) = server.tool_index.get(&p.name) else {
                return refuse(ErrorObject::invalid_params(format!("Unknown tool: {}", p.name)));
            };
            let arguments = p.arguments.unwrap_or_else(|| json!({}));
            server.tools[index].1.call(arguments, ctx)
        }
        "resources/list" => {
            let resources: Vec<_> = server.resources.iter().map(|(r, _)| r).collect();
            answer(json!({ "resources": resources }))
        }
        "resources/templates/list" => {
            let templates: Vec<_> = server.templates.iter().map(|(t, _)| t).collect();
            answer(json!({ "resourceTemplates": templates }))
        }
        "resources/read" => {
            let p: UriParams = match params(raw) {
                Ok(p) => p,
                Err(e) => return refuse(e),
            };
            read_resource(server, ctx, p.uri)
        }
        "resources/subscribe" | "resources/unsubscribe" => {
            let p: UriParams = match params(raw) {
                Ok(p) => p,
                Err(e) => return refuse(e),
            };
            subscription(server, ctx, p.uri, method == "resources/subscribe")
        }
        "prompts/list" => {
            let prompts: Vec<_> = server.prompts.iter().map(|(p, _)| p).collect();
            answer(json!({ "prompts": prompts }))
        }
        "prompts/get" => {
            let p: GetPromptParams = match params(raw) {
                Ok(p) => p,
                Err(e) => return refuse(e),
            };
            let Some((_, handler)) = server.prompts.iter().find(|(prompt, _)| prompt.name == p.name) else {
                return refuse(ErrorObject::invalid_params(format!("Unknown prompt: {}", p.name)));
            };
            handler.get(p.arguments.unwrap_or_default(), ctx)
        }
        "completion/complete" => {
            let Some(handler) = server.completion.clone() else {
                return refuse(ErrorObject::method_not_found(method));
            };
            let p: CompleteParams = match params(raw) {
                Ok(p) => p,
                Err(e) => return refuse(e),
            };
            let request = CompletionRequest {
                reference: match p.reference {
                    Reference::Prompt { name } => CompletionReference::Prompt(name),
                    Reference::Resource { uri } => CompletionReference::Resource(uri),
                },
                argument: p.argument.name,
                value: p.argument.value,
                context: p.context.map(|c| c.arguments).unwrap_or_default(),
            };
            let complete = handler.complete(request, ctx);
            complete.map(|result| result.map(|completion| wrap("completion", &completion))).boxed_local()
        }
        "logging/setLevel" => {
            let p: SetLevelParams = match params(raw) {
                Ok(p) => p,
                Err(e) => return refuse(e),
            };
            async move {
                if let Some(session) = ctx.session_id() {
                    let outlet = ctx.call.outlet.clone();
                    outlet
                        .update(session, Box::new(move |state| state.log_level = Some(p.level)))
                        .await
                        .map_err(|e| ErrorObject::internal(e.to_string()))?;
                }
                Ok(empty())
            }
            .boxed_local()
        }
        _ => refuse(ErrorObject::method_not_found(method)),
    }
}

fn read_resource(server: &Rc<Server>, ctx: RequestContext, uri: String) -> HandlerFuture {
    if let Some((_, handler)) = server.resources.iter().find(|(r, _)| r.uri == uri) {
        return handler.read(uri, Variables::default(), ctx);
    }
    for (template, handler) in &server.templates {
        if let Some(variables) = match_template(&template.uri_template, &uri) {
            return handler.read(uri, Variables(variables), ctx);
        }
    }
    refuse(
        ErrorObject::new(ErrorCode::RESOURCE_NOT_FOUND, format!("Resource not found: {uri}"))
            .with_data(json!({ "uri": uri })),
    )
}

fn subscription(server: &Rc<Server>, ctx: RequestContext, uri: String, subscribe: bool) -> HandlerFuture {
    let Some(session) = ctx.session_id() else {
        return refuse(ErrorObject::new(ErrorCode::INVALID_REQUEST, "resource subscriptions need a session"));
    };
    let known = server.resources.iter().any(|(r, _)| r.uri == uri)
        || server.templates.iter().any(|(t, _)| match_template(&t.uri_template, &uri).is_some());
    if subscribe && !known {
        return refuse(
            ErrorObject::new(ErrorCode::RESOURCE_NOT_FOUND, format!("Resource not found: {uri}"))
                .with_data(json!({ "uri": uri })),
        );
    }
    let hook = if subscribe { server.on_subscribe.clone() } else { None };
    async move {
        let outlet = ctx.call.outlet.clone();
        let uri_arc: Arc<str> = Arc::from(uri.as_str());
        let recorded = if subscribe {
            outlet.subscribe_resource(session, uri_arc).await
        } else {
            outlet.unsubscribe_resource(session, uri_arc).await
        };
        recorded.map_err(|e| match e {
            ResourceSubscribeError::TooMany { limit } => {
                ErrorObject::new(ErrorCode::INVALID_REQUEST, e.to_string()).with_data(json!({ "limit": limit }))
            }
            ResourceSubscribeError::Session(_) => ErrorObject::internal(e.to_string()),
        })?;
        if let Some(hook) = hook {
            hook.subscribed(uri, ctx).await;
        }
        Ok(empty())
    }
    .boxed_local()
}
