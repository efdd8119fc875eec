//! Protocol revisions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An MCP protocol revision this engine serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// 2025-03-26: the first Streamable HTTP revision; JSON-RPC batches allowed.
    V2025_03_26,
    /// 2025-06-18: no batches; `MCP-Protocol-Version` header; elicitation.
    V2025_06_18,
    /// 2025-11-25: priming events and SSE polling; stream-scoped event ids.
    V2025_11_25,
    /// 2026-07-28: no sessions. Every request carries its revision and the client's
    /// capabilities in `params._meta`; `server/discover` replaces `initialize`,
    /// `subscriptions/listen` the GET stream, and input-required results the server's requests
    /// to the client.
    V2026_07_28,
}

impl ProtocolVersion {
    /// Every revision served, oldest first.
    pub const SUPPORTED: [Self; 4] = [Self::V2025_03_26, Self::V2025_06_18, Self::V2025_11_25, Self::V2026_07_28];
    /// Every revision served, newest first: `supportedVersions` of `server/discover` and
    /// `data.supported` of an unsupported-version error (one list, so the two always agree).
    pub const NEWEST_FIRST: [Self; 4] = [Self::V2026_07_28, Self::V2025_11_25, Self::V2025_06_18, Self::V2025_03_26];
    /// The newest revision with sessions; offered by `initialize` when a client asks for one
    /// that `initialize` cannot negotiate.
    pub const LATEST: Self = Self::V2025_11_25;
    /// What a request without `MCP-Protocol-Version` is taken to speak (the spec's fallback).
    pub const ASSUMED_WITHOUT_HEADER: Self = Self::V2025_03_26;

    /// The revision's date string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// Whether SSE streams of a session at this revision start with a priming event and may be
    /// closed early for the client to resume (SEP-1699).
    pub fn primes_streams(self) -> bool {
        self == Self::V2025_11_25
    }

    /// Whether requests of this revision stand alone: no session, no `initialize`; each carries
    /// its revision and capabilities in `params._meta`.
    pub fn is_sessionless(self) -> bool {
        self >= Self::V2026_07_28
    }

    /// Whether `initialize` may negotiate this revision for a session.
    pub fn has_sessions(self) -> bool {
        !self.is_sessionless()
    }

    /// Whether a POST may carry a JSON-RPC batch.
    pub fn allows_batches(self) -> bool {
        self == Self::V2025_03_26
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A revision this engine does not serve (or not a revision at all).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported protocol version {0:?}")]
pub struct UnsupportedVersion(pub String);

impl FromStr for ProtocolVersion {
    type Err = UnsupportedVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::SUPPORTED.into_iter().find(|v| v.as_str() == text).ok_or_else(|| UnsupportedVersion(text.to_owned()))
    }
}

impl Serialize for ProtocolVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_and_refuses_others() {
        for v in ProtocolVersion::SUPPORTED {
            assert_eq!(v.as_str().parse::<ProtocolVersion>(), Ok(v));
        }
        for bad in ["2024-11-05", "2026-07-29", "", "latest"] {
            assert!(bad.parse::<ProtocolVersion>().is_err(), "{bad}");
        }
        assert!(ProtocolVersion::V2025_11_25.primes_streams());
        assert!(!ProtocolVersion::V2025_06_18.primes_streams());
        assert!(!ProtocolVersion::V2026_07_28.primes_streams(), "nothing is resumable without a session");
        assert!(ProtocolVersion::V2026_07_28.is_sessionless() && !ProtocolVersion::LATEST.is_sessionless());
        let mut oldest_first = ProtocolVersion::NEWEST_FIRST;
        oldest_first.reverse();
        assert_eq!(oldest_first, ProtocolVersion::SUPPORTED);
        assert!(ProtocolVersion::V2025_03_26.allows_batches());
    }
}
