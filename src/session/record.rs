//! The persisted state of one session.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::id::SessionId;
use super::owner::Owner;
use crate::clock::Timestamp;

/// Everything a store keeps about a session apart from its replay logs.
///
/// `D` is the application's per-session state (for the MCP server: the negotiated protocol
/// version, client capabilities, log level); it must be cheap to clone because a lookup returns a
/// copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord<D> {
    /// The session's id.
    pub id: SessionId,
    /// Who may use the session.
    pub owner: Owner,
    /// When the session was created; the absolute timeout counts from here.
    pub created_at: Timestamp,
    /// The last successful lookup, or the end of the last activity (a stream or a call) that
    /// held the session; the idle timeout counts from here.
    pub last_seen: Timestamp,
    /// Whether the session was looked up since it was created: until then the shorter
    /// [`ExpiryPolicy::initialization`] timeout applies.
    #[serde(default = "used_by_default")]
    pub used: bool,
    /// Application state.
    pub data: D,
}

/// Records persisted before `used` existed belong to sessions that were in use.
fn used_by_default() -> bool {
    true
}

/// When sessions expire.
///
/// A session is idle while nothing holds it: no request is being looked up, no stream is
/// attached, no call is running (the engine tells the store with [`Store::set_held`]; see
/// [`SessionsConfig::activity_holds`]). The idle timeout runs only while it is idle; the absolute
/// timeout runs regardless.
///
/// [`Store::set_held`]: super::Store::set_held
/// [`SessionsConfig::activity_holds`]: crate::SessionsConfig::activity_holds
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// A session idle this long is expired. Default 30 minutes.
    pub idle: Duration,
    /// A session older than this is expired, however busy. Default 4 hours.
    pub absolute: Duration,
    /// A session never looked up after its creation (an `initialize` with nothing after it) is
    /// expired this soon, so a burst of bare `initialize` calls cannot hold a session cap for
    /// the whole idle timeout. Default 60 seconds.
    pub initialization: Duration,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(4 * 60 * 60),
            initialization: Duration::from_secs(60),
        }
    }
}

impl ExpiryPolicy {
    /// The instant `record` expires while idle: the earlier of its idle (or initialization)
    /// and absolute deadlines. A session is expired at `now` when `now >= deadline`.
    pub fn deadline<D>(&self, record: &SessionRecord<D>) -> Timestamp {
        let absolute = record.created_at.saturating_add(self.absolute);
        let idle = if record.used {
            record.last_seen.saturating_add(self.idle)
        } else {
            record.created_at.saturating_add(self.initialization.min(self.idle))
        };
        idle.min(absolute)
    }

    /// The instant `record` expires while something holds it: only the absolute timeout runs.
    pub fn held_deadline<D>(&self, record: &SessionRecord<D>) -> Timestamp {
        record.created_at.saturating_add(self.absolute)
    }
}
