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
    /// The last successful lookup; the idle timeout counts from here.
    pub last_seen: Timestamp,
    /// Application state.
    pub data: D,
}

/// When sessions expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// A session not looked up for this long is expired. Default 30 minutes.
    pub idle: Duration,
    /// A session older than this is expired, however recently it was used. Default 4 hours.
    pub absolute: Duration,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self { idle: Duration::from_secs(30 * 60), absolute: Duration::from_secs(4 * 60 * 60) }
    }
}

impl ExpiryPolicy {
    /// The instant `record` expires: the earlier of its idle and absolute deadlines.
    /// A session is expired at `now` when `now >= deadline`.
    pub fn deadline<D>(&self, record: &SessionRecord<D>) -> Timestamp {
        let idle = record.last_seen.saturating_add(self.idle);
        let absolute = record.created_at.saturating_add(self.absolute);
        idle.min(absolute)
    }
}
