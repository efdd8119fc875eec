//! The conformance fixture's tools for the 2026-07-28 revision: input-required rounds, the
//! capability, logging and streaming probes, list-change and resource-update triggers and a
//! header-mirrored argument. Each handler is written once and also runs on a session, where its
//! inputs become real requests to the client.

use mcp_session::jsonrpc::ErrorObject;
use mcp_session::model::{CallToolResult, Content, GetPromptResult, LogLevel, Prompt, PromptMessage, Tool};
use mcp_session::server::ServerBuilder;
use mcp_session::{Change, RequestContext};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

fn ask(message: &str, field: &str, kind: &str) -> Value {
    json!({
        "message": message,
        "requestedSchema": { "type": "object", "properties": { field: { "type": kind } }, "required": [field] },
    })
}

fn sampling(text: &str, max_tokens: u32) -> Value {
    json!({ "messages": [{ "role": "user", "content": { "type": "text", "text": text } }], "maxTokens": max_tokens })
}

/// An answered elicitation's field (or `?`).
fn field(answer: &Value, name: &str) -> String {
    answer["content"][name].as_str().map_or_else(|| answer["content"][name].to_string(), str::to_owned)
}

/// A sampling answer's text.
fn sampled(answer: &Value) -> String {
    answer["content"]["text"].as_str().map_or_else(|| answer["content"].to_string(), str::to_owned)
}

fn roots(answer: &Value) -> String {
    let uris: Vec<&str> = answer["roots"].as_array().into_iter().flatten().filter_map(|r| r["uri"].as_str()).collect();
    format!("roots: [{}]", uris.join(", "))
}

// `test_trigger_resource_update`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct ResourceUpdate {
    /// The resource that changed.
    #[schemars(extend("default" = "test://watched-resource"))]
    uri: Option<String>,
}

// `test_header_mirrored_argument`'s arguments: clients send `region` in `Mcp-Param-Region` too.
#[derive(Deserialize, JsonSchema)]
struct Mirrored {
    #[schemars(extend("x-mcp-header" = "Region"))]
    region: String,
}

/// The state `test_input_required_result_request_state` carries to its second round.
const STATE: &str = "confirm-requested";

/// The resource `test_trigger_resource_update` announces when its call names none.
const WATCHED: &str = "test://watched-resource";

pub fn add(builder: ServerBuilder) -> ServerBuilder {
    builder
        .tool(
            Tool::new("test_input_required_result_elicitation", "Asks the user's name (input key user_name)"),
            |_, ctx: RequestContext| async move {
                let answer = ctx.input("user_name").elicit(ask("What is your name?", "name", "string")).await?;
                Ok(CallToolResult::text(format!("Hello, {}!", field(&answer, "name"))))
            },
        )
        .tool(
            Tool::new("test_input_required_result_sampling", "Asks the client's model (input key capital_question)"),
            |_, ctx: RequestContext| async move {
                let answer = ctx
                    .input("capital_question")
                    .create_message(sampling("What is the capital of France?", 100))
                    .await?;
                Ok(CallToolResult::text(format!("The model says: {}", sampled(&answer))))
            },
        )
        .tool(
            Tool::new("test_input_required_result_list_roots", "Asks for the client's roots (input key client_roots)"),
            |_, ctx: RequestContext| async move {
                let answer = ctx.input("client_roots").list_roots().await?;
                Ok(CallToolResult::text(format!("Client {}", roots(&answer))))
            },
        )
        .tool(
            Tool::new("test_input_required_result_request_state", "Asks for a confirmation, carrying a request state"),
            |_, ctx: RequestContext| async move {
                ctx.set_request_state(STATE);
                let answer = ctx.input("confirm").elicit(ask("Please confirm", "ok", "boolean")).await?;
                let verdict = if ctx.request_state() == Some(STATE) { "state-ok" } else { "state-missing" };
                Ok(CallToolResult::text(format!("{verdict}: confirmed={}", answer["content"]["ok"])))
            },
        )
        .tool(
            Tool::new(
                "test_input_required_result_multiple_inputs",
                "Asks for a name, a greeting and the roots at once",
            ),
            |_, ctx: RequestContext| async move {
                let (name, greeting, client_roots) = futures::join!(
                    ctx.input("user_name").elicit(ask("What is your name?", "name", "string")),
                    ctx.input("greeting").create_message(sampling("Generate a greeting", 50)),
                    ctx.input("client_roots").list_roots(),
                );
                let (name, greeting, client_roots) = (name?, greeting?, client_roots?);
                Ok(CallToolResult::text(format!(
                    "{} {}; {}",
                    sampled(&greeting),
                    field(&name, "name"),
                    roots(&client_roots)
                )))
            },
        )
        .tool(
            Tool::new("test_input_required_result_multi_round", "Asks two questions, one round each"),
            |_, ctx: RequestContext| async move {
                let name = ctx.input("step1").elicit(ask("Step 1: What is your name?", "name", "string")).await?;
                let color =
                    ctx.input("step2").elicit(ask("Step 2: What is your favorite color?", "color", "string")).await?;
                Ok(CallToolResult::text(format!("{} likes {}", field(&name, "name"), field(&color, "color"))))
            },
        )
        .tool(
            Tool::new("test_input_required_result_tampered_state", "Asks for a confirmation under a sealed state"),
            |_, ctx: RequestContext| async move {
                let answer = ctx.input("confirm").elicit(ask("Please confirm", "ok", "boolean")).await?;
                Ok(CallToolResult::text(format!("confirmed={}", answer["content"]["ok"])))
            },
        )
        .tool(
            Tool::new(
                "test_input_required_result_capabilities",
                "Asks only through what this request's client declared: elicitation, else sampling",
            ),
            |_, ctx: RequestContext| async move {
                let declared = ctx.client_capabilities();
                let text = if declared.elicitation {
                    field(&ctx.input("user_name").elicit(ask("What is your name?", "name", "string")).await?, "name")
                } else if declared.sampling {
                    sampled(
                        &ctx.input("capital_question")
                            .create_message(sampling("What is the capital of France?", 100))
                            .await?,
                    )
                } else {
                    "nothing to ask through".to_owned()
                };
                Ok(CallToolResult::text(text))
            },
        )
        .prompt(
            Prompt::new("test_input_required_result_prompt", "A prompt that asks for its context first"),
            |_, ctx: RequestContext| async move {
                let answer = ctx
                    .input("user_context")
                    .elicit(ask("What context should the prompt use?", "context", "string"))
                    .await?;
                let text = format!("Use this context: {}", field(&answer, "context"));
                Ok(GetPromptResult::new(vec![PromptMessage::user(Content::text(text))]))
            },
        )
        .tool(
            Tool::new("test_missing_capability", "Needs the client's sampling capability; -32021 without it"),
            |_, ctx: RequestContext| async move {
                let answer = ctx.create_message(sampling("Say hi", 10)).await?;
                Ok(CallToolResult::text(sampled(&answer)))
            },
        )
        .tool(
            Tool::new("test_streaming_elicitation", "Asks the user through elicitation on its own response"),
            |_, ctx: RequestContext| async move {
                let answer = ctx.elicit(ask("What is your name?", "name", "string")).await?;
                Ok(CallToolResult::text(format!("Hello, {}!", field(&answer, "name"))))
            },
        )
        .tool(
            Tool::new("test_logging_tool", "Logs at info three times (only when the request asks for logs)"),
            |_, ctx: RequestContext| async move {
                for step in 1..=3 {
                    ctx.log(LogLevel::Info, Some("test"), json!(format!("log message {step}")))
                        .await
                        .map_err(published)?;
                }
                Ok(CallToolResult::text("logged"))
            },
        )
        .tool(
            Tool::new("test_trigger_tool_change", "Announces that the tool list changed"),
            |_, ctx: RequestContext| async move {
                let told = ctx.announce(Change::ToolsListChanged).await;
                Ok(CallToolResult::text(format!("told {told}")))
            },
        )
        .tool(
            Tool::new("test_trigger_prompt_change", "Announces that the prompt list changed"),
            |_, ctx: RequestContext| async move {
                let told = ctx.announce(Change::PromptsListChanged).await;
                Ok(CallToolResult::text(format!("told {told}")))
            },
        )
        .typed_tool(
            Tool::new("test_trigger_resource_update", "Announces that the resource at uri changed"),
            |ResourceUpdate { uri }, ctx: RequestContext| async move {
                let uri = uri.unwrap_or_else(|| WATCHED.to_owned());
                let told = ctx.announce(Change::ResourceUpdated(uri)).await;
                Ok(CallToolResult::text(format!("told {told}")))
            },
        )
        .typed_tool(
            Tool::new("test_header_mirrored_argument", "Echoes its region, which clients mirror into Mcp-Param-Region"),
            |Mirrored { region }, _| async move { Ok(CallToolResult::text(format!("region: {region}"))) },
        )
}

fn published(error: impl std::fmt::Display) -> ErrorObject {
    ErrorObject::internal(format!("could not send: {error}"))
}
