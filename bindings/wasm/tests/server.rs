//! `McpServer` as JavaScript sees it: requests it cannot represent, whether it holds a session,
//! and the options it accepts and applies.
#![cfg(target_family = "wasm")]

use js_sys::{Promise, Reflect};
use mcp_session_wasm::McpServer;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(inline_js = r#"
export function info() { return { name: "test", version: "1" }; }
export function parse(json) { return JSON.parse(json); }
export function request(method, headers, body) {
  const init = { method, headers: { accept: "application/json, text/event-stream", ...JSON.parse(headers) } };
  if (body) { init.body = body; init.headers["content-type"] = "application/json"; }
  return new Request("http://127.0.0.1/mcp", init);
}
export async function answer(response) {
  return {
    status: response.status,
    body: await response.text(),
    session: response.headers.get("mcp-session-id") ?? undefined,
    retryAfter: response.headers.get("retry-after") ?? undefined,
  };
}
export function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }
"#)]
extern "C" {
    fn info() -> JsValue;
    fn parse(json: &str) -> JsValue;
    fn request(method: &str, headers: &str, body: Option<&str>) -> web_sys::Request;
    fn answer(response: &JsValue) -> Promise;
    fn sleep(ms: u32) -> Promise;
}

struct Answer {
    status: u16,
    body: String,
    session: Option<String>,
    retry_after: Option<String>,
}

async fn send(server: &McpServer, method: &str, headers: &str, body: Option<&str>) -> Answer {
    let response = JsFuture::from(server.fetch(request(method, headers, body), JsValue::UNDEFINED)).await.unwrap();
    let answer = JsFuture::from(answer(&response)).await.unwrap();
    let get = |key: &str| Reflect::get(&answer, &key.into()).unwrap();
    Answer {
        status: get("status").as_f64().unwrap() as u16,
        body: get("body").as_string().unwrap(),
        session: get("session").as_string(),
        retry_after: get("retryAfter").as_string(),
    }
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn session_headers(id: &str) -> String {
    format!(r#"{{"mcp-session-id":"{id}","mcp-protocol-version":"2025-11-25"}}"#)
}

async fn initialize(server: &McpServer) -> String {
    let answer = send(server, "POST", "{}", Some(INITIALIZE)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.session.expect("initialize issues a session id")
}

fn server(options: &str) -> McpServer {
    McpServer::new(info(), parse(options)).unwrap()
}

#[wasm_bindgen_test]
async fn a_header_value_that_cannot_be_a_header_is_the_engines_400() {
    let server = server("{}");
    for headers in [r#"{"authorization":"a\u0001b"}"#, r#"{"mcp-session-id":"a\u007fb"}"#] {
        let answer = send(&server, "POST", headers, Some(INITIALIZE)).await;
        assert_eq!(answer.status, 400, "{headers}: {}", answer.body);
        let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["jsonrpc"], "2.0");
        assert!(body["id"].is_null());
        assert_eq!(body["error"]["message"], "Bad Request: malformed request header");
    }
    // The server is unharmed.
    initialize(&server).await;
}

#[wasm_bindgen_test]
async fn a_latin1_session_id_is_an_unknown_session_not_an_error() {
    let server = server("{}");
    let ping = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
    let answer = send(&server, "POST", &session_headers("caf\u{e9}"), Some(ping)).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(answer.body.contains(r#""jsonrpc":"2.0""#), "{}", answer.body);
}

#[wasm_bindgen_test]
async fn has_session_is_true_until_the_session_ends() {
    let server = server("{}");
    let id = initialize(&server).await;
    assert!(server.has_session(&id).unwrap());
    let quiet = r#"{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"error"}}"#;
    assert_eq!(send(&server, "POST", &session_headers(&id), Some(quiet)).await.status, 200);
    let change = parse(r#"{"kind":"k","tenantId":"default"}"#);
    let told = JsFuture::from(server.publish_change(change)).await.unwrap();
    assert_eq!(told.as_f64(), Some(0.0), "a session at level error hears no info change");
    assert!(server.has_session(&id).unwrap(), "and still exists");
    assert!(!server.has_session("0123456789abcdef0123456789abcdef").unwrap(), "an id it never had");
    assert!(!server.has_session("not a session id").unwrap());
    assert_eq!(send(&server, "DELETE", &session_headers(&id), None).await.status, 200);
    assert!(!server.has_session(&id).unwrap(), "deleted");
}

#[wasm_bindgen_test]
fn options_of_the_wrong_kind_are_refused() {
    for bad in [
        r#"{"maxCallsPerSession":0}"#,
        r#"{"replayCapacity":0}"#,
        r#"{"retainedBytes":-1}"#,
        r#"{"maxStreamBytes":1.5}"#,
        r#"{"maxBatch":"64"}"#,
        r#"{"maxResourceSubscriptions":true}"#,
        r#"{"retryAfterMs":-5}"#,
        r#"{"initializationTimeoutMs":"1s"}"#,
        r#"{"activityHolds":"yes"}"#,
        r#"{"stateless":1}"#,
        r#"{"path":7}"#,
        r#"{"responseMode":"xml"}"#,
    ] {
        let refused = McpServer::new(info(), parse(bad)).err().unwrap_or_else(|| panic!("{bad} was accepted"));
        let message = js_sys::Error::from(refused).message();
        assert!(String::from(message).starts_with("options: "), "{bad}");
    }
    McpServer::new(
        info(),
        parse(
            r#"{"initializationTimeoutMs":1000,"activityHolds":false,"replayCapacity":8,"maxStreamBytes":65536,
                "retainedBytes":1048576,"maxSessions":10,"maxSessionsPerTenant":5,"maxCallsPerSession":4,
                "maxBatch":8,"maxResourceSubscriptions":16,"retryAfterMs":2000}"#,
        ),
    )
    .unwrap();
    // Caps beyond the address space mean no cap; they do not wrap to a small one.
    McpServer::new(info(), parse(r#"{"maxSessions":9007199254740991}"#)).unwrap();
}

#[wasm_bindgen_test]
async fn a_huge_session_cap_does_not_wrap() {
    let server = server(r#"{"maxSessions":4294967296}"#);
    initialize(&server).await;
}

#[wasm_bindgen_test]
async fn retry_after_and_the_session_cap_apply() {
    let server = server(r#"{"maxSessions":1,"retryAfterMs":7000}"#);
    initialize(&server).await;
    let refused = send(&server, "POST", "{}", Some(INITIALIZE)).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.retry_after.as_deref(), Some("7"));
}

#[wasm_bindgen_test]
async fn max_batch_applies() {
    let server = server(r#"{"maxBatch":1}"#);
    let init = INITIALIZE.replace("2025-11-25", "2025-03-26");
    let answer = send(&server, "POST", "{}", Some(&init)).await;
    let id = answer.session.unwrap();
    let headers = format!(r#"{{"mcp-session-id":"{id}","mcp-protocol-version":"2025-03-26"}}"#);
    let two = r#"[{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","id":3,"method":"ping"}]"#;
    let refused = send(&server, "POST", &headers, Some(two)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("batch"), "{}", refused.body);
    let one = r#"[{"jsonrpc":"2.0","id":4,"method":"ping"}]"#;
    assert_eq!(send(&server, "POST", &headers, Some(one)).await.status, 200);
}

#[wasm_bindgen_test]
async fn the_initialization_timeout_applies() {
    let server = server(r#"{"initializationTimeoutMs":50}"#);
    let unused = initialize(&server).await;
    JsFuture::from(sleep(80)).await.unwrap();
    JsFuture::from(server.handle_timeout()).await.unwrap();
    assert!(!server.has_session(&unused).unwrap(), "never used after initialize: expired");
}

#[cfg(feature = "prometheus")]
#[wasm_bindgen_test]
async fn render_prometheus_counts_what_the_server_did() {
    let server = server("{}");
    let id = initialize(&server).await;
    let ping = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
    let unknown = send(&server, "POST", &session_headers("0123456789abcdef0123456789abcdef"), Some(ping)).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(send(&server, "DELETE", &session_headers(&id), None).await.status, 200);
    let text = server.render_prometheus().unwrap();
    for line in [
        "mcp_sessions_created_total 1",
        "mcp_sessions_deleted_total 1",
        "mcp_sessions_active 0",
        "mcp_requests_rejected_total{status=\"404\"} 1",
        "mcp_request_duration_seconds_count 3",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }
}
