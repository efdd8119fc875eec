//! Property: arbitrary requests (methods, paths, header values, bodies from random bytes to
//! near-valid JSON-RPC) never panic the engine, always get a well-formed answer, and never change
//! the number of sessions, except a valid `initialize` (one more) and a valid DELETE (one less).
//!
//! Invariant 5 of the crate docs.
#![cfg(not(target_family = "wasm"))]

mod common;
mod support_http;

use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use mcp_session::http::headers::MCP_SESSION_ID;
use proptest::prelude::*;
use serde_json::{json, Value};
use support_http::*;

#[derive(Clone, Debug)]
enum HeaderChoice {
    Text(String),
    Bytes(Vec<u8>),
}

/// A header value: usually what a well-behaved client sends (`usual`, `None` for absent),
/// sometimes another plausible value, absence, or arbitrary bytes (dropped if they cannot be a
/// header value).
fn header(
    usual: Option<&'static str>,
    plausible: &'static [&'static str],
) -> impl Strategy<Value = Option<HeaderChoice>> {
    let text = |s: &str| Some(HeaderChoice::Text(s.to_owned()));
    let flipped = match usual {
        Some(_) => None,
        None => text(plausible[0]),
    };
    prop_oneof![
        92 => Just(usual.and_then(text)),
        3 => proptest::sample::select(plausible).prop_map(text),
        2 => Just(flipped),
        3 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(|b| Some(HeaderChoice::Bytes(b))),
    ]
}

#[derive(Clone, Debug)]
enum SessionChoice {
    Real,
    Hex(String),
    Other(HeaderChoice),
}

fn session() -> impl Strategy<Value = Option<SessionChoice>> {
    let choice = prop_oneof![
        16 => Just(SessionChoice::Real),
        1 => "[0-9a-f]{32}".prop_map(SessionChoice::Hex),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| SessionChoice::Other(HeaderChoice::Bytes(b))),
    ];
    proptest::option::weighted(0.9, choice)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z_]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn id() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        6 => (0i64..4).prop_map(|n| Some(json!(n))),
        2 => "[a-z0-9]{0,6}".prop_map(|s| Some(json!(s))),
        3 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => any::<i64>().prop_map(|n| Some(json!(n))),
        1 => json_value().prop_map(Some),
    ]
}

const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
];
const TOOLS: &[&str] = &[
    "echo",
    "log_once",
    "log_levels",
    "progress",
    "wait",
    "notify_session",
    "sample",
    "elicit",
    "until_cancelled",
    "nope",
];
const VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25", "2024-11-05", ""];

fn params() -> impl Strategy<Value = Option<Value>> {
    let version = proptest::sample::select(VERSIONS);
    let tool = proptest::sample::select(TOOLS);
    prop_oneof![
        2 => Just(None),
        2 => Just(Some(json!({}))),
        1 => json_value().prop_map(Some),
        2 => (version, json_value()).prop_map(|(v, caps)| Some(json!({ "protocolVersion": v, "capabilities": caps }))),
        6 => (tool, json_value(), proptest::option::of(json_value())).prop_map(|(name, arguments, token)| {
            let mut params = json!({ "name": name, "arguments": arguments });
            if let Some(token) = token {
                params["_meta"] = json!({ "progressToken": token });
            }
            Some(params)
        }),
        1 => id().prop_map(|id| Some(json!({ "requestId": id }))),
        1 => proptest::sample::select(&["debug", "error", "loud"][..]).prop_map(|l| Some(json!({ "level": l }))),
        1 => Just(Some(json!({ "uri": WATCHED }))),
    ]
}

fn message() -> impl Strategy<Value = Value> {
    let jsonrpc = prop_oneof![18 => Just(Some("2.0")), 1 => Just(Some("1.0")), 1 => Just(None)];
    let method = proptest::option::weighted(
        0.9,
        prop_oneof![5 => proptest::sample::select(METHODS).prop_map(str::to_owned), 1 => "[a-z/]{0,12}"],
    );
    let outcome = prop_oneof![
        16 => Just(None),
        1 => json_value().prop_map(|v| Some(("result", v))),
        1 => json_value().prop_map(|v| Some(("error", v))),
        1 => Just(Some(("error", json!({ "code": -1, "message": "no" })))),
    ];
    (jsonrpc, id(), method, params(), outcome).prop_map(|(jsonrpc, id, method, params, outcome)| {
        let mut message = serde_json::Map::new();
        if let Some(jsonrpc) = jsonrpc {
            message.insert("jsonrpc".into(), json!(jsonrpc));
        }
        if let Some(id) = id {
            message.insert("id".into(), id);
        }
        if let Some(method) = method {
            message.insert("method".into(), json!(method));
        }
        if let Some(params) = params {
            message.insert("params".into(), params);
        }
        if let Some((key, value)) = outcome {
            message.insert(key.into(), value);
        }
        Value::Object(message)
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        6 => message().prop_map(|m| serde_json::to_vec(&m).unwrap()),
        2 => proptest::collection::vec(message(), 1..4).prop_map(|b| serde_json::to_vec(&b).unwrap()),
    ]
}

#[derive(Clone, Debug)]
struct Input {
    method: Method,
    path: String,
    session: Option<SessionChoice>,
    headers: Vec<(&'static str, Option<HeaderChoice>)>,
    body: Vec<u8>,
}

fn input() -> impl Strategy<Value = Input> {
    let method = prop_oneof![
        8 => Just(Method::POST),
        3 => Just(Method::GET),
        1 => Just(Method::DELETE),
        1 => Just(Method::PUT),
        1 => Just(Method::OPTIONS),
    ];
    let path = prop_oneof![9 => Just("/mcp".to_owned()), 1 => "/[a-z/]{0,6}"];
    let headers = (
        header(Some("localhost:3000"), &["127.0.0.1:3000", "[::1]", "evil.example.com"]),
        header(None, &["http://localhost:3000", "null", "https://evil.example.com"]),
        header(Some("application/json"), &["text/plain", "application/json; charset=utf-8"]),
        header(Some("application/json, text/event-stream"), &["*/*", "text/event-stream", "application/json"]),
        header(None, &["2025-11-25", "2025-03-26", "2025-06-18", "2024-11-05"]),
        header(None, &["1-0.1795262400000", "0-0", "1-1", "0-99", "1-"]),
        header(None, &["default", "acme"]),
        header(None, &["alice"]),
        proptest::option::weighted(0.03, Just(HeaderChoice::Text("1".into()))),
    )
        .prop_map(|(host, origin, content_type, accept, version, last_event_id, tenant, user, deny)| {
            vec![
                ("host", host),
                ("origin", origin),
                ("content-type", content_type),
                ("accept", accept),
                ("mcp-protocol-version", version),
                ("last-event-id", last_event_id),
                ("x-tenant", tenant),
                ("x-user", user),
                ("x-deny", deny),
            ]
        });
    (method, path, session(), headers, body()).prop_map(|(method, path, session, headers, body)| Input {
        method,
        path,
        session,
        headers,
        body,
    })
}

fn apply(request: Req, name: &str, choice: &Option<HeaderChoice>) -> Req {
    match choice {
        None => request.remove(name),
        Some(HeaderChoice::Text(text)) => request.header(name, text),
        Some(HeaderChoice::Bytes(bytes)) => request.remove(name).header_bytes(name, bytes),
    }
}

fn build(input: &Input, real: &Client) -> Req {
    let mut request = post_raw(input.body.clone()).method(input.method.clone()).uri(&input.path);
    request = match &input.session {
        None => request,
        Some(SessionChoice::Real) => request.session(&real.id),
        Some(SessionChoice::Hex(id)) => request.session(id),
        Some(SessionChoice::Other(choice)) => apply(request, "mcp-session-id", &Some(choice.clone())),
    };
    for (name, choice) in &input.headers {
        request = apply(request, name, choice);
    }
    request
}

/// Whether `body` is one JSON-RPC `initialize` request.
fn is_initialize(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|m| m["method"] == "initialize" && m["jsonrpc"] == "2.0")
}

fn check(h: &Harness, input: &Input, real: &Client) -> Result<(), TestCaseError> {
    let before = h.snapshot().sessions;
    let response = h.send(build(input, real));
    let status = response.status();
    prop_assert!(!status.is_server_error(), "{status}");
    let created = response.headers().get(MCP_SESSION_ID).map(|v| v.to_str().unwrap().to_owned());
    let is_json = response.headers().get(CONTENT_TYPE).is_some_and(|v| v == "application/json");
    if response.body().is_stream() {
        let mut sse = expect_sse(response);
        for frame in h.read(&mut sse) {
            if !frame.data.is_empty() {
                let message = frame.json();
                prop_assert_eq!(&message["jsonrpc"], "2.0");
            }
        }
    } else {
        let bytes = body_bytes(response.into_body());
        if status == StatusCode::ACCEPTED || (input.method == Method::DELETE && status == StatusCode::OK) {
            prop_assert!(bytes.is_empty());
        } else {
            prop_assert!(is_json, "{status} without JSON");
            let value: Value = serde_json::from_slice(&bytes).expect("a JSON body");
            if status.is_client_error() {
                prop_assert!(value["error"]["code"].is_i64(), "{status}: {value}");
            }
        }
    }
    let after = h.snapshot().sessions;
    match (&created, input.method.clone()) {
        (Some(id), _) => {
            prop_assert!(is_session_id(id), "{id}");
            prop_assert_eq!(status, StatusCode::OK);
            prop_assert_eq!(input.method.clone(), Method::POST);
            prop_assert!(is_initialize(&input.body), "a session from {:?}", String::from_utf8_lossy(&input.body));
            prop_assert_eq!(after, before + 1);
        }
        (None, Method::DELETE) if status == StatusCode::OK => prop_assert_eq!(after + 1, before),
        (None, _) => prop_assert_eq!(after, before, "{} changed the session count", status),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_requests_never_panic_nor_leak_sessions(inputs in proptest::collection::vec(input(), 1..6)) {
        let h = harness().build();
        let real = h.connect(V2025_11_25);
        for input in &inputs {
            check(&h, input, &real)?;
        }
        if h.last_seen(&real).is_some() {
            h.assert_works(&real);
        }
        // Whatever was left running can finish without panicking.
        h.latch.open();
        h.pump();
    }
}
