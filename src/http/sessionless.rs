//! POST of the sessionless era (2026-07-28): the ladder's rungs after the envelope, then the
//! handler, run and answered exactly as a session's requests are (see [`super::post`]); what
//! differs is how the result is completed and that nothing is registered in a session.

use std::rc::Rc;
use std::sync::Arc;

use http::request::Parts;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::body::Body;
use super::engine::Engine;
use super::era::{self, Sessionless};
use super::post::{Identity, Pending, Run};
use super::rejection::Rejection;
use super::reply;
use crate::clients::Cancellation;
use crate::jsonrpc::{self, ErrorCode, ErrorObject};
use crate::server::{dispatch, takes_input, McpSession, Reply, Round, Server, StreamSlot};
use crate::session::{Owner, Store};

/// How the result of a sessionless request is completed.
pub(super) struct Completion {
    pub(super) method: String,
    /// Its input-required round, for the methods that have one.
    pub(super) round: Option<Rc<Round>>,
    /// Not registered anywhere (there is no session to cancel through): cancelled when the
    /// response stream closes.
    pub(super) cancellation: Arc<Cancellation>,
}

impl Completion {
    /// The result as the sessionless era sends it: an input-required result if the handler
    /// asked for input it did not have, whatever it returned; otherwise its result completed
    /// (`resultType`, cache hint, server info); an unknown resource as invalid params.
    pub(super) fn complete(&self, server: &Server, outcome: Result<Reply, ErrorObject>) -> Result<Reply, ErrorObject> {
        if let Some(asking) = self.round.as_ref().and_then(|round| round.input_required()) {
            return server.input_required_result(asking);
        }
        match outcome {
            Ok(reply) => server.complete_result(&self.method, reply),
            Err(mut error) if error.code == ErrorCode::RESOURCE_NOT_FOUND => {
                error.code = ErrorCode::INVALID_PARAMS;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }
}

/// What the ladder reads of a sessionless request's params: what `Mcp-Name` must equal.
#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    uri: Option<std::borrow::Cow<'a, str>>,
}

impl<S: Store<McpSession> + 'static> Engine<S> {
    /// A request of the sessionless era: the rest of the validation ladder, then the handler,
    /// answered on its own JSON body or SSE stream.
    pub(super) async fn sessionless(
        &self,
        parts: &Parts,
        owner: Owner,
        request: Sessionless<'_>,
    ) -> Result<Response<Body>, Rejection> {
        let (envelope, version) = match era::check_envelope(&parts.headers, &request) {
            Ok(checked) => checked,
            Err(refused) => return Ok(refused.into_response()),
        };
        let Sessionless { id, method, params, meta } = request;
        let refuse = |status: StatusCode, error: ErrorObject| Ok(reply::error(status, Some(&id), &error));
        let raw = params.map_or("{}", RawValue::get);
        // Only what the ladder needs is read here; the handler's params are parsed once, by
        // dispatch, and the whole object only when an input round seals or opens a state.
        let named: Named<'_> = match raw.trim_start().starts_with('{').then(|| serde_json::from_str(raw)) {
            Some(Ok(named)) => named,
            _ => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    ErrorObject::invalid_params("Invalid params: params must be an object"),
                )
            }
        };
        let name = if method == "resources/read" { named.uri.as_deref() } else { named.name.as_deref() };
        if let Err(refused) = era::check_name(&parts.headers, &id, &method, name) {
            return Ok(refused.into_response());
        }
        if !era::is_sessionless_method(&method) || !self.server.serves(&method) {
            return refuse(StatusCode::NOT_FOUND, ErrorObject::method_not_found(&method));
        }
        if method == "tools/call" {
            if let Err(refused) =
                era::check_param_headers(&parts.headers, &id, &self.server, named.name.as_deref(), raw)
            {
                return Ok(refused.into_response());
            }
        }
        match &*method {
            "server/discover" => {
                let discovered =
                    Reply::json(&self.server.discover()).and_then(|reply| self.server.complete_result(&method, reply));
                return Ok(match discovered {
                    Ok(result) => reply::json(StatusCode::OK, jsonrpc::result_message(&id, result.as_bytes())),
                    Err(error) => reply::error(StatusCode::INTERNAL_SERVER_ERROR, Some(&id), &error),
                });
            }
            "subscriptions/listen" => {
                let object: serde_json::Map<String, Value> = serde_json::from_str(raw).unwrap_or_default();
                return self.listen(&owner, id, &object).await;
            }
            _ => {}
        }
        let round = if takes_input(&method) {
            let config = &self.state.config;
            let now = self.state.sessions.now().as_millis();
            let ttl = u64::try_from(config.request_state_ttl.as_millis()).unwrap_or(u64::MAX);
            match Round::start(&config.request_state_key, &owner, &method, raw, now, ttl) {
                Ok(round) => Some(Rc::new(round)),
                Err(error) => return refuse(StatusCode::BAD_REQUEST, error.into()),
            }
        } else {
            None
        };
        let identity = Identity {
            session: None,
            protocol: version,
            client: envelope.capabilities,
            log_level: envelope.log_level,
            client_info: envelope.client_info,
        };
        let cancellation = Arc::new(Cancellation::default());
        let slot = Rc::new(StreamSlot::new(None, false, 1));
        slot.cancel_on_close([cancellation.clone()]);
        let run =
            Run { progress_token: meta.progress_token(), cancellation: cancellation.clone(), round: round.clone() };
        let ctx = self.context(&identity, &owner, &id, &slot, run);
        let reply = dispatch(&self.server, ctx, &method, params);
        let completion = Completion { method: method.into_owned(), round, cancellation };
        let pending = Pending { id: Some(id), reply, running: None, _hold: None, sessionless: Some(completion) };
        self.answer(vec![pending], slot, false).await
    }
}
