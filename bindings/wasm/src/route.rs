//! Routing in front of one Durable Object per session.

use std::cell::RefCell;

use js_sys::Uint8Array;
use mcp_session::http::headers::MCP_METHOD;
use mcp_session::http::{session_route, SessionRoute};
use mcp_session::SessionIdGenerator;
use wasm_bindgen::prelude::*;
use web_sys::{Request, RequestInit};

use crate::fetch::{read_request, ReadError};

/// The method of a listen stream's request.
const LISTEN: &str = "subscriptions/listen";

thread_local! {
    static IDS: RefCell<SessionIdGenerator> = RefCell::new(SessionIdGenerator::random());
}

/// Where a request must be answered.
#[wasm_bindgen]
pub struct Route {
    kind: &'static str,
    session_id: Option<String>,
    request: Request,
}

#[wasm_bindgen]
impl Route {
    /// `"session"`: the object named `sessionId` owns it; `"new"`: an `initialize`, for a new
    /// object named by the freshly minted `sessionId`; `"listen"`: a `subscriptions/listen`
    /// stream (2026-07-28), to be answered by the server where changes are announced (one object
    /// that every announcement reaches); `"any"`: no session involved, any server answers it (a
    /// refusal, or a request of the 2026-07-28 revision).
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.kind.to_owned()
    }

    /// The session id naming the Durable Object, for `"session"` and `"new"`.
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.session_id.clone()
    }

    /// The request to forward: the original one, its body already read, rebuilt.
    #[wasm_bindgen(getter)]
    pub fn request(&self) -> Request {
        Clone::clone(&self.request)
    }
}

/// Decides where `request` goes, minting the session id of an `initialize`. Uses the engine's
/// own parsing, so a worker routes with no protocol rule of its own.
#[wasm_bindgen(unchecked_return_type = "Promise<Route>")]
pub fn route(request: Request) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let http_request = match read_request(&request).await {
            Ok(http_request) => http_request,
            // Unreadable headers involve no session: any server refuses it (its body is unread).
            Err(ReadError::Refused(_)) => return Ok(JsValue::from(Route { kind: "any", session_id: None, request })),
            Err(ReadError::Thrown(thrown)) => return Err(thrown),
        };
        let (parts, body) = http_request.into_parts();
        let (kind, session_id) = match session_route(&parts, &body) {
            SessionRoute::Session(id) => ("session", Some(id.to_string())),
            SessionRoute::Initialize => ("new", Some(IDS.with(|ids| ids.borrow_mut().next_id()).to_string())),
            // A listen stream hears announcements only where they are made. Its `Mcp-Method` is
            // checked against the body by whichever server answers, so a header that lies is
            // refused there like anywhere else.
            _ if parts.headers.get(MCP_METHOD).is_some_and(|method| method == LISTEN) => ("listen", None),
            _ => ("any", None),
        };
        let init = RequestInit::new();
        init.set_method(&request.method());
        init.set_headers(&request.headers());
        if !body.is_empty() {
            init.set_body(&Uint8Array::from(&body[..]));
        }
        let request = Request::new_with_str_and_init(&request.url(), &init)?;
        Ok(JsValue::from(Route { kind, session_id, request }))
    })
}
