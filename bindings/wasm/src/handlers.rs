//! JavaScript functions as the engine's handlers.
//!
//! Each handler is called as `handler(...args, ctx)` and may return a value or a promise. Its
//! result goes to the client as the JSON it is (no re-parse). A value thrown by a tool becomes a
//! tool result with `isError: true` (the model sees what went wrong); thrown by anything else, it
//! becomes a JSON-RPC error, with its `code` if it carries a numeric one
//! (`{ code: -32002, message: "..." }` for a missing resource).
//!
//! Two errors of the context's asks (`ctx.elicit`, `ctx.input(key).elicit`, ...) are the
//! protocol's rather than the handler's, and a handler lets them propagate:
//!
//! - `InputRequired` (2026-07-28, no session): the request ends with the input-required result
//!   the engine built from the asks it recorded, whatever the handler returned or threw;
//! - `MissingRequiredClientCapability`: the client did not declare what the ask needs; even from
//!   a tool it becomes the JSON-RPC error `-32021` the client must get.

use std::collections::HashMap;

use js_sys::{Function, Object, Reflect};
use mcp_session::jsonrpc::{ErrorCode, ErrorObject};
use mcp_session::server::{
    CompletionHandler, CompletionReference, CompletionRequest, PromptHandler, Reply, ResourceHandler, SubscribeHandler,
    ToolHandler, Variables,
};
use mcp_session::RequestContext;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;

use crate::context::{Context, MISSING_CAPABILITY};
use crate::convert::{call, field, json_text, message, to_js, to_json};

/// Calls `handler(...args, ctx)`, ending the call's scope once it settles.
async fn invoke(handler: &Function, mut args: Vec<JsValue>, ctx: RequestContext) -> Result<JsValue, JsValue> {
    let (context, scope) = Context::new(ctx);
    args.push(JsValue::from(context));
    let outcome = call(handler, &args).await;
    scope.finish();
    outcome
}

fn thrown_error(thrown: &JsValue) -> ErrorObject {
    let code = field(thrown, "code").as_f64();
    match code {
        Some(code) if code.fract() == 0.0 && code.abs() < f64::from(i32::MAX) => {
            let error = ErrorObject::new(ErrorCode(code as i32), message(thrown));
            match to_json(&field(thrown, "data")) {
                Ok(Value::Null) | Err(_) => error,
                Ok(data) => error.with_data(data),
            }
        }
        _ => ErrorObject::internal(message(thrown)),
    }
}

/// A handler's returned object, passed through as the reply.
fn reply(value: &JsValue, what: &str) -> Result<Reply, ErrorObject> {
    let invalid = || ErrorObject::internal(format!("the {what} handler must return an object"));
    if !value.is_object() {
        return Err(invalid());
    }
    let text = json_text(value).map_err(|e| ErrorObject::internal(message(&e)))?.ok_or_else(invalid)?;
    Ok(Reply::raw(text))
}

pub(crate) fn tool(handler: Function) -> impl ToolHandler {
    move |arguments: Value, ctx: RequestContext| {
        let handler = handler.clone();
        async move {
            match invoke(&handler, vec![to_js(&arguments)], ctx).await {
                Ok(value) => match value.as_string() {
                    Some(text) => Reply::json(&json!({ "content": [{ "type": "text", "text": text }] })),
                    None => reply(&value, "tool"),
                },
                // The client must learn which capability it lacks, as a JSON-RPC error.
                Err(thrown) if field(&thrown, "name").as_string().as_deref() == Some(MISSING_CAPABILITY) => {
                    Err(thrown_error(&thrown))
                }
                Err(thrown) => Reply::json(&json!({
                    "content": [{ "type": "text", "text": message(&thrown) }],
                    "isError": true,
                })),
            }
        }
    }
}

pub(crate) fn resource(handler: Function) -> impl ResourceHandler {
    move |uri: String, variables: Variables, ctx: RequestContext| {
        let handler = handler.clone();
        async move {
            let vars = Object::new();
            for (name, value) in variables.iter() {
                let _ = Reflect::set(&vars, &name.into(), &value.into());
            }
            let value =
                invoke(&handler, vec![JsValue::from(uri), vars.into()], ctx).await.map_err(|e| thrown_error(&e))?;
            reply(&value, "resource")
        }
    }
}

pub(crate) fn prompt(handler: Function) -> impl PromptHandler {
    move |arguments: HashMap<String, String>, ctx: RequestContext| {
        let handler = handler.clone();
        async move {
            let value = invoke(&handler, vec![to_js(&arguments)], ctx).await.map_err(|e| thrown_error(&e))?;
            reply(&value, "prompt")
        }
    }
}

pub(crate) fn completion(handler: Function) -> impl CompletionHandler {
    move |request: CompletionRequest, ctx: RequestContext| {
        let handler = handler.clone();
        async move {
            let reference = match &request.reference {
                CompletionReference::Prompt(name) => json!({ "type": "ref/prompt", "name": name }),
                CompletionReference::Resource(uri) => json!({ "type": "ref/resource", "uri": uri }),
                _ => json!({}),
            };
            let args = json!({
                "ref": reference,
                "argument": { "name": request.argument, "value": request.value },
                "context": { "arguments": request.context },
            });
            let value = invoke(&handler, vec![to_js(&args)], ctx).await.map_err(|e| thrown_error(&e))?;
            reply(&value, "completion")
        }
    }
}

pub(crate) fn subscribed(handler: Function) -> impl SubscribeHandler {
    move |uri: String, ctx: RequestContext| {
        let handler = handler.clone();
        async move {
            // The subscription stands whatever the hook does; a failing hook is only reported.
            if let Err(thrown) = invoke(&handler, vec![JsValue::from(uri)], ctx).await {
                console_warn(&format!("mcp-session: onSubscribe handler threw: {}", message(&thrown)));
            }
        }
    }
}

fn console_warn(text: &str) {
    #[wasm_bindgen::prelude::wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = console, js_name = warn)]
        fn warn(text: &str);
    }
    warn(text);
}
