//! The sealed `requestState` of input-required results.
//!
//! The client echoes `requestState` back byte for byte with its retry, and could change it on
//! the way: it is attacker-controlled. The engine keeps the answers gathered in earlier rounds
//! (and the handler's own state) in it, so it is sealed with HMAC-SHA256 under a server key,
//! bound to who asked, the method and its params, and given an expiry on the engine's clock.
//! Anything that does not verify is refused before a handler runs. Signed, not encrypted: the
//! client can read what it carries.
//!
//! Format: `v1.<base64url(body)>.<base64url(tag)>`, body = JSON `{"e": expiry ms, "r": answers,
//! "s": handler state}`, tag = HMAC over a domain label, the length-prefixed binding and the body.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::session::Owner;

const LABEL: &[u8] = b"mcp-session/request-state/v1";
const PREFIX: &str = "v1.";

/// The key that seals `requestState`. Replicas that serve the same clients must share it (a
/// retry may reach any of them); [`RequestStateKey::random`] suits one process.
#[derive(Clone)]
pub struct RequestStateKey([u8; 32]);

impl RequestStateKey {
    /// A key from 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key derived (SHA-256) from a secret of at least 32 bytes, such as a deployment secret
    /// every replica reads from its environment.
    pub fn from_secret(secret: &[u8]) -> Result<Self, ShortSecret> {
        if secret.len() < 32 {
            return Err(ShortSecret { len: secret.len() });
        }
        Ok(Self(Sha256::digest(secret).into()))
    }

    /// A fresh random key.
    pub fn random() -> Self {
        let mut bytes = [0; 32];
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(bytes)
    }

    fn mac(&self, binding: &Binding<'_>, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(LABEL);
        for part in [
            binding.owner.tenant.as_str().as_bytes(),
            binding.owner.principal.name().unwrap_or("").as_bytes(),
            binding.method.as_bytes(),
            &binding.params,
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(body);
        mac
    }
}

/// A secret too short to seal `requestState` with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a requestState secret needs at least 32 bytes, this one has {len}")]
pub struct ShortSecret {
    /// The secret's length in bytes.
    pub len: usize,
}

impl fmt::Debug for RequestStateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestStateKey(..)")
    }
}

/// What a state is bound to: opening it under another owner, method or params fails.
pub(crate) struct Binding<'a> {
    pub(crate) owner: &'a Owner,
    pub(crate) method: &'a str,
    /// SHA-256 of the request's params without `_meta`, `inputResponses` and `requestState`
    /// (the parts that change between rounds).
    pub(crate) params: [u8; 32],
}

impl<'a> Binding<'a> {
    /// The binding of a request whose params are this JSON text (an object; anything else
    /// binds as an empty one, and was refused before a state could be issued for it).
    pub(crate) fn of_params(owner: &'a Owner, method: &'a str, params: &str) -> Self {
        let params: Map<String, Value> = serde_json::from_str(params).unwrap_or_default();
        Self::new(owner, method, &params)
    }

    pub(crate) fn new(owner: &'a Owner, method: &'a str, params: &Map<String, Value>) -> Self {
        let mut stable = params.clone();
        for volatile in ["_meta", "inputResponses", "requestState"] {
            stable.remove(volatile);
        }
        // serde_json's map is ordered by key, so equal params serialize equally.
        let canonical = serde_json::to_vec(&stable).expect("a JSON map serializes");
        Self { owner, method, params: Sha256::digest(canonical).into() }
    }
}

/// What a sealed state carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Carried {
    /// When the state stops being accepted, in milliseconds on the engine's clock.
    #[serde(rename = "e")]
    pub(crate) expires_ms: u64,
    /// The client's answers of every earlier round, by input key.
    #[serde(rename = "r", default)]
    pub(crate) responses: Map<String, Value>,
    /// The handler's own state, as it set it.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub(crate) handler: Option<String>,
}

/// Why an echoed `requestState` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestStateError {
    /// Not a state this server issues.
    #[error("requestState is malformed")]
    Malformed,
    /// The seal does not verify: changed, issued for another request or caller, or under
    /// another key.
    #[error("requestState does not verify (changed, or issued for another request)")]
    Forged,
    /// Older than its time to live.
    #[error("requestState has expired")]
    Expired,
}

pub(crate) fn seal(key: &RequestStateKey, binding: &Binding<'_>, carried: &Carried) -> String {
    let body = serde_json::to_vec(carried).expect("the carried state serializes");
    let tag = key.mac(binding, &body).finalize().into_bytes();
    format!("{PREFIX}{}.{}", URL_SAFE_NO_PAD.encode(&body), URL_SAFE_NO_PAD.encode(tag))
}

pub(crate) fn open(
    key: &RequestStateKey,
    binding: &Binding<'_>,
    text: &str,
    now_ms: u64,
) -> Result<Carried, RequestStateError> {
    let (body, tag) =
        text.strip_prefix(PREFIX).and_then(|rest| rest.split_once('.')).ok_or(RequestStateError::Malformed)?;
    let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| RequestStateError::Malformed)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| RequestStateError::Malformed)?;
    // Constant time, and before anything in the body is believed.
    key.mac(binding, &body).verify_slice(&tag).map_err(|_| RequestStateError::Forged)?;
    let carried: Carried = serde_json::from_slice(&body).map_err(|_| RequestStateError::Malformed)?;
    if carried.expires_ms <= now_ms {
        return Err(RequestStateError::Expired);
    }
    Ok(carried)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Principal, TenantId};

    fn params(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_sealed_state_opens_only_unchanged_for_the_same_request_and_caller_in_time() {
        let key = RequestStateKey::random();
        let alice = Owner::new(TenantId::default_tenant(), Principal::new("alice"));
        let bob = Owner::new(TenantId::default_tenant(), Principal::new("bob"));
        let asked = params(r#"{"name":"t","arguments":{"a":1}}"#);
        let binding = Binding::new(&alice, "tools/call", &asked);
        let carried = Carried { expires_ms: 1_000, responses: params(r#"{"k":{"action":"accept"}}"#), handler: None };
        let state = seal(&key, &binding, &carried);

        let retry = params(r#"{"name":"t","arguments":{"a":1},"inputResponses":{},"requestState":"x","_meta":{}}"#);
        assert_eq!(open(&key, &Binding::new(&alice, "tools/call", &retry), &state, 999), Ok(carried));
        assert_eq!(open(&key, &binding, &state, 1_000), Err(RequestStateError::Expired));
        assert_eq!(open(&key, &Binding::new(&bob, "tools/call", &asked), &state, 0), Err(RequestStateError::Forged));
        assert_eq!(open(&key, &Binding::new(&alice, "prompts/get", &asked), &state, 0), Err(RequestStateError::Forged));
        let other = params(r#"{"name":"t","arguments":{"a":2}}"#);
        assert_eq!(open(&key, &Binding::new(&alice, "tools/call", &other), &state, 0), Err(RequestStateError::Forged));
        assert_eq!(open(&RequestStateKey::random(), &binding, &state, 0), Err(RequestStateError::Forged));
        assert_eq!(open(&key, &binding, &format!("{state}x"), 0), Err(RequestStateError::Forged));
        assert_eq!(open(&key, &binding, "v1.!!.!!", 0), Err(RequestStateError::Malformed));
        assert_eq!(open(&key, &binding, "state-1", 0), Err(RequestStateError::Malformed));
    }

    #[test]
    fn replicas_with_the_same_secret_open_each_others_states() {
        let secret = b"a deployment secret of at least 32 bytes";
        let (one, other) =
            (RequestStateKey::from_secret(secret).unwrap(), RequestStateKey::from_secret(secret).unwrap());
        let owner = Owner::anonymous();
        let binding = Binding::new(&owner, "tools/call", &params("{}"));
        let carried = Carried { expires_ms: 10, ..Carried::default() };
        assert_eq!(open(&other, &binding, &seal(&one, &binding, &carried), 0), Ok(carried));
        assert_eq!(RequestStateKey::from_secret(b"short").err(), Some(ShortSecret { len: 5 }));
    }
}
