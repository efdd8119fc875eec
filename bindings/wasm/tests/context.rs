//! The handler context as JavaScript sees it on requests of the 2026-07-28 revision: inputs by
//! key, the request state, the client's info, the capability error and `announce`; and the
//! revision's headers and listen streams as the bindings read and route them.
#![cfg(target_family = "wasm")]

use js_sys::{Promise, Reflect};
use mcp_session_wasm::McpServer;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
const thrown = [];
export function info() { return { name: "test", version: "1" }; }
export function definition(name, inputSchema) { return { name, description: name, inputSchema }; }
export function parse(json) { return JSON.parse(json); }
export function request(method, name, body, extra) {
  const headers = {
    accept: "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": method,
    ...JSON.parse(extra),
  };
  if (name) headers["mcp-name"] = name;
  return new Request("http://127.0.0.1/mcp", { method: "POST", headers, body });
}
export async function answer(response) { return { status: response.status, body: await response.text() }; }
export function thrownNames() { return thrown.splice(0).join(","); }
export function asker() {
  return async (_, ctx) => {
    ctx.setRequestState("carried");
    let answer;
    try {
      answer = await ctx.input("user_name").elicit({
        message: "Your name?",
        requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
      });
    } catch (error) {
      thrown.push(error.name);
      throw error;
    }
    return `${answer.content.name}|${ctx.requestState}|${ctx.clientInfo?.name}|${ctx.clientCapabilities.elicitation}`;
  };
}
export function sampler() {
  return async (_, ctx) => (await ctx.createMessage({ messages: [], maxTokens: 1 })).content.text;
}
export function announcer() {
  return async ({ change }, ctx) => String(await ctx.announce(change));
}
export function echo() {
  return async ({ region }) => `region: ${region}`;
}
"#)]
extern "C" {
    fn info() -> JsValue;
    fn definition(name: &str, input_schema: JsValue) -> JsValue;
    fn parse(json: &str) -> JsValue;
    fn request(method: &str, name: Option<&str>, body: &str, extra: &str) -> web_sys::Request;
    fn answer(response: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = thrownNames)]
    fn thrown_names() -> String;
    fn asker() -> js_sys::Function;
    fn sampler() -> js_sys::Function;
    fn announcer() -> js_sys::Function;
    fn echo() -> js_sys::Function;
}

/// `params` with the `_meta` of the 2026-07-28 revision.
fn modern(mut params: Value, capabilities: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": { "name": "probe", "version": "1" },
    });
    params
}

/// A `tools/call` of the 2026-07-28 revision: its HTTP status and its JSON-RPC response.
async fn call(server: &McpServer, name: &str, params: Value, capabilities: Value) -> (u16, Value) {
    call_with(server, name, params, capabilities, "{}").await
}

/// [`call`] with `extra` headers (a JSON object).
async fn call_with(
    server: &McpServer,
    name: &str,
    mut params: Value,
    capabilities: Value,
    extra: &str,
) -> (u16, Value) {
    params["name"] = json!(name);
    let params = modern(params, capabilities);
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params }).to_string();
    let request = request("tools/call", Some(name), &body, extra);
    let response = JsFuture::from(server.fetch(request, JsValue::UNDEFINED)).await.unwrap();
    let answer = JsFuture::from(answer(&response)).await.unwrap();
    let status = Reflect::get(&answer, &"status".into()).unwrap().as_f64().unwrap() as u16;
    let body = Reflect::get(&answer, &"body".into()).unwrap().as_string().unwrap();
    // A JSON reply, or the last `data:` line of an SSE one.
    let message =
        body.lines().filter_map(|line| line.strip_prefix("data:")).next_back().unwrap_or(&body).trim().to_owned();
    (status, serde_json::from_str(&message).unwrap_or_else(|e| panic!("{e}: {body}")))
}

fn server() -> McpServer {
    server_with("{}")
}

fn server_with(options: &str) -> McpServer {
    let server = McpServer::new(info(), parse(options)).unwrap();
    server.tool(definition("ask", JsValue::UNDEFINED), asker()).unwrap();
    server.tool(definition("sample", JsValue::UNDEFINED), sampler()).unwrap();
    server.tool(definition("announce", JsValue::UNDEFINED), announcer()).unwrap();
    let mirrored = r#"{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}"#;
    server.tool(definition("mirrored", parse(mirrored)), echo()).unwrap();
    server
}

fn text(response: &Value) -> &str {
    response["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text: {response}"))
}

#[wasm_bindgen_test]
async fn an_input_by_key_ends_the_round_asking_and_the_retry_answers_it() {
    let server = server();
    let elicitation = json!({ "elicitation": {} });
    let (status, first) = call(&server, "ask", json!({ "arguments": {} }), elicitation.clone()).await;
    assert_eq!(status, 200, "{first}");
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required", "{first}");
    assert_eq!(result["inputRequests"]["user_name"]["method"], "elicitation/create", "{first}");
    assert_eq!(thrown_names(), "InputRequired", "the ask rejected with a recognisable error");

    let retry = json!({
        "arguments": {},
        "inputResponses": { "user_name": { "action": "accept", "content": { "name": "Ada" } } },
        "requestState": result["requestState"],
    });
    let (status, second) = call(&server, "ask", retry, elicitation).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["result"]["resultType"], "complete", "{second}");
    assert_eq!(text(&second), "Ada|carried|probe|true", "the answer, the state set before, the client's info");
    assert_eq!(thrown_names(), "");
}

#[wasm_bindgen_test]
async fn an_undeclared_capability_is_the_json_rpc_error_even_from_a_tool() {
    // JSON mode, as the example worker's front uses: a JavaScript handler never answers on the
    // first poll, so "adaptive" would already have chosen SSE, whose status is 200.
    let server = server_with(r#"{"responseMode":"json"}"#);
    let (status, response) = call(&server, "sample", json!({ "arguments": {} }), json!({})).await;
    assert_eq!(status, 400, "{response}");
    assert_eq!(response["error"]["code"], -32021, "{response}");
    assert_eq!(response["error"]["data"]["requiredCapabilities"], json!({ "sampling": {} }), "{response}");
}

#[wasm_bindgen_test]
async fn announce_takes_every_change_and_refuses_others() {
    let server = server();
    for change in [
        json!("toolsListChanged"),
        json!({ "type": "promptsListChanged" }),
        json!("resourcesListChanged"),
        json!({ "resourceUpdated": "test://r" }),
        json!({ "type": "resourceUpdated", "uri": "test://r" }),
    ] {
        let (_, response) = call(&server, "announce", json!({ "arguments": { "change": change } }), json!({})).await;
        assert_eq!(text(&response), "0", "{change}: nobody listens: {response}");
        assert!(response["result"].get("isError").is_none(), "{change}: {response}");
    }
    for change in [json!("toolsChanged"), json!({ "type": "resourceUpdated" }), json!(7)] {
        let (_, response) = call(&server, "announce", json!({ "arguments": { "change": change } }), json!({})).await;
        assert_eq!(response["result"]["isError"], true, "{change}: {response}");
        assert!(text(&response).starts_with("announce: "), "{change}: {response}");
    }
}

#[wasm_bindgen_test]
async fn the_headers_mirroring_arguments_reach_the_engine() {
    let server = server();
    let arguments = json!({ "arguments": { "region": "eu-west" } });
    let (status, response) =
        call_with(&server, "mirrored", arguments.clone(), json!({}), r#"{"mcp-param-region":"eu-west"}"#).await;
    assert_eq!((status, text(&response)), (200, "region: eu-west"), "{response}");
    let (status, response) =
        call_with(&server, "mirrored", arguments.clone(), json!({}), r#"{"Mcp-Param-Region":"us-east"}"#).await;
    assert_eq!((status, response["error"]["code"].clone()), (400, json!(-32020)), "a header that differs: {response}");
    let (status, response) = call(&server, "mirrored", arguments, json!({})).await;
    assert_eq!((status, response["error"]["code"].clone()), (400, json!(-32020)), "a header missing: {response}");
}

#[wasm_bindgen_test]
async fn a_listen_stream_routes_to_where_changes_are_announced() {
    let kind = |method: &'static str| async move {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": modern(json!({}), json!({})) });
        let routed = JsFuture::from(mcp_session_wasm::route(request(method, None, &body.to_string(), "{}"))).await;
        Reflect::get(&routed.unwrap(), &"kind".into()).unwrap().as_string().unwrap()
    };
    assert_eq!(kind("subscriptions/listen").await, "listen");
    assert_eq!(kind("tools/list").await, "any");
}
