//! Typed handlers through the engine: the schemas clients list are derived from the handler's
//! types, arguments that do not fit never reach the handler (a tool answers `isError: true`
//! naming the field, a prompt or template -32602), and a structured result fills
//! `structuredContent` beside its text. Both eras.

mod common;
mod support_http;

use http::StatusCode;
use mcp_session::model::{CallToolResult, GetPromptResult};
use mcp_session::model::{
    Content, Prompt, PromptMessage, ReadResourceResult, ResourceContents, ResourceTemplate, Tool,
};
use mcp_session::server::{Server, Structured};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use support_http::*;

#[derive(Deserialize, JsonSchema)]
struct Divide {
    /// What is divided.
    dividend: i64,
    /// What it is divided by; not zero.
    divisor: i64,
    /// Digits after the point, if any.
    #[serde(default)]
    precision: Option<u8>,
}

#[derive(Serialize, JsonSchema)]
struct Quotient {
    quotient: f64,
}

#[derive(Deserialize, JsonSchema)]
struct Review {
    /// The code to review.
    code: String,
    /// What to look for.
    focus: Option<String>,
}

#[derive(Deserialize)]
struct Issue {
    repo: String,
    number: String,
}

fn typed_server(seen: &Seen) -> Server {
    let (tools, prompts) = (seen.clone(), seen.clone());
    Server::builder("typed-tests", "0.0.0")
        .typed_tool(Tool::new("divide", "Divides two integers"), move |args: Divide, _| {
            let seen = tools.clone();
            async move {
                seen.note(format!("divide {} {}", args.dividend, args.divisor));
                if args.divisor == 0 {
                    return Err(mcp_session::jsonrpc::ErrorObject::invalid_params("divisor is zero"));
                }
                let quotient = args.dividend as f64 / args.divisor as f64;
                let scale = 10f64.powi(i32::from(args.precision.unwrap_or(2)));
                Ok(Structured(Quotient { quotient: (quotient * scale).round() / scale }))
            }
        })
        .typed_tool(Tool::new("shout", "Upper-cases text"), |args: Review, _| async move {
            Ok(CallToolResult::text(args.code.to_uppercase()))
        })
        .typed_prompt(Prompt::new("review", "Reviews code"), move |args: Review, _| {
            let seen = prompts.clone();
            async move {
                seen.note("review");
                let focus = args.focus.unwrap_or_else(|| "anything".into());
                let text = format!("Review for {focus}:\n{}", args.code);
                Ok(GetPromptResult::new(vec![PromptMessage::user(Content::text(text))]))
            }
        })
        .typed_resource_template(
            ResourceTemplate::new("issues://{repo}/{number}", "issue"),
            |uri: String, issue: Issue, _| async move {
                let text = format!("issue {} of {}", issue.number, issue.repo);
                Ok(ReadResourceResult::new(vec![ResourceContents::text(uri, "text/plain", text)]))
            },
        )
        .build()
}

fn call(h: &Harness, client: &Client, id: u64, name: &str, arguments: Value) -> Value {
    expect_json(h.send(client.post(&tool_call(id, name, arguments))), StatusCode::OK)
}

fn text_of(body: &Value) -> &str {
    body["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("a text block: {body}"))
}

#[test]
fn tools_list_shows_the_schemas_derived_from_the_handler_types() {
    let h = harness().server(typed_server).build();
    let client = h.connect(V2025_11_25);
    let body = expect_json(h.send(client.post(&request(2, "tools/list", None))), StatusCode::OK);
    let divide = &body["result"]["tools"][0];
    assert_eq!(divide["name"], "divide");
    let input = &divide["inputSchema"];
    assert_eq!(input["type"], "object");
    assert_eq!(input["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(input["properties"]["dividend"]["type"], "integer");
    assert_eq!(input["properties"]["divisor"]["description"], "What it is divided by; not zero.");
    assert_eq!(input["required"], json!(["dividend", "divisor"]));
    let output = &divide["outputSchema"];
    assert_eq!(output["type"], "object");
    assert_eq!(output["properties"]["quotient"]["type"], "number");
    let shout = &body["result"]["tools"][1];
    assert!(shout.get("outputSchema").is_none(), "an unstructured result declares no output schema: {shout}");
}

#[test]
fn a_wrongly_typed_argument_is_a_tool_error_naming_the_field_and_the_handler_never_runs() {
    let h = harness().server(typed_server).build();
    let client = h.connect(V2025_11_25);
    let body = call(&h, &client, 2, "divide", json!({ "dividend": "ten", "divisor": 2 }));
    assert_eq!(body["result"]["isError"], true, "{body}");
    let text = text_of(&body);
    assert!(text.starts_with("invalid arguments: dividend: invalid type: string \"ten\""), "{text}");

    let body = call(&h, &client, 3, "divide", json!({ "dividend": 10 }));
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert_eq!(text_of(&body), "invalid arguments: missing field `divisor`");

    let body = call(&h, &client, 4, "divide", json!({ "dividend": 1, "divisor": 2, "precision": 300 }));
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert!(text_of(&body).starts_with("invalid arguments: precision: invalid value: integer `300`"), "{body}");
    assert_eq!(h.seen.take(), Vec::<String>::new(), "no handler ran");
}

#[test]
fn a_structured_result_fills_structured_content_and_the_same_json_as_text() {
    let h = harness().server(typed_server).build();
    let client = h.connect(V2025_11_25);
    let body = call(&h, &client, 2, "divide", json!({ "dividend": 10, "divisor": 4 }));
    assert!(body["result"].get("isError").is_none(), "{body}");
    assert_eq!(body["result"]["structuredContent"], json!({ "quotient": 2.5 }));
    let text: Value = serde_json::from_str(text_of(&body)).expect("the text block is the JSON");
    assert_eq!(text, body["result"]["structuredContent"]);
    assert_eq!(h.seen.take(), vec!["divide 10 4"]);
}

#[test]
fn a_handler_error_stays_a_jsonrpc_error_and_an_unknown_tool_stays_invalid_params() {
    let h = harness().server(typed_server).build();
    let client = h.connect(V2025_11_25);
    let body = call(&h, &client, 2, "divide", json!({ "dividend": 1, "divisor": 0 }));
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let body = call(&h, &client, 3, "no_such_tool", json!({}));
    assert_eq!(body["error"]["code"], -32602, "{body}");
}

#[test]
fn a_typed_prompt_lists_its_fields_as_arguments_and_refuses_a_missing_one() {
    let h = harness().server(typed_server).build();
    let client = h.connect(V2025_11_25);
    let body = expect_json(h.send(client.post(&request(2, "prompts/list", None))), StatusCode::OK);
    assert_eq!(
        body["result"]["prompts"][0]["arguments"],
        json!([
            { "name": "code", "description": "The code to review.", "required": true },
            { "name": "focus", "description": "What to look for." },
        ])
    );
    let get = |id: u64, arguments: Value| {
        let message = request(id, "prompts/get", Some(json!({ "name": "review", "arguments": arguments })));
        expect_json(h.send(client.post(&message)), StatusCode::OK)
    };
    let body = get(3, json!({ "focus": "bugs" }));
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert_eq!(body["error"]["message"], "invalid arguments: missing field `code`");
    assert_eq!(h.seen.take(), Vec::<String>::new(), "the handler never ran");
    let body = get(4, json!({ "code": "let x = 1;" }));
    assert_eq!(body["result"]["messages"][0]["content"]["text"], "Review for anything:\nlet x = 1;");
}

#[test]
fn a_typed_template_receives_its_variables_as_a_struct() {
    let h = harness().server(typed_server).build();
    let client = h.connect(V2025_11_25);
    let message = request(2, "resources/read", Some(json!({ "uri": "issues://mcp/42" })));
    let body = expect_json(h.send(client.post(&message)), StatusCode::OK);
    assert_eq!(body["result"]["contents"][0]["text"], "issue 42 of mcp", "{body}");
}

#[test]
fn the_sessionless_era_answers_a_wrongly_typed_argument_with_a_tool_error_too() {
    let h = harness().server(typed_server).build();
    let params = json!({ "name": "divide", "arguments": { "dividend": 1, "divisor": true } });
    let body = expect_json(h.send(modern(1, "tools/call", params, json!({}))), StatusCode::OK);
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert_eq!(body["result"]["resultType"], "complete");
    assert!(text_of(&body).starts_with("invalid arguments: divisor: invalid type: boolean `true`"), "{body}");
}
