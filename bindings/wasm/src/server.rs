//! `McpServer`: the JavaScript face of the engine.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use js_sys::Function;
use mcp_session::http::{Authenticate, EngineConfig, HostPolicy, OriginPolicy, ResponseMode, Verdict};
use mcp_session::model::{Prompt, PromptArgument, Resource, ResourceTemplate, Tool};
use mcp_session::server::{RequestStateKey, ServerBuilder, Variables};
use mcp_session::session::StorePolicy;
use mcp_session::{
    ChangeEvent, Engine, EngineState, Owner, Principal, Server, SessionId, SessionIdGenerator, Sessions,
    SessionsConfig, SpawnFn, SystemClock, TenantId,
};
use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::convert::{error, field, number, promise, required, string, to_js, to_json};
use crate::fetch::{read_request, write_response, ReadError};
use crate::handlers;
use crate::storage::{DurableObjectStorage, DurableStore};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Name and version reported in `initialize`. */
export interface ServerInfo { name: string; version: string; title?: string; instructions?: string }
/** Engine options; every field is optional. */
export interface ServerOptions {
  /** Endpoint path, default "/mcp". */
  path?: string;
  /** SSE `retry` sent with priming events, default 1000. */
  retryMs?: number;
  /** Heartbeat interval on open streams, default 15000; 0 disables. */
  keepAliveMs?: number;
  /** Idle timeout of a session, default 30 minutes. */
  idleTimeoutMs?: number;
  /** Absolute timeout of a session, default 4 hours. */
  absoluteTimeoutMs?: number;
  /** A session never used after `initialize` expires this soon, default 60000. */
  initializationTimeoutMs?: number;
  /** Whether open streams and running calls keep a session from going idle, default true. */
  activityHolds?: boolean;
  /** Events retained per stream for Last-Event-ID, default 256 (at least 1). */
  replayCapacity?: number;
  /** Bytes retained per stream for Last-Event-ID, default 8 MiB. */
  maxStreamBytes?: number;
  /** Bytes of retained events across all sessions, default 64 MiB; the oldest go first. */
  retainedBytes?: number;
  /** Sessions in total, default 100000. */
  maxSessions?: number;
  /** Sessions per tenant, default 25000. */
  maxSessionsPerTenant?: number;
  /** Requests one session may have running at once (beyond: 429), default 64 (at least 1). */
  maxCallsPerSession?: number;
  /** Messages in a JSON-RPC batch (protocol 2025-03-26; longer: 400), default 64. */
  maxBatch?: number;
  /** Resources one session may subscribe to, default 128. */
  maxResourceSubscriptions?: number;
  /**
   * Seals the `requestState` of 2026-07-28 input-required results: every isolate and object that
   * may receive a retry must use the same secret (at least 32 bytes). Default: a random key per
   * server, which only a retry reaching the same server can open.
   */
  requestStateSecret?: string;
  /** `Retry-After` of temporary refusals (429, 503), default 5000; sent in whole seconds, at least 1. */
  retryAfterMs?: number;
  /** "adaptive" (default), "sse" or "json". */
  responseMode?: "adaptive" | "sse" | "json";
  /** No sessions at all. */
  stateless?: boolean;
  /** Accepted Host names: "any", or a list; default loopback names only. */
  allowedHosts?: "any" | string[];
  /** Accepted Origins: "any", or a list; default origins whose host is an accepted Host. */
  allowedOrigins?: "any" | string[];
  /** Logger name of change notifications, default "changes". */
  bridgeLogger?: string;
}
/** Who is making a request (decided by your authentication). */
export interface RequestOwner { tenant: string; principal?: string }
"#;

/// Engine options read from the JavaScript `ServerOptions` object.
#[derive(Default)]
struct Options {
    path: Option<String>,
    retry_ms: Option<u64>,
    keep_alive_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    absolute_timeout_ms: Option<u64>,
    initialization_timeout_ms: Option<u64>,
    activity_holds: Option<bool>,
    replay_capacity: Option<usize>,
    max_stream_bytes: Option<usize>,
    retained_bytes: Option<usize>,
    max_sessions: Option<usize>,
    max_sessions_per_tenant: Option<usize>,
    max_calls_per_session: Option<usize>,
    max_batch: Option<usize>,
    max_resource_subscriptions: Option<usize>,
    retry_after_ms: Option<u64>,
    response_mode: ResponseMode,
    stateless: bool,
    hosts: HostPolicy,
    origins: OriginPolicy,
    bridge_logger: Option<String>,
    request_state_key: Option<RequestStateKey>,
}

/// `"any"` or a list of names, for `allowedHosts` and `allowedOrigins`.
enum Allowed {
    Any,
    Only(Vec<String>),
}

/// `options[key]`, `None` when absent (`undefined` or `null`).
fn present(options: &JsValue, key: &str) -> Option<JsValue> {
    Some(field(options, key)).filter(|value| !value.is_undefined() && !value.is_null())
}

fn allowed(options: &JsValue, key: &str) -> Result<Option<Allowed>, JsValue> {
    let Some(value) = present(options, key) else { return Ok(None) };
    if value.as_string().as_deref() == Some("any") {
        return Ok(Some(Allowed::Any));
    }
    if js_sys::Array::is_array(&value) {
        let names: Option<Vec<String>> = js_sys::Array::from(&value).iter().map(|v| v.as_string()).collect();
        return names.map(|n| Some(Allowed::Only(n))).ok_or_else(|| error(format!("options: `{key}` lists strings")));
    }
    Err(error(format!("options: `{key}` is \"any\" or a list of strings")))
}

/// `options[key]`, a whole number of at least `min` (up to 2^53 - 1, the exact integers).
fn whole(options: &JsValue, key: &str, min: u64) -> Result<Option<u64>, JsValue> {
    let Some(value) = present(options, key) else { return Ok(None) };
    match value.as_f64() {
        Some(n) if n >= min as f64 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => Ok(Some(n as u64)),
        _ => Err(error(format!("options: `{key}` is a whole number of at least {min}"))),
    }
}

/// `options[key]`, a count of at least `min`. A count beyond the address space is no limit in
/// effect, so it saturates rather than wrapping.
fn count(options: &JsValue, key: &str, min: u64) -> Result<Option<usize>, JsValue> {
    Ok(whole(options, key, min)?.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
}

fn flag(options: &JsValue, key: &str) -> Result<Option<bool>, JsValue> {
    let Some(value) = present(options, key) else { return Ok(None) };
    value.as_bool().map(Some).ok_or_else(|| error(format!("options: `{key}` is true or false")))
}

fn text(options: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    let Some(value) = present(options, key) else { return Ok(None) };
    value.as_string().map(Some).ok_or_else(|| error(format!("options: `{key}` is a string")))
}

impl Options {
    fn read(options: &JsValue) -> Result<Self, JsValue> {
        if options.is_undefined() || options.is_null() {
            return Ok(Self::default());
        }
        let response_mode = match text(options, "responseMode")?.as_deref() {
            None | Some("adaptive") => ResponseMode::Adaptive,
            Some("sse") => ResponseMode::Sse,
            Some("json") => ResponseMode::Json,
            Some(other) => return Err(error(format!("options: unknown responseMode \"{other}\""))),
        };
        let hosts = match allowed(options, "allowedHosts")? {
            None => HostPolicy::Loopback,
            Some(Allowed::Any) => HostPolicy::Any,
            Some(Allowed::Only(names)) => HostPolicy::Only(names),
        };
        let origins = match allowed(options, "allowedOrigins")? {
            None => OriginPolicy::SameAsHost,
            Some(Allowed::Any) => OriginPolicy::Any,
            Some(Allowed::Only(origins)) => OriginPolicy::Only(origins),
        };
        Ok(Self {
            path: text(options, "path")?,
            retry_ms: whole(options, "retryMs", 0)?,
            keep_alive_ms: whole(options, "keepAliveMs", 0)?,
            idle_timeout_ms: whole(options, "idleTimeoutMs", 0)?,
            absolute_timeout_ms: whole(options, "absoluteTimeoutMs", 0)?,
            initialization_timeout_ms: whole(options, "initializationTimeoutMs", 0)?,
            activity_holds: flag(options, "activityHolds")?,
            // A log that retains nothing could not honour Last-Event-ID at all.
            replay_capacity: count(options, "replayCapacity", 1)?,
            max_stream_bytes: count(options, "maxStreamBytes", 0)?,
            retained_bytes: count(options, "retainedBytes", 0)?,
            max_sessions: count(options, "maxSessions", 0)?,
            max_sessions_per_tenant: count(options, "maxSessionsPerTenant", 0)?,
            // With none, every request would be refused.
            max_calls_per_session: count(options, "maxCallsPerSession", 1)?,
            max_batch: count(options, "maxBatch", 0)?,
            max_resource_subscriptions: count(options, "maxResourceSubscriptions", 0)?,
            retry_after_ms: whole(options, "retryAfterMs", 0)?,
            response_mode,
            stateless: flag(options, "stateless")?.unwrap_or(false),
            hosts,
            origins,
            bridge_logger: text(options, "bridgeLogger")?,
            request_state_key: match text(options, "requestStateSecret")? {
                None => None,
                Some(secret) => Some(
                    RequestStateKey::from_secret(secret.as_bytes())
                        .map_err(|e| error(format!("options: `requestStateSecret`: {e}")))?,
                ),
            },
        })
    }
}

/// The owner a request was authenticated as, put in the request's extensions by `fetch`
/// (never read from a header, so a client cannot claim one).
struct ExtensionOwner;

impl Authenticate for ExtensionOwner {
    fn authenticate<'a>(&'a self, request: &'a http::request::Parts) -> Verdict<'a> {
        Ok(request.extensions.get::<Owner>().cloned().unwrap_or_default()).into()
    }
}

/// An MCP server: register tools, resources, templates and prompts with async JavaScript
/// handlers, then answer `fetch(request)` with it.
#[wasm_bindgen]
pub struct McpServer {
    inner: Rc<Inner>,
}

struct Inner {
    options: Options,
    builder: RefCell<Option<ServerBuilder>>,
    engine: RefCell<Option<Engine<DurableStore>>>,
}

fn js_error(cause: impl std::fmt::Display) -> JsValue {
    error(cause.to_string())
}

impl Inner {
    fn register(&self, add: impl FnOnce(ServerBuilder) -> ServerBuilder) -> Result<(), JsValue> {
        let mut slot = self.builder.borrow_mut();
        let builder = slot.take().ok_or_else(|| js_error("register everything before the first request"))?;
        *slot = Some(add(builder));
        Ok(())
    }

    fn store_policy(&self) -> StorePolicy {
        let mut policy = StorePolicy::default();
        let o = &self.options;
        let expiry = &mut policy.expiry;
        expiry.idle = o.idle_timeout_ms.map_or(expiry.idle, Duration::from_millis);
        expiry.absolute = o.absolute_timeout_ms.map_or(expiry.absolute, Duration::from_millis);
        expiry.initialization = o.initialization_timeout_ms.map_or(expiry.initialization, Duration::from_millis);
        if o.max_sessions.is_some() {
            policy.max_sessions = o.max_sessions;
        }
        if o.max_sessions_per_tenant.is_some() {
            policy.max_sessions_per_tenant = o.max_sessions_per_tenant;
        }
        policy.log.events = o.replay_capacity.unwrap_or(policy.log.events);
        policy.log.bytes = o.max_stream_bytes.unwrap_or(policy.log.bytes);
        policy.retained_bytes = o.retained_bytes.unwrap_or(policy.retained_bytes);
        policy
    }

    fn engine_config(&self) -> EngineConfig {
        let o = &self.options;
        let mut config = EngineConfig::default()
            .stateless(o.stateless)
            .response_mode(o.response_mode)
            .hosts(o.hosts.clone())
            .origins(o.origins.clone());
        if let Some(path) = &o.path {
            config.path = path.clone();
        }
        if let Some(retry) = o.retry_ms {
            config.retry = Duration::from_millis(retry);
        }
        if let Some(retry_after) = o.retry_after_ms {
            config.retry_after = Duration::from_millis(retry_after);
        }
        if let Some(key) = &o.request_state_key {
            config.request_state_key = key.clone();
        }
        if let Some(logger) = &o.bridge_logger {
            config.bridge_logger = logger.clone();
        }
        config.max_calls_per_session = o.max_calls_per_session.unwrap_or(config.max_calls_per_session);
        config.max_batch = o.max_batch.unwrap_or(config.max_batch);
        config.max_resource_subscriptions = o.max_resource_subscriptions.unwrap_or(config.max_resource_subscriptions);
        config
    }

    /// Builds the engine over `store`; the server definition is final from here on.
    fn build(&self, store: DurableStore, ids: SessionIdGenerator) -> Result<Engine<DurableStore>, JsValue> {
        let server: Server =
            self.builder.borrow_mut().take().ok_or_else(|| js_error("the server is already running"))?.build();
        let keep_alive = match self.options.keep_alive_ms {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => Some(Duration::from_secs(15)),
        };
        let mut config = SessionsConfig::default().ids(ids).keep_alive(keep_alive);
        if let Some(holds) = self.options.activity_holds {
            config.activity_holds = holds;
        }
        let sessions = Sessions::with_store(store, Arc::new(SystemClock), config);
        let state = Arc::new(EngineState::new(sessions, self.engine_config()).with_authenticator(ExtensionOwner));
        let spawner = SpawnFn(wasm_bindgen_futures::spawn_local);
        let engine = Engine::new(state, server, spawner);
        *self.engine.borrow_mut() = Some(engine.clone());
        Ok(engine)
    }

    fn engine(&self) -> Result<Engine<DurableStore>, JsValue> {
        if let Some(engine) = self.engine.borrow().as_ref() {
            return Ok(engine.clone());
        }
        self.build(DurableStore::in_memory(self.store_policy()), SessionIdGenerator::random())
    }
}

#[wasm_bindgen]
impl McpServer {
    /// A server named by `info` (`{name, version, title?, instructions?}`), with `options`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "ServerInfo")] info: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ServerOptions | undefined")] options: JsValue,
    ) -> Result<McpServer, JsValue> {
        let options = Options::read(&options)?;
        let mut builder =
            Server::builder(required(&info, "server info", "name")?, required(&info, "server info", "version")?);
        if let Some(title) = string(&info, "title") {
            builder = builder.title(title);
        }
        if let Some(instructions) = string(&info, "instructions") {
            builder = builder.instructions(instructions);
        }
        Ok(McpServer {
            inner: Rc::new(Inner { options, builder: RefCell::new(Some(builder)), engine: RefCell::new(None) }),
        })
    }

    /// Offers a tool: `{name, description, inputSchema?, title?}` and
    /// `async (args, ctx) => ({content: [...]})` (a string is read as one text block; a throw
    /// becomes an `isError` result).
    pub fn tool(&self, definition: JsValue, handler: Function) -> Result<(), JsValue> {
        let mut tool =
            Tool::new(required(&definition, "tool", "name")?, string(&definition, "description").unwrap_or_default());
        tool.title = string(&definition, "title");
        let input_schema = to_json(&field(&definition, "inputSchema"))?;
        if !input_schema.is_null() {
            tool.input_schema = input_schema;
        }
        tool.output_schema = Some(to_json(&field(&definition, "outputSchema"))?).filter(|s| !s.is_null());
        if self.inner.builder.borrow().as_ref().is_some_and(|b| b.has_tool(&tool.name)) {
            return Err(error(format!("tool \"{}\" registered twice", tool.name)));
        }
        self.inner.register(|b| b.tool(tool, handlers::tool(handler)))
    }

    /// Offers a resource: `{uri, name, mimeType?, description?, title?}` and
    /// `async (uri, vars, ctx) => ({contents: [...]})`.
    pub fn resource(&self, definition: JsValue, handler: Function) -> Result<(), JsValue> {
        let mut resource =
            Resource::new(required(&definition, "resource", "uri")?, required(&definition, "resource", "name")?);
        resource.title = string(&definition, "title");
        resource.description = string(&definition, "description");
        resource.mime_type = string(&definition, "mimeType");
        let read = Rc::new(handlers::resource(handler));
        self.inner.register(|b| {
            b.resource(resource, move |uri: String, ctx| {
                use mcp_session::server::ResourceHandler;
                read.read(uri, Variables::default(), ctx)
            })
        })
    }

    /// Offers resources by URI template (`test://items/{id}`): the handler receives the matched
    /// variables as an object.
    #[wasm_bindgen(js_name = resourceTemplate)]
    pub fn resource_template(&self, definition: JsValue, handler: Function) -> Result<(), JsValue> {
        let mut template = ResourceTemplate::new(
            required(&definition, "resourceTemplate", "uriTemplate")?,
            required(&definition, "resourceTemplate", "name")?,
        );
        template.title = string(&definition, "title");
        template.description = string(&definition, "description");
        template.mime_type = string(&definition, "mimeType");
        self.inner.register(|b| b.resource_template(template, handlers::resource(handler)))
    }

    /// Offers a prompt: `{name, description, arguments?: [{name, description?, required?}]}`
    /// and `async (args, ctx) => ({messages: [...]})`.
    pub fn prompt(&self, definition: JsValue, handler: Function) -> Result<(), JsValue> {
        let mut prompt = Prompt::new(
            required(&definition, "prompt", "name")?,
            string(&definition, "description").unwrap_or_default(),
        );
        prompt.title = string(&definition, "title");
        let arguments = field(&definition, "arguments");
        if js_sys::Array::is_array(&arguments) {
            for argument in js_sys::Array::from(&arguments).iter() {
                let mut entry = PromptArgument::new(required(&argument, "prompt argument", "name")?)
                    .required(field(&argument, "required").as_bool().unwrap_or(false));
                entry.description = string(&argument, "description");
                prompt.arguments.push(entry);
            }
        }
        self.inner.register(|b| b.prompt(prompt, handlers::prompt(handler)))
    }

    /// Answers `completion/complete`: `async ({ref, argument, context}, ctx) => ({values})`.
    pub fn completion(&self, handler: Function) -> Result<(), JsValue> {
        self.inner.register(|b| b.completion(handlers::completion(handler)))
    }

    /// Runs after a client subscribes to a resource: `async (uri, ctx) => {}`.
    #[wasm_bindgen(js_name = onSubscribe)]
    pub fn on_subscribe(&self, handler: Function) -> Result<(), JsValue> {
        self.inner.register(|b| b.on_subscribe(handlers::subscribed(handler)))
    }

    /// Keeps sessions in a Durable Object's storage: restores the session it holds (after an
    /// eviction or a restart) and writes every change through. `sessionId` is the id the object
    /// was routed for (see `route`): an `initialize` routed here creates exactly that session.
    /// Without it (an alarm waking a restarted object) the stored session's own id is used.
    /// Call once, before the first request (inside `blockConcurrencyWhile`).
    #[wasm_bindgen(js_name = attachStorage, unchecked_return_type = "Promise<void>")]
    pub fn attach_storage(&self, storage: DurableObjectStorage, session_id: Option<String>) -> js_sys::Promise {
        let inner = self.inner.clone();
        promise(async move {
            let routed: Option<SessionId> = session_id.map(|id| id.parse()).transpose().map_err(js_error)?;
            let store = DurableStore::load(inner.store_policy(), storage).await?;
            let ids = match routed.or(store.restored()) {
                Some(id) => SessionIdGenerator::fixed(id),
                None => SessionIdGenerator::random(),
            };
            inner.build(store, ids)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Answers a request to the MCP endpoint. `owner` is who your authentication says is asking
    /// (default: the anonymous principal of tenant "default"); a session is only ever served to
    /// the owner that created it. SSE replies stream frame by frame.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        request: web_sys::Request,
        #[wasm_bindgen(unchecked_param_type = "RequestOwner | undefined")] owner: JsValue,
    ) -> js_sys::Promise {
        let inner = self.inner.clone();
        promise(async move {
            let engine = inner.engine()?;
            let mut http_request = match read_request(&request).await {
                Ok(http_request) => http_request,
                Err(ReadError::Refused(why)) => return Ok(write_response(engine.reject(why))?.into()),
                Err(ReadError::Thrown(thrown)) => return Err(thrown),
            };
            if let Some(owner) = parse_owner(&owner)? {
                http_request.extensions_mut().insert(owner);
            }
            let response = engine.handle(http_request).await;
            Ok(write_response(response)?.into())
        })
    }

    /// When `handleTimeout` is next due, in milliseconds since the epoch (`undefined` if
    /// nothing is scheduled): set it as the Durable Object's alarm, or a timer.
    #[wasm_bindgen(js_name = nextDeadline)]
    pub fn next_deadline(&self) -> Result<Option<f64>, JsValue> {
        Ok(self.inner.engine()?.state().next_deadline().map(|at| at.as_millis() as f64))
    }

    /// Whether this server still holds session `sessionId`: false once it ended (deleted, or
    /// expired and swept by `handleTimeout`) and for an id it never had. A session that hears
    /// nothing of a change (its log level is above `info`) still exists.
    #[wasm_bindgen(js_name = hasSession)]
    pub fn has_session(&self, session_id: &str) -> Result<bool, JsValue> {
        let Ok(id) = session_id.parse::<SessionId>() else { return Ok(false) };
        Ok(self.inner.engine()?.state().sessions().store().contains(id))
    }

    /// Expires sessions and sends heartbeats that are due.
    #[wasm_bindgen(js_name = handleTimeout, unchecked_return_type = "Promise<void>")]
    pub fn handle_timeout(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.engine()?.state().handle_timeout().await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Announces an application change (`{kind, reason, tenantId, tsMs?}`) to the sessions of
    /// that tenant held by this server. Resolves with how many were told.
    #[wasm_bindgen(js_name = publishChange, unchecked_return_type = "Promise<number>")]
    pub fn publish_change(&self, change: JsValue) -> js_sys::Promise {
        let inner = self.inner.clone();
        promise(async move {
            let event = ChangeEvent {
                kind: required(&change, "change", "kind")?,
                reason: string(&change, "reason").unwrap_or_else(|| "updated".into()),
                tenant_id: required(&change, "change", "tenantId")?,
                ts_ms: number(&change, "tsMs").map_or(js_sys::Date::now(), |t| t) as u64,
            };
            let told = inner.engine()?.state().publish_change(&event, None).await;
            Ok(JsValue::from(told as u32))
        })
    }

    /// Announces a change to every client of this server that should hear of it, in both
    /// revisions: the `subscriptions/listen` streams that asked for it and the sessions' GET
    /// streams. `change` as `ctx.announce` takes it (`"toolsListChanged"`,
    /// `"promptsListChanged"`, `"resourcesListChanged"`, `{resourceUpdated: uri}`). Resolves with
    /// how many were told.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn announce(&self, #[wasm_bindgen(unchecked_param_type = "Change")] change: JsValue) -> js_sys::Promise {
        let inner = self.inner.clone();
        let parsed = crate::context::change(&change);
        promise(async move {
            let told = inner.engine()?.state().announce(parsed?).await;
            Ok(JsValue::from(told as u32))
        })
    }

    /// Sends `notifications/resources/updated` to the sessions subscribed to `uri`.
    #[wasm_bindgen(js_name = notifyResourceUpdated, unchecked_return_type = "Promise<number>")]
    pub fn notify_resource_updated(&self, uri: String) -> js_sys::Promise {
        let inner = self.inner.clone();
        promise(async move {
            let told = inner.engine()?.state().notify_resource_updated(&uri).await;
            Ok(JsValue::from(told as u32))
        })
    }

    /// The engine's counters.
    pub fn metrics(&self) -> Result<JsValue, JsValue> {
        let m = self.inner.engine()?.state().metrics();
        Ok(to_js(&json!({
            "activeSessions": m.active_sessions,
            "sessionsCreated": m.sessions_created,
            "sessionsExpired": m.sessions_expired,
            "sessionsDeleted": m.sessions_deleted,
            "eventsPublished": m.events_published,
            "replaysServed": m.replays_served,
            "eventsReplayed": m.events_replayed,
            "eventsReportedLost": m.events_reported_lost,
            "subscribersLagged": m.subscribers_lagged,
        })))
    }

    /// Every metric of this engine in the Prometheus text format (serve it with
    /// `Content-Type: text/plain; version=0.0.4; charset=utf-8`). One engine's view: in a worker
    /// whose sessions live in Durable Objects, each object's engine counts its own session.
    #[cfg(feature = "prometheus")]
    #[wasm_bindgen(js_name = renderPrometheus)]
    pub fn render_prometheus(&self) -> Result<String, JsValue> {
        Ok(self.inner.engine()?.state().render_prometheus())
    }
}

fn parse_owner(owner: &JsValue) -> Result<Option<Owner>, JsValue> {
    if owner.is_undefined() || owner.is_null() {
        return Ok(None);
    }
    let tenant = required(owner, "owner", "tenant")?;
    let principal = string(owner, "principal").map_or_else(Principal::anonymous, Principal::new);
    Ok(Some(Owner::new(TenantId::new(tenant), principal)))
}
