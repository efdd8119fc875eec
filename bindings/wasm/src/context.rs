//! The context a JavaScript handler receives.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::{AbortHandle, Abortable};
use mcp_session::model::LogLevel;
use mcp_session::{ChangeEvent, RequestContext};
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, AbortSignal};

use crate::convert::{error, promise, string, to_js, to_json};

/// What a handler can do while it answers: report progress, log, ask the client, notice
/// cancellation. Everything it sends travels on the request's own stream and is resumable.
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

    /// `elicitation/create`: asks the user.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn elicit(&self, params: JsValue) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let params = to_json(&params);
        promise(async move { Ok(to_js(&ctx.elicit(params?).await.map_err(js_error)?)) })
    }

    /// `sampling/createMessage`: asks the client's model.
    #[wasm_bindgen(js_name = createMessage, unchecked_return_type = "Promise<any>")]
    pub fn create_message(&self, params: JsValue) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        let params = to_json(&params);
        promise(async move { Ok(to_js(&ctx.create_message(params?).await.map_err(js_error)?)) })
    }

    /// `roots/list`.
    #[wasm_bindgen(js_name = listRoots, unchecked_return_type = "Promise<any>")]
    pub fn list_roots(&self) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        promise(async move { Ok(to_js(&ctx.list_roots().await.map_err(js_error)?)) })
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

    /// `notifications/resources/updated` to every session subscribed to `uri` (in this server).
    #[wasm_bindgen(js_name = notifyResourceUpdated, unchecked_return_type = "Promise<number>")]
    pub fn notify_resource_updated(&self, uri: String) -> js_sys::Promise {
        let ctx = self.ctx.clone();
        promise(async move { Ok(JsValue::from(ctx.notify_resource_updated(&uri).await as u32)) })
    }
}
