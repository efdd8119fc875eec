//! Session identifiers and where they come from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A server-assigned session identifier: 128 bits, written as 32 lowercase hex digits.
///
/// The text form uses only visible ASCII (0x21–0x7E) as the spec requires of `Mcp-Session-Id`.
/// Ids made by [`SessionIdGenerator::random`] carry the 122 random bits of a UUID v4 drawn from
/// the operating system's CSPRNG (`crypto.getRandomValues` on wasm).
///
/// ```
/// use mcp_session::SessionId;
///
/// let id: SessionId = "0123456789abcdef0123456789abcdef".parse().unwrap();
/// assert_eq!(id.to_string(), "0123456789abcdef0123456789abcdef");
/// assert!("not-a-session".parse::<SessionId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u128);

impl SessionId {
    /// Length of the text form.
    pub const TEXT_LEN: usize = 32;

    /// The id with these 128 bits.
    pub const fn from_u128(bits: u128) -> Self {
        Self(bits)
    }

    /// The 128 bits of this id.
    pub const fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// The text is not a session id this engine could have issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed session id: expected 32 lowercase hex digits")]
pub struct MalformedSessionId;

impl FromStr for SessionId {
    type Err = MalformedSessionId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        if bytes.len() != Self::TEXT_LEN {
            return Err(MalformedSessionId);
        }
        let mut bits = 0u128;
        for &b in bytes {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return Err(MalformedSessionId),
            };
            bits = (bits << 4) | u128::from(digit);
        }
        Ok(Self(bits))
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where new session ids come from.
#[derive(Debug)]
pub struct SessionIdGenerator {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Fixed(SessionId),
    Random,
    Seeded(SplitMix64),
}

impl SessionIdGenerator {
    /// Unguessable ids from the operating system's CSPRNG. The default.
    pub fn random() -> Self {
        Self { source: Source::Random }
    }

    /// A reproducible sequence of ids, for simulations and tests only: anyone who knows the seed
    /// can predict every id.
    pub fn seeded(seed: u64) -> Self {
        Self { source: Source::Seeded(SplitMix64(seed)) }
    }

    /// Always `id`: for a host that mints the id before it picks the engine instance that will
    /// own the session (a worker routing each session to its own Durable Object), so that the
    /// instance creates exactly the session it was routed for.
    pub fn fixed(id: SessionId) -> Self {
        Self { source: Source::Fixed(id) }
    }

    /// The next id.
    pub fn next_id(&mut self) -> SessionId {
        match &mut self.source {
            Source::Fixed(id) => *id,
            Source::Random => SessionId(uuid::Uuid::new_v4().as_u128()),
            Source::Seeded(rng) => {
                let high = u128::from(rng.next_u64());
                SessionId((high << 64) | u128::from(rng.next_u64()))
            }
        }
    }
}

impl Default for SessionIdGenerator {
    fn default() -> Self {
        Self::random()
    }
}

/// Steele, Lea and Flood's SplitMix64: tiny, fast, and good enough to make distinct test ids.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_is_visible_ascii() {
        let mut ids = SessionIdGenerator::random();
        for _ in 0..100 {
            let id = ids.next_id();
            let text = id.to_string();
            assert_eq!(text.len(), SessionId::TEXT_LEN);
            assert!(text.bytes().all(|b| (0x21..=0x7e).contains(&b)));
            assert_eq!(text.parse::<SessionId>(), Ok(id));
        }
    }

    #[test]
    fn random_ids_differ_and_carry_uuid_v4_entropy() {
        let mut ids = SessionIdGenerator::random();
        let a = ids.next_id();
        let b = ids.next_id();
        assert_ne!(a, b);
        // version nibble 4 and RFC 4122 variant: the remaining 122 bits are random
        assert_eq!((a.as_u128() >> 76) & 0xf, 4);
        assert_eq!((a.as_u128() >> 62) & 0x3, 0b10);
    }

    #[test]
    fn seeded_generators_repeat() {
        let mut a = SessionIdGenerator::seeded(7);
        let mut b = SessionIdGenerator::seeded(7);
        let mut c = SessionIdGenerator::seeded(8);
        let first = a.next_id();
        assert_eq!(first, b.next_id());
        assert_ne!(first, c.next_id());
        assert_ne!(first, a.next_id());
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef-123456789abcdef",
            "ééééééééééééééééé",
        ] {
            assert_eq!(bad.parse::<SessionId>(), Err(MalformedSessionId), "{bad:?}");
        }
    }

    #[test]
    fn serde_uses_the_text_form() {
        let id = SessionId::from_u128(0xabc);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"00000000000000000000000000000abc\"");
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
    }
}
