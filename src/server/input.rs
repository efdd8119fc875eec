//! Input-required rounds: how a handler that asks the client for input (elicitation, sampling,
//! roots) is served on a request of the sessionless era, with the same code that sends a real
//! request on a session.
//!
//! A sessionless request cannot wait for the client. So when its handler asks for input it does
//! not have, the ask is recorded and fails at once ([`ClientRequestError::InputRequired`]); the
//! request then ends with an `InputRequiredResult` listing every ask of the run (so asks made
//! concurrently travel in one round) and a sealed `requestState`. The client retries with a new
//! id, the original params, `inputResponses` (answers by key) and the state; the handler runs
//! again from the start and this time its asks are answered from the retry and from the answers
//! of earlier rounds that the state carries. A missing or mistyped answer is simply asked again.
//!
//! [`ClientRequestError::InputRequired`]: super::ClientRequestError::InputRequired

use std::cell::{Cell, RefCell};

use serde_json::{json, Map, Value};

use super::handler::Reply;
use super::request_state::{self, Binding, Carried, RequestStateError, RequestStateKey};
use crate::jsonrpc::ErrorObject;
use crate::session::Owner;

/// The methods whose handlers may end a round with an input-required result.
pub(crate) fn takes_input(method: &str) -> bool {
    matches!(method, "tools/call" | "prompts/get" | "resources/read")
}

/// The seal's context: what the state is bound to and how long it lives.
struct Seal {
    key: RequestStateKey,
    owner: Owner,
    method: String,
    params: [u8; 32],
    expires_ms: u64,
}

/// One run of a sessionless request's handler that may ask for input.
pub(crate) struct Round {
    seal: Seal,
    /// Answers known in this run: the sealed ones of earlier rounds, then this retry's.
    answers: Map<String, Value>,
    /// The handler's state as the client echoed it.
    state_in: Option<String>,
    /// The handler's state for the next round, if it set one.
    state_out: RefCell<Option<String>>,
    /// Inputs asked for and not answered, by key, in the order asked.
    asked: RefCell<Vec<(String, Value)>>,
    /// Keys handed out to asks that did not name one.
    next_key: Cell<u32>,
}

/// Why a retry's input could not be used.
#[derive(Debug)]
pub(crate) enum RoundError {
    /// `inputResponses` is not an object of objects.
    Malformed(&'static str),
    /// `requestState` does not open.
    State(RequestStateError),
}

impl From<RoundError> for ErrorObject {
    fn from(error: RoundError) -> Self {
        match error {
            RoundError::Malformed(why) => ErrorObject::invalid_params(format!("Invalid params: {why}")),
            RoundError::State(error) => ErrorObject::invalid_params(format!("Invalid params: {error}")),
        }
    }
}

impl Round {
    /// The round a request starts: its params (an object), who asked, the key and the state's
    /// lifetime. Opens the echoed state and takes the retry's answers.
    pub(crate) fn start(
        key: &RequestStateKey,
        owner: &Owner,
        method: &str,
        params: &Map<String, Value>,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Self, RoundError> {
        let binding = Binding::new(owner, method, params);
        let carried = match params.get("requestState") {
            None | Some(Value::Null) => Carried::default(),
            Some(Value::String(text)) => request_state::open(key, &binding, text, now_ms).map_err(RoundError::State)?,
            Some(_) => return Err(RoundError::Malformed("requestState must be a string")),
        };
        let mut answers = carried.responses;
        match params.get("inputResponses") {
            None => {}
            Some(Value::Object(responses)) => {
                if responses.values().any(|answer| !answer.is_object()) {
                    return Err(RoundError::Malformed("every inputResponses value must be a result object"));
                }
                answers.extend(responses.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Some(_) => return Err(RoundError::Malformed("inputResponses must be an object")),
        }
        let params = binding.params;
        Ok(Self {
            seal: Seal {
                key: key.clone(),
                owner: owner.clone(),
                method: method.to_owned(),
                params,
                expires_ms: now_ms.saturating_add(ttl_ms),
            },
            answers,
            state_in: carried.handler,
            state_out: RefCell::new(None),
            asked: RefCell::new(Vec::new()),
            next_key: Cell::new(0),
        })
    }

    /// A key for an ask that named none: the same for the same ask of every run, as long as
    /// the handler asks in the same order.
    pub(crate) fn auto_key(&self, method: &str) -> String {
        let n = self.next_key.get() + 1;
        self.next_key.set(n);
        let kind = method.rsplit('/').next().unwrap_or(method);
        format!("{kind}-{n}")
    }

    /// The answer to input `key`, or `None` after recording the ask (`method`, `params`) for
    /// this round's result.
    pub(crate) fn answer_or_ask(&self, key: &str, method: &str, params: Value) -> Option<Value> {
        if let Some(answer) = self.answers.get(key) {
            return Some(answer.clone());
        }
        let mut asked = self.asked.borrow_mut();
        if !asked.iter().any(|(k, _)| k == key) {
            asked.push((key.to_owned(), json!({ "method": method, "params": params })));
        }
        None
    }

    /// The handler's state as the client echoed it (`None` on the first round).
    pub(crate) fn state(&self) -> Option<&str> {
        self.state_in.as_deref()
    }

    /// Sets the handler's state for the next round.
    pub(crate) fn set_state(&self, state: String) {
        *self.state_out.borrow_mut() = Some(state);
    }

    /// The input-required result, if the handler asked for input it did not have.
    pub(crate) fn input_required(&self) -> Option<Reply> {
        let asked = self.asked.borrow();
        if asked.is_empty() {
            return None;
        }
        let requests: Map<String, Value> = asked.iter().cloned().collect();
        let carried = Carried {
            expires_ms: self.seal.expires_ms,
            responses: self.answers.clone(),
            handler: self.state_out.borrow().clone().or_else(|| self.state_in.clone()),
        };
        let binding = Binding { owner: &self.seal.owner, method: &self.seal.method, params: self.seal.params };
        let state = request_state::seal(&self.seal.key, &binding, &carried);
        Reply::json(&json!({ "resultType": "input_required", "inputRequests": requests, "requestState": state })).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    fn result(reply: Reply) -> Value {
        serde_json::from_slice(reply.as_bytes()).unwrap()
    }

    #[test]
    fn answers_of_every_round_reach_the_rerun_handler() {
        let key = RequestStateKey::random();
        let owner = Owner::anonymous();
        let first = params(r#"{"name":"t"}"#);
        let round = Round::start(&key, &owner, "tools/call", &first, 0, 60_000).unwrap();
        assert_eq!(round.answer_or_ask("a", "elicitation/create", json!({})), None);
        let asked = result(round.input_required().unwrap());
        assert_eq!(asked["resultType"], "input_required");
        assert_eq!(asked["inputRequests"]["a"]["method"], "elicitation/create");

        let retry = json!({ "name": "t", "inputResponses": { "a": { "action": "accept" } }, "requestState": asked["requestState"] });
        let round = Round::start(&key, &owner, "tools/call", retry.as_object().unwrap(), 1, 60_000).unwrap();
        assert_eq!(round.answer_or_ask("a", "elicitation/create", json!({})), Some(json!({ "action": "accept" })));
        assert_eq!(round.answer_or_ask("b", "roots/list", json!({})), None);
        let asked = result(round.input_required().unwrap());
        assert!(asked["inputRequests"].get("a").is_none(), "answered inputs are not asked again");

        // The third round gets b from the retry and a from the state only.
        let retry =
            json!({ "name": "t", "inputResponses": { "b": { "roots": [] } }, "requestState": asked["requestState"] });
        let round = Round::start(&key, &owner, "tools/call", retry.as_object().unwrap(), 2, 60_000).unwrap();
        assert!(round.answer_or_ask("a", "elicitation/create", json!({})).is_some());
        assert!(round.answer_or_ask("b", "roots/list", json!({})).is_some());
        assert!(round.input_required().is_none());
    }

    #[test]
    fn malformed_answers_and_states_are_refused() {
        let key = RequestStateKey::random();
        let owner = Owner::anonymous();
        for bad in [
            r#"{"name":"t","inputResponses":7}"#,
            r#"{"name":"t","inputResponses":null}"#,
            r#"{"name":"t","inputResponses":{"a":1}}"#,
            r#"{"name":"t","requestState":3}"#,
        ] {
            assert!(
                matches!(Round::start(&key, &owner, "tools/call", &params(bad), 0, 1), Err(RoundError::Malformed(_))),
                "{bad}"
            );
        }
        let forged = params(r#"{"name":"t","requestState":"v1.e30.AAAA"}"#);
        assert!(matches!(Round::start(&key, &owner, "tools/call", &forged, 0, 1), Err(RoundError::State(_))));
    }
}
