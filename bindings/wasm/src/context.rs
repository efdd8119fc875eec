//! The context a JavaScript handler receives.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::{AbortHandle, Abortable};
use js_sys::Reflect;
use mcp_session::jsonrpc::ErrorObject;
use mcp_session::model::LogLevel;
use mcp_session::server::ClientRequestError;
use mcp_session::{Change, ChangeEvent, RequestContext};
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, AbortSignal};

use crate::convert::{error, promise, string, to_js, to_json};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A change `ctx.announce` tells every client that should hear of it. */
export type Change =
  | "toolsListChanged" | "promptsListChanged" | "resourcesListChanged"
  | { type: "toolsListChanged" | "promptsListChanged" | "resourcesListChanged" }
  | { type: "resourceUpdated"; uri: string }
  | { resourceUpdated: string };
/** What the client declared it can do (in `initialize`, or on this very request in 2026-07-28). */
export interface ClientCapabilities { sampling: boolean; elicitation: boolean; roots: boolean }
"#;

/// What a handler can do while it answers: report progress, log, ask the client, notice
/// cancellation. Everything it sends travels on the request's own stream and is resumable.
///
/// On a request of the 2026-07-28 revision (no session), `elicit`, `createMessage`, `listRoots`
/// and `input(key)` cannot wait for the client: an ask whose answer is not known yet rejects at
/// once with an `Error` named `"InputRequired"`, and the request ends with an input-required
/// result asking for it (whatever the handler returns). The client retries with the answer; the
/// handler runs again from the start, and this time the same ask resolves with it. So a handler
/// just lets that error propagate (`await` without a `catch`, or rethrow it).
#[wasm_bindgen]
pub struct Context {
    ctx: RequestContext,
    scope: Rc<Scope>,
}

/// The lifetime of one handler call: ends when the handler settles, which stops the task that
/// watches for cancellation on behalf of `signal`.
#[derive(Default)]
pub(crate) struct Scope {
    watcher: RefCell<Option<AbortHandle>>,
    signal: RefCell<Option<AbortSignal>>,
}

impl Scope {
    pub(crate) fn finish(&self) {
        if let Some(watcher) = self.watcher.borrow_mut().take() {
            watcher.abort();
        }
    }
}

impl Context {
    pub(crate) fn new(ctx: RequestContext) -> (Self, Rc<Scope>) {
        let scope = Rc::new(Scope::default());
        (Self { ctx, scope: scope.clone() }, scope)
    }
}

fn js_error(cause: impl std::fmt::Display) -> JsValue {
    error(cause.to_string())
}

/// The name of the error an ask rejects with when the client's input is required.
pub(crate) const INPUT_REQUIRED: &str = "InputRequired";
/// The name of the error an ask rejects with when the client did not declare the capability.
pub(crate) const MISSING_CAPABILITY: &str = "MissingRequiredClientCapability";

/// Why an ask of the client failed, as a JavaScript `Error`: named `InputRequired` when the
/// request ends asking for input, `MissingRequiredClientCapability` (with the JSON-RPC `code`
/// and `data` the client must get) when the client cannot be asked, and otherwise carrying the
/// client's own error `code` and `data` when it answered with one.
fn client_error(cause: ClientRequestError) -> JsValue {
    let thrown = js_sys::Error::new(&cause.to_string());
    let name = match &cause {
        ClientRequestError::InputRequired => Some(INPUT_REQUIRED),
        ClientRequestError::Unsupported(_) => Some(MISSING_CAPABILITY),
        _ => None,
    };
    if let Some(name) = name {
        thrown.set_name(name);
    }
    if matches!(cause, ClientRequestError::Unsupported(_) | ClientRequestError::Client(_)) {
        let object = ErrorObject::from(cause);
        let _ = Reflect::set(&thrown, &"code".into(), &JsValue::from(object.code.0));
        if let Some(data) = &object.data {
            let _ = Reflect::set(&thrown, &"data".into(), &to_js(data));
        }
    }
    thrown.into()
}

/// A `Change` as JavaScript names it (see the `Change` type).
pub(crate) fn change(value: &JsValue) -> Result<Change, JsValue> {
    let list = |name: &str| match name {
        "toolsListChanged" => Some(Change::ToolsListChanged),
        "promptsListChanged" => Some(Change::PromptsListChanged),
        "resourcesListChanged" => Some(Change::ResourcesListChanged),
        _ => None,
    };
    let parsed = if let Some(name) = value.as_string() {
        list(&name)
    } else if let Some(uri) = string(value, "resourceUpdated") {
        Some(Change::ResourceUpdated(uri))
    } else {
        match string(value, "type").as_deref() {
            Some("resourceUpdated") => string(value, "uri").map(Change::ResourceUpdated),
            Some(name) => list(name),
            None => None,
        }
    };
    parsed.ok_or_else(|| {
        js_error(
            "announce: a change is \"toolsListChanged\", \"promptsListChanged\", \"resourcesListChanged\" \
             (or {type: ...}), or {resourceUpdated: uri}",
        )
    })
}

/// An input the handler asks the client for under a key it chooses: `ctx.input(key)`.
///
/// On a request of the 2026-07-28 revision the key names the ask in the input-required result
/// and the answer in the client's retry (keys are unique per request); on a session the key plays
/// no part and each method is a real request to the client, as on `Context`.
#[wasm_bindgen]
pub struct Input {
    ctx: RequestContext,
    key: String,
}

#[wasm_bindgen]
impl Input {
    /// `elicitation/create` under this key: resolves with the user's answer.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn elicit(&self, params: JsValue) -> js_sys::Promise {
        let (ctx, key) = (self.ctx.clone(), self.key.clone());
        let params = to_json(&params);
        promise(async move { Ok(to_js(&ctx.input(&key).elicit(params?).await.map_err(client_error)?)) })
    }

    /// `sampling/createMessage` under this key: resolves with the client's model's answer.
    #[wasm_bindgen(js_name = createMessage, unchecked_return_type = "Promise<any>")]
    pub fn create_message(&self, params: JsValue) -> js_sys::Promise {
        let (ctx, key) = (self.ctx.clone(), self.key.clone());
        let params = to_json(&params);
        promise(async move { Ok(to_js(&ctx.input(&key).create_message(params?).await.map_err(client_error)?)) })
    }

    /// `roots/list` under this key: resolves with `{roots: [...]}`.
    #[wasm_bindgen(js_name = listRoots, unchecked_return_type = "Promise<any>")]
    pub fn list_roots(&self) -> js_sys::Promise {
        let (ctx, key) = (self.ctx.clone(), self.key.clone());
        promise(async move { Ok(to_js(&ctx.input(&key).list_roots().await.map_err(client_error)?)) })
    }
}

#[wasm_bindgen]
impl Context {
    /// The session id (`undefined` on a stateless server).
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.ctx.session_id().map(|id| id.to_string())
    }

    /// The JSON-RPC id of the request.
    #[wasm_bindgen(getter, js_name = requestId)]
    pub fn request_id(&self) -> JsValue {
        to_js(self.ctx.request_id())
    }

    /// The tenant the session belongs to.
    #[wasm_bindgen(getter)]
    pub fn tenant(&self) -> String {
        self.ctx.owner().tenant.to_string()
    }

    /// The protocol revision the session negotiated.
    #[wasm_bindgen(getter, js_name = protocolVersion)]
    pub fn protocol_version(&self) -> String {
        self.ctx.protocol_version().to_string()
    }

    /// `notifications/progress`, if the client asked for progress.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        promise(async move {
            ctx.progress(progress, total, message.as_deref()).await.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `notifications/message` at `level` ("debug" … "emergency"), unless the session asked for
    /// less.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn log(&self, level: String, data: JsValue, logger: Option<String>) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let parsed: Result<LogLevel, _> = level.parse();
        let data = to_json(&data);
        promise(async move {
            let level = parsed.map_err(js_error)?;
            ctx.log(level, logger.as_deref(), data?).await.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Any notification on this request's stream.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn notify(&self, method: String, params: JsValue) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let params = to_json(&params);
        promise(async move {
            ctx.notify(&method, params?).await.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// A notification on the session's standalone (GET) stream.
    #[wasm_bindgen(js_name = notifySession, unchecked_return_type = "Promise<void>")]
    pub fn notify_session(&self, method: String, params: JsValue) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let params = to_json(&params);
        promise(async move {
            ctx.notify_session(&method, params?).await.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// A request to the client on this request's stream; resolves with its result.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn request(&self, method: String, params: JsValue) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let params = to_json(&params);
        promise(async move {
            let result = ctx.request(&method, params?).await.map_err(js_error)?;
            Ok(to_js(&result))
        })
    }

    /// `elicitation/create`: asks the user. On a request of the 2026-07-28 revision, an input
    /// whose key comes from the method and the order of asking (`create-1`); see `input`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn elicit(&self, params: JsValue) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let params = to_json(&params);
        promise(async move { Ok(to_js(&ctx.elicit(params?).await.map_err(client_error)?)) })
    }

    /// `sampling/createMessage`: asks the client's model (in either revision, as `elicit`).
    #[wasm_bindgen(js_name = createMessage, unchecked_return_type = "Promise<any>")]
    pub fn create_message(&self, params: JsValue) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let params = to_json(&params);
        promise(async move { Ok(to_js(&ctx.create_message(params?).await.map_err(client_error)?)) })
    }

    /// `roots/list` (in either revision, as `elicit`).
    #[wasm_bindgen(js_name = listRoots, unchecked_return_type = "Promise<any>")]
    pub fn list_roots(&self) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        promise(async move { Ok(to_js(&ctx.list_roots().await.map_err(client_error)?)) })
    }

    /// An input under `key`, with `elicit(params)`, `createMessage(params)` and `listRoots()`:
    /// `await ctx.input("user_name").elicit({...})`. On a request of the 2026-07-28 revision the
    /// key names the ask in the input-required result and the answer in the client's retry
    /// (unique per request); on a session it plays no part.
    pub fn input(&self, key: String) -> Input {
        Input { ctx: self.ctx.clone(), key }
    }

    /// The state this handler set with `setRequestState` in the round before, as the client
    /// echoed it back (verified: the client can read it but not change it). `undefined` on a
    /// first round and on a session.
    #[wasm_bindgen(getter, js_name = requestState)]
    pub fn request_state(&self) -> Option<String> {
        self.ctx.request_state().map(str::to_owned)
    }

    /// Carries `state` to the next round of an input-required request, sealed. Does nothing on
    /// a session, or when the handler asks for no input.
    #[wasm_bindgen(js_name = setRequestState)]
    pub fn set_request_state(&self, state: String) {
        self.ctx.set_request_state(state);
    }

    /// The client's `clientInfo` (`{name, version, ...}`) as this request of the 2026-07-28
    /// revision sent it; `undefined` on a session and when the client sent none. For display
    /// only.
    #[wasm_bindgen(getter, js_name = clientInfo)]
    pub fn client_info(&self) -> JsValue {
        self.ctx.client_info().map_or(JsValue::UNDEFINED, to_js)
    }

    /// What the client can be asked for: `{sampling, elicitation, roots}`, as declared in
    /// `initialize` on a session, or by this very request in the 2026-07-28 revision.
    #[wasm_bindgen(getter, js_name = clientCapabilities, unchecked_return_type = "ClientCapabilities")]
    pub fn client_capabilities(&self) -> JsValue {
        to_js(&self.ctx.client_capabilities())
    }

    /// Whether the client cancelled the request.
    #[wasm_bindgen(js_name = isCancelled)]
    pub fn is_cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }

    /// An `AbortSignal` that aborts when the client cancels the request.
    #[wasm_bindgen(getter)]
    pub fn signal(&self) -> Result<AbortSignal, JsValue> {
        if let Some(signal) = self.scope.signal.borrow().as_ref() {
            return Ok(signal.clone());
        }
        let controller = AbortController::new()?;
        let signal = controller.signal();
        let ctx = self.ctx.clone();
        let (watcher, registration) = AbortHandle::new_pair();
        wasm_bindgen_futures::spawn_local(async move {
            if Abortable::new(ctx.cancelled(), registration).await.is_ok() {
                controller.abort();
            }
        });
        *self.scope.watcher.borrow_mut() = Some(watcher);
        *self.scope.signal.borrow_mut() = Some(signal.clone());
        Ok(signal)
    }

    /// Closes this request's SSE connection after its priming event; the client resumes with
    /// `Last-Event-ID` and receives the rest (SEP-1699 polling).
    #[wasm_bindgen(js_name = closeStream, unchecked_return_type = "Promise<void>")]
    pub fn close_stream(&self) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        promise(async move {
            ctx.close_stream().await.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Tells the other sessions of this tenant that data changed: `{kind, reason}`. Resolves with
    /// how many sessions were told.
    #[wasm_bindgen(js_name = publishChange, unchecked_return_type = "Promise<number>")]
    pub fn publish_change(&self, change: JsValue) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let kind = string(&change, "kind");
        let reason = string(&change, "reason");
        promise(async move {
            let kind = kind.ok_or_else(|| js_error("publishChange needs a `kind`"))?;
            let event = ChangeEvent {
                kind,
                reason: reason.unwrap_or_else(|| "updated".into()),
                tenant_id: ctx.owner().tenant.to_string(),
                ts_ms: js_sys::Date::now() as u64,
            };
            Ok(JsValue::from(ctx.publish_change(event).await as u32))
        })
    }

    /// Announces a change to every client of this server that should hear of it, in both
    /// revisions: the `subscriptions/listen` streams that asked for it and the sessions' GET
    /// streams (for `{resourceUpdated: uri}`, the sessions subscribed to `uri`). `change` is
    /// `"toolsListChanged"`, `"promptsListChanged"`, `"resourcesListChanged"` (or `{type: ...}`),
    /// or `{resourceUpdated: uri}`. Resolves with how many were told.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn announce(&self, #[wasm_bindgen(unchecked_param_type = "Change")] change: JsValue) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let parsed = self::change(&change);
        promise(async move { Ok(JsValue::from(ctx.announce(parsed?).await as u32)) })
    }

    /// `notifications/resources/updated` to every session subscribed to `uri` (in this server).
    #[wasm_bindgen(js_name = notifyResourceUpdated, unchecked_return_type = "Promise<number>")]
    pub fn notify_resource_updated(&self, uri: String) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        promise(async move { Ok(JsValue::from(ctx.notify_resource_updated(&uri).await as u32)) })
    }
}
