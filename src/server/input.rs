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

use serde::Deserialize;
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
    /// The request's params as sent: the binding's digest is taken from them only when a state
    /// is sealed (most runs ask for nothing, and pay nothing).
    params: String,
    expires_ms: u64,
}

impl Seal {
    fn binding(&self) -> Binding<'_> {
        Binding::of_params(&self.owner, &self.method, &self.params)
    }
}

/// The parts of a retry's params an input round reads.
#[derive(Deserialize)]
struct Retry {
    #[serde(rename = "inputResponses", default, deserialize_with = "present")]
    input_responses: Option<Value>,
    #[serde(rename = "requestState", default)]
    request_state: Option<Value>,
}

/// `Some(null)` for an explicit `null`, unlike serde's default for options.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
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
    /// The round a request starts: its params (the JSON text of an object), who asked, the key
    /// and the state's lifetime. Opens the echoed state and takes the retry's answers.
    pub(crate) fn start(
        key: &RequestStateKey,
        owner: &Owner,
        method: &str,
        params: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Self, RoundError> {
        let retry: Retry =
            serde_json::from_str(params).map_err(|_| RoundError::Malformed("params must be an object"))?;
        let seal = Seal {
            key: key.clone(),
            owner: owner.clone(),
            method: method.to_owned(),
            params: params.to_owned(),
            expires_ms: now_ms.saturating_add(ttl_ms),
        };
        let carried = match retry.request_state {
            None | Some(Value::Null) => Carried::default(),
            Some(Value::String(text)) => {
                request_state::open(key, &seal.binding(), &text, now_ms).map_err(RoundError::State)?
            }
            Some(_) => return Err(RoundError::Malformed("requestState must be a string")),
        };
        let mut answers = carried.responses;
        match retry.input_responses {
            None => {}
            Some(Value::Object(responses)) => {
                if responses.values().any(|answer| !answer.is_object()) {
                    return Err(RoundError::Malformed("every inputResponses value must be a result object"));
                }
                answers.extend(responses);
            }
            Some(_) => return Err(RoundError::Malformed("inputResponses must be an object")),
        }
        Ok(Self {
            seal,
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
        let state = request_state::seal(&self.seal.key, &self.seal.binding(), &carried);
        Reply::json(&json!({ "resultType": "input_required", "inputRequests": requests, "requestState": state })).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(reply: Reply) -> Value {
        serde_json::from_slice(reply.as_bytes()).unwrap()
    }

    #[test]
    fn answers_of_every_round_reach_the_rerun_handler() {
        let key = RequestStateKey::random();
        let owner = Owner::anonymous();
        let round = Round::start(&key, &owner, "tools/call", r#"{"name":"t"}"#, 0, 60_000).unwrap();
        assert_eq!(round.answer_or_ask("a", "elicitation/create", json!({})), None);
        let asked = result(round.input_required().unwrap());
        assert_eq!(asked["resultType"], "input_required");
        assert_eq!(asked["inputRequests"]["a"]["method"], "elicitation/create");

        let retry = json!({ "name": "t", "inputResponses": { "a": { "action": "accept" } }, "requestState": asked["requestState"] });
        let round = Round::start(&key, &owner, "tools/call", &retry.to_string(), 1, 60_000).unwrap();
        assert_eq!(round.answer_or_ask("a", "elicitation/create", json!({})), Some(json!({ "action": "accept" })));
        assert_eq!(round.answer_or_ask("b", "roots/list", json!({})), None);
        let asked = result(round.input_required().unwrap());
        assert!(asked["inputRequests"].get("a").is_none(), "answered inputs are not asked again");

        // The third round gets b from the retry and a from the state only.
        let retry =
            json!({ "name": "t", "inputResponses": { "b": { "roots": [] } }, "requestState": asked["requestState"] });
        let round = Round::start(&key, &owner, "tools/call", &retry.to_string(), 2, 60_000).unwrap();
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
                matches!(Round::start(&key, &owner, "tools/call", bad, 0, 1), Err(RoundError::Malformed(_))),
                "{bad}"
            );
        }
        let forged = r#"{"name":"t","requestState":"v1.e30.AAAA"}"#;
        assert!(matches!(Round::start(&key, &owner, "tools/call", forged, 0, 1), Err(RoundError::State(_))));
    }
}
