//! Log levels of `notifications/message` and `logging/setLevel`.

use serde::{Deserialize, Serialize};

/// The syslog severities MCP uses, least severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detailed debugging information.
    Debug,
    /// Normal operational messages.
    Info,
    /// Significant normal events.
    Notice,
    /// Warning conditions.
    Warning,
    /// Error conditions.
    Error,
    /// Critical conditions.
    Critical,
    /// Action must be taken immediately.
    Alert,
    /// The system is unusable.
    Emergency,
}

impl LogLevel {
    /// Whether a session whose minimum level is `minimum` (none set: everything) receives a
    /// message at this level.
    pub fn passes(self, minimum: Option<LogLevel>) -> bool {
        minimum.is_none_or(|minimum| self >= minimum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtering_by_minimum_level() {
        assert!(LogLevel::Debug.passes(None));
        assert!(LogLevel::Info.passes(Some(LogLevel::Info)));
        assert!(!LogLevel::Info.passes(Some(LogLevel::Warning)));
        assert!(LogLevel::Emergency.passes(Some(LogLevel::Warning)));
        assert_eq!(serde_json::to_string(&LogLevel::Warning).unwrap(), "\"warning\"");
    }
}
