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

/// Not one of the eight level names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level {0:?}")]
pub struct UnknownLogLevel(pub String);

impl std::str::FromStr for LogLevel {
    type Err = UnknownLogLevel;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name {
            "debug" => Self::Debug,
            "info" => Self::Info,
            "notice" => Self::Notice,
            "warning" => Self::Warning,
            "error" => Self::Error,
            "critical" => Self::Critical,
            "alert" => Self::Alert,
            "emergency" => Self::Emergency,
            other => return Err(UnknownLogLevel(other.to_owned())),
        })
    }
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
        assert_eq!("warning".parse::<LogLevel>(), Ok(LogLevel::Warning));
        assert!("loud".parse::<LogLevel>().is_err());
    }
}
