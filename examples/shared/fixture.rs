//! The server the examples run: the conformance suite's fixture (`test_*` tools, `test://`
//! resources and template, `test_*` prompts), a demo of what the library is for (a long task
//! with progress, a change that notifies the tenant's other sessions), and the two tools the
//! load harness drives (`echo`, `notify`).
//!
//! Handlers sleep with `futures-timer`, which works on any executor, so the tokio and
//! async-std examples share this file.

use std::sync::Arc;
use std::time::Duration;

use futures_timer::Delay;
use mcp_session::http::{Authenticate, Unauthorized, Verdict};
use mcp_session::jsonrpc::ErrorObject;
use mcp_session::model::{
    CallToolResult, Completion, Content, GetPromptResult, LogLevel, Prompt, PromptMessage, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, Tool,
};
use mcp_session::server::{CompletionRequest, Structured};
use mcp_session::{ChangeEvent, ManualClock, Owner, Principal, RequestContext, Server, TenantId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Most notifications one `notify` call sends: a burst this size takes seconds, not minutes, so one
/// call cannot hold a worker for long.
const NOTIFY_MAX_COUNT: u64 = 1_000_000;
/// Longest pause between two of `notify`'s notifications.
const NOTIFY_MAX_INTERVAL_MS: u64 = 1_000;
/// Most steps of one `long_task`.
const LONG_TASK_MAX_STEPS: u64 = 1_000;
/// Longest step of one `long_task`.
const LONG_TASK_MAX_STEP_MS: u64 = 10_000;
/// Longest a paced tool (`notify` with an interval, `long_task`) runs in all.
const PACED_MAX_MS: u64 = 10 * 60 * 1000;

/// How many steps of `step_ms` fit in [`PACED_MAX_MS`], at most `max`.
fn max_paced(max: u64, step_ms: u64) -> u64 {
    match PACED_MAX_MS.checked_div(step_ms) {
        Some(fit) => fit.clamp(1, max),
        None => max,
    }
}

/// A 1×1 red PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A WAV header with two silent samples.
const WAV: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// Demo authentication: `Authorization: Bearer <tenant>:<principal>` names the owner;
/// no header means the anonymous principal of the default tenant. A real deployment verifies a
/// token here instead of trusting it.
pub struct DemoAuth;

impl Authenticate for DemoAuth {
    fn authenticate<'a>(&'a self, request: &'a http::request::Parts) -> Verdict<'a> {
        bearer(request).into()
    }
}

fn bearer(request: &http::request::Parts) -> Result<Owner, Unauthorized> {
    let Some(value) = request.headers.get(http::header::AUTHORIZATION) else { return Ok(Owner::anonymous()) };
    let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).ok_or_default()?;
    let (tenant, principal) = token.split_once(':').ok_or_default()?;
    if tenant.is_empty() || principal.is_empty() {
        return Err(Unauthorized::default());
    }
    Ok(Owner::new(TenantId::new(tenant), Principal::new(principal)))
}

trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, Unauthorized>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, Unauthorized> {
        self.ok_or_else(|| Unauthorized { challenge: Some("Bearer".into()) })
    }
}

// `test_sampling`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct SamplingArgs {
    /// The prompt to send
    prompt: String,
}

// `test_elicitation`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct ElicitationArgs {
    /// What to ask
    message: String,
}

// `long_task`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct LongTaskArgs {
    /// How many steps (10 when absent).
    #[schemars(range(min = 1, max = LONG_TASK_MAX_STEPS))]
    steps: Option<u64>,
    /// How long each step takes, in milliseconds (200 when absent).
    #[schemars(range(max = LONG_TASK_MAX_STEP_MS))]
    step_ms: Option<u64>,
}

// `record_change`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct ChangeArgs {
    /// episode, document, chunk, cluster, triple, tenant, ...
    kind: String,
    /// Why it changed (`updated` when absent).
    reason: Option<String>,
}

// `echo`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct EchoArgs {
    /// What comes back.
    text: String,
}

// `notify`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct NotifyArgs {
    /// How many notifications.
    #[schemars(range(max = NOTIFY_MAX_COUNT))]
    count: u64,
    /// Log messages on the session's GET stream instead.
    #[serde(default)]
    standalone: bool,
    /// Pause between two notifications, in milliseconds.
    #[schemars(range(max = NOTIFY_MAX_INTERVAL_MS))]
    interval_ms: Option<u64>,
}

// `word_count`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct WordCountArgs {
    /// The text to count.
    text: String,
}

// `word_count`'s structured result.
#[derive(Serialize, JsonSchema)]
struct WordCount {
    /// Words separated by whitespace.
    words: usize,
    /// Unicode scalar values.
    characters: usize,
}

// `advance_clock`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct AdvanceArgs {
    /// How far to move the clock, in milliseconds.
    ms: u64,
}

// `test_prompt_with_arguments`'s arguments.
#[derive(Deserialize, JsonSchema)]
struct TwoArgs {
    /// First test argument
    arg1: String,
    /// Second test argument
    arg2: String,
}

// `test_prompt_with_embedded_resource`'s arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EmbedArgs {
    /// URI of the resource to embed
    resource_uri: String,
}

// The variables of `test://template/{id}/data`.
#[derive(Deserialize)]
struct TemplateVars {
    id: String,
}

fn object_schema(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

fn published(error: impl std::fmt::Display) -> ErrorObject {
    ErrorObject::internal(format!("could not send: {error}"))
}

/// Runs the engine's due timers (`EngineState::handle_timeout`), whatever its store.
pub type RunTimers = Arc<dyn Fn() -> futures::future::LocalBoxFuture<'static, ()> + Send + Sync>;

/// What the server needs beyond its handlers.
#[derive(Clone, Default)]
pub struct Options {
    /// With a manual clock, an `advance_clock` tool moves time (for end-to-end expiry tests);
    /// the function runs the engine's due expiry.
    pub test_clock: Option<(ManualClock, RunTimers)>,
}

/// Builds the server (once per worker thread).
pub fn server(options: &Options) -> Server {
    let mut builder = Server::builder("mcp-session-example", env!("CARGO_PKG_VERSION"))
        .title("mcp-session example server")
        .instructions("Conformance fixture, a long task with progress, and a change notifier.");

    // ---- conformance fixture: tools
    builder = builder
        .tool(Tool::new("test_simple_text", "Returns simple text content"), |_, _| async {
            Ok(CallToolResult::text("This is a simple text response for testing."))
        })
        .tool(Tool::new("test_image_content", "Returns image content (base64 PNG)"), |_, _| async {
            Ok(CallToolResult::new(vec![Content::image(PNG, "image/png")]))
        })
        .tool(Tool::new("test_audio_content", "Returns audio content (base64 WAV)"), |_, _| async {
            Ok(CallToolResult::new(vec![Content::audio(WAV, "audio/wav")]))
        })
        .tool(Tool::new("test_embedded_resource", "Returns an embedded resource"), |_, _| async {
            let resource = ResourceContents::text("test://embedded-resource", "text/plain", "This is an embedded resource content.");
            Ok(CallToolResult::new(vec![Content::resource(resource)]))
        })
        .tool(Tool::new("test_multiple_content_types", "Returns text, image and resource content"), |_, _| async {
            let resource = ResourceContents::text("test://mixed-content-resource", "application/json", r#"{"test":"data","value":123}"#);
            Ok(CallToolResult::new(vec![
                Content::text("Multiple content types test:"),
                Content::image(PNG, "image/png"),
                Content::resource(resource),
            ]))
        })
        .tool(Tool::new("test_tool_with_logging", "Sends three info log messages while it runs"), |_, ctx: RequestContext| async move {
            for (i, step) in ["Tool execution started", "Tool processing data", "Tool execution completed"].iter().enumerate() {
                if i > 0 {
                    Delay::new(Duration::from_millis(50)).await;
                }
                ctx.log(LogLevel::Info, Some("fixture"), json!(step)).await.map_err(published)?;
            }
            Ok(CallToolResult::text("Tool with logging executed successfully"))
        })
        .tool(Tool::new("test_tool_with_progress", "Reports progress 0, 50, 100 of 100"), |_, ctx: RequestContext| async move {
            for step in [0.0, 50.0, 100.0] {
                ctx.progress(step, Some(100.0), Some(&format!("Completed step {step} of 100"))).await.map_err(published)?;
                if step < 100.0 {
                    Delay::new(Duration::from_millis(50)).await;
                }
            }
            Ok(CallToolResult::text("Progress reported"))
        })
        .tool(Tool::new("test_error_handling", "Always fails, as a tool result with isError"), |_, _| async {
            Ok(CallToolResult::error("This tool intentionally returns an error for testing"))
        })
        .typed_tool(
            Tool::new("test_sampling", "Asks the client's model through sampling/createMessage"),
            |SamplingArgs { prompt }, ctx: RequestContext| async move {
                let params = json!({
                    "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
                    "maxTokens": 100,
                });
                match ctx.create_message(params).await {
                    Ok(result) => {
                        let text = result["content"]["text"].as_str().map_or_else(|| result["content"].to_string(), str::to_owned);
                        Ok(CallToolResult::text(format!("LLM response: {text}")))
                    }
                    Err(error) => Ok(CallToolResult::error(format!("sampling failed: {error}"))),
                }
            },
        )
        .typed_tool(
            Tool::new("test_elicitation", "Asks the user through elicitation/create"),
            |ElicitationArgs { message }, ctx: RequestContext| async move {
                let schema = object_schema(
                    json!({
                        "username": { "type": "string", "description": "User's response" },
                        "email": { "type": "string", "description": "User's email address" },
                    }),
                    &["username", "email"],
                );
                elicit(&ctx, json!({ "message": message, "requestedSchema": schema }), "User response:").await
            },
        )
        .tool(Tool::new("test_elicitation_sep1034_defaults", "Elicitation with a default for every primitive type"), |_, ctx: RequestContext| async move {
            let schema = object_schema(
                json!({
                    "name": { "type": "string", "description": "User name", "default": "John Doe" },
                    "age": { "type": "integer", "description": "User age", "default": 30 },
                    "score": { "type": "number", "description": "User score", "default": 95.5 },
                    "status": { "type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active" },
                    "verified": { "type": "boolean", "description": "Verification status", "default": true },
                }),
                &[],
            );
            elicit(&ctx, json!({ "message": "Please review and update the form fields with defaults", "requestedSchema": schema }), "Elicitation completed:").await
        })
        .tool(Tool::new("test_elicitation_sep1330_enums", "Elicitation with the five enum schema variants"), |_, ctx: RequestContext| async move {
            let choices = |prefix: &str, title: &str| {
                (1..=3).map(|i| json!({ "const": format!("{prefix}{i}"), "title": format!("{title} {i}") })).collect::<Vec<_>>()
            };
            let schema = object_schema(
                json!({
                    "untitledSingle": { "type": "string", "description": "Pick one", "enum": ["option1", "option2", "option3"] },
                    "titledSingle": { "type": "string", "description": "Pick one (titled)", "oneOf": choices("value", "Option") },
                    "legacyEnum": { "type": "string", "description": "Pick one (legacy)", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"] },
                    "untitledMulti": { "type": "array", "description": "Pick several", "minItems": 1, "maxItems": 3, "items": { "type": "string", "enum": ["option1", "option2", "option3"] } },
                    "titledMulti": { "type": "array", "description": "Pick several (titled)", "minItems": 1, "maxItems": 3, "items": { "anyOf": choices("value", "Choice") } },
                }),
                &[],
            );
            elicit(&ctx, json!({ "message": "Please select options from the enum fields", "requestedSchema": schema }), "Elicitation completed:").await
        })
        .tool(
            Tool::new("json_schema_2020_12_tool", "Takes arguments described with JSON Schema 2020-12").input_schema(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": { "address": {
                    "$anchor": "addressDef",
                    "type": "object",
                    "properties": { "street": { "type": "string" }, "city": { "type": "string" } },
                } },
                "properties": {
                    "name": { "type": "string" },
                    "address": { "$ref": "#/$defs/address" },
                    "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                    "phone": { "type": "string" },
                    "email": { "type": "string" },
                },
                "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
                "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
                "then": { "required": ["phone"] },
                "else": { "required": ["email"] },
                "additionalProperties": false,
            })),
            |args: Value, _| async move { Ok(CallToolResult::text(format!("JSON Schema 2020-12 tool called with: {args}"))) },
        )
        .tool(Tool::new("test_reconnection", "Closes its SSE connection after priming, then answers on the resumed stream"), |_, ctx: RequestContext| async move {
            ctx.close_stream().await.map_err(published)?;
            Delay::new(Duration::from_millis(100)).await;
            Ok(CallToolResult::text("Reconnection test completed successfully."))
        });

    // ---- demo: a long task, and a change that notifies the tenant's other sessions
    builder = builder
        .typed_tool(
            Tool::new(
                "long_task",
                "Works for `steps` × `step_ms`, reporting progress; survives a dropped connection. \
                 At most 1000 steps of at most 10000 ms, and at most 10 minutes in all (larger values are clamped)",
            ),
            |args: LongTaskArgs, ctx: RequestContext| async move {
                let step_ms = args.step_ms.unwrap_or(200).min(LONG_TASK_MAX_STEP_MS);
                let steps = args.steps.unwrap_or(10).clamp(1, max_paced(LONG_TASK_MAX_STEPS, step_ms));
                for step in 1..=steps {
                    if ctx.is_cancelled() {
                        return Ok(CallToolResult::error("cancelled"));
                    }
                    Delay::new(Duration::from_millis(step_ms)).await;
                    ctx.progress(step as f64, Some(steps as f64), Some(&format!("step {step} of {steps}")))
                        .await
                        .map_err(published)?;
                }
                Ok(CallToolResult::text(format!("finished {steps} steps")))
            },
        )
        .typed_tool(
            Tool::new("record_change", "Records a data change; every other session of your tenant is notified"),
            |ChangeArgs { kind, reason }, ctx: RequestContext| async move {
                let reason = reason.unwrap_or_else(|| "updated".to_owned());
                let tenant_id = ctx.owner().tenant.to_string();
                let ts_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let told = ctx.publish_change(ChangeEvent { kind, reason, tenant_id, ts_ms }).await;
                Ok(CallToolResult::text(format!("notified {told} other session(s)")))
            },
        );

    // ---- load harness
    builder = builder
        .typed_tool(Tool::new("echo", "Returns the `text` argument"), |EchoArgs { text }, _| async move {
            Ok(CallToolResult::text(text))
        })
        .typed_tool(
            Tool::new(
                "notify",
                "Sends `count` notifications, then returns. At most 1000000 notifications, `interval_ms` at most 1000, \
                 and at most 10 minutes of intervals in all (larger values are clamped)",
            ),
            |NotifyArgs { count, standalone, interval_ms }, ctx: RequestContext| async move {
                let interval_ms = interval_ms.unwrap_or(0).min(NOTIFY_MAX_INTERVAL_MS);
                let count = count.min(max_paced(NOTIFY_MAX_COUNT, interval_ms));
                let interval = Duration::from_millis(interval_ms);
                for i in 1..=count {
                    if i > 1 && !interval.is_zero() {
                        Delay::new(interval).await;
                    }
                    let sent = if standalone {
                        ctx.notify_session("notifications/message", json!({ "level": "info", "data": { "seq": i } })).await
                    } else if ctx.wants_progress() {
                        ctx.progress(i as f64, Some(count as f64), None).await
                    } else {
                        ctx.log(LogLevel::Info, None, json!({ "seq": i })).await
                    };
                    sent.map_err(published)?;
                }
                Ok(CallToolResult::text(format!("sent {count}")))
            },
        );

    // ---- demo: a typed result (`structuredContent` and its `outputSchema`)
    builder = builder.typed_tool(
        Tool::new("word_count", "Counts the words and characters of `text`"),
        |WordCountArgs { text }, _| async move {
            Ok(Structured(WordCount { words: text.split_whitespace().count(), characters: text.chars().count() }))
        },
    );

    if let Some((clock, state)) = options.test_clock.clone() {
        builder = builder.typed_tool(
            Tool::new("advance_clock", "Test only: moves the server's manual clock forward and runs due expiry"),
            move |AdvanceArgs { ms }, _| {
                let (clock, expire) = (clock.clone(), state.clone());
                async move {
                    clock.advance(Duration::from_millis(ms));
                    expire().await;
                    Ok(CallToolResult::text(format!("advanced {ms} ms")))
                }
            },
        );
    }

    // ---- resources
    builder = builder
        .resource(
            Resource::new("test://static-text", "static-text")
                .title("Static Text Resource")
                .description("Static text")
                .mime_type("text/plain"),
            |uri, _| async move {
                Ok(ReadResourceResult::new(vec![ResourceContents::text(
                    uri,
                    "text/plain",
                    "This is the content of the static text resource.",
                )]))
            },
        )
        .resource(
            Resource::new("test://static-binary", "static-binary")
                .title("Static Binary Resource")
                .description("A PNG")
                .mime_type("image/png"),
            |uri, _| async move { Ok(ReadResourceResult::new(vec![ResourceContents::blob(uri, "image/png", PNG)])) },
        )
        .resource(
            Resource::new("test://watched-resource", "watched-resource")
                .title("Watched Resource")
                .description("Subscribe to hear about changes")
                .mime_type("text/plain"),
            |uri, _| async move {
                Ok(ReadResourceResult::new(vec![ResourceContents::text(uri, "text/plain", "Watched resource content")]))
            },
        )
        .typed_resource_template(
            ResourceTemplate::new("test://template/{id}/data", "template")
                .title("Resource Template")
                .description("Data by id")
                .mime_type("application/json"),
            |uri: String, TemplateVars { id }, _| async move {
                let text = json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") }).to_string();
                Ok(ReadResourceResult::new(vec![ResourceContents::text(uri, "application/json", text)]))
            },
        )
        // A subscriber hears the resource's current version at once: the fixture's resource
        // "changes" when watched, so clients can see updates arrive on their GET stream.
        .on_subscribe(|uri: String, ctx: RequestContext| async move {
            ctx.notify_resource_updated(&uri).await;
        });

    // ---- prompts
    builder = builder
        .prompt(
            Prompt::new("test_simple_prompt", "A simple prompt without arguments").title("Simple Test Prompt"),
            |_, _| async {
                Ok(GetPromptResult::new(vec![PromptMessage::user(Content::text(
                    "This is a simple prompt for testing.",
                ))]))
            },
        )
        .typed_prompt(
            Prompt::new("test_prompt_with_arguments", "A prompt with required arguments")
                .title("Prompt With Arguments"),
            |TwoArgs { arg1: a, arg2: b }, _| async move {
                let text = format!("Prompt with arguments: arg1='{a}', arg2='{b}'");
                Ok(GetPromptResult::new(vec![PromptMessage::user(Content::text(text))]))
            },
        )
        .typed_prompt(
            Prompt::new("test_prompt_with_embedded_resource", "A prompt that includes an embedded resource")
                .title("Prompt With Embedded Resource"),
            |EmbedArgs { resource_uri: uri }, _| async move {
                let resource = ResourceContents::text(uri, "text/plain", "Embedded resource content for testing.");
                Ok(GetPromptResult::new(vec![
                    PromptMessage::user(Content::resource(resource)),
                    PromptMessage::user(Content::text("Please process the embedded resource above.")),
                ]))
            },
        )
        .prompt(
            Prompt::new("test_prompt_with_image", "A prompt that includes image content").title("Prompt With Image"),
            |_, _| async {
                Ok(GetPromptResult::new(vec![
                    PromptMessage::user(Content::image(PNG, "image/png")),
                    PromptMessage::user(Content::text("Please analyze the image above.")),
                ]))
            },
        )
        .completion(|request: CompletionRequest, _| async move {
            let pool: &[&str] = match request.argument.as_str() {
                "arg1" => &["paris", "park", "party", "test-value", "testing"],
                "arg2" => &["alpha", "beta", "gamma"],
                "id" => &["1", "2", "123"],
                _ => &[],
            };
            let values: Vec<String> =
                pool.iter().filter(|v| v.starts_with(&request.value)).map(|v| (*v).to_owned()).collect();
            Ok(Completion::new(values.clone()).total(values.len() as u64).has_more(false))
        });
    super::input_fixture::add(builder).build()
}

async fn elicit(ctx: &RequestContext, params: Value, prefix: &str) -> Result<CallToolResult, ErrorObject> {
    match ctx.elicit(params).await {
        Ok(answer) => Ok(CallToolResult::text(format!(
            "{prefix} action={}, content={}",
            answer["action"].as_str().unwrap_or("?"),
            answer["content"]
        ))),
        Err(error) => Ok(CallToolResult::error(format!("elicitation failed: {error}"))),
    }
}
