//! `logging`: the level and the optional log file. Nothing here needs validating beyond its
//! type; whether the file can be opened is checked where it is opened, at start (main).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Logging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Lowest level logged: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case).
    pub level: LogLevel,
    /// A file that receives the same lines as stderr, appended to; none when unset or empty.
    pub file: Option<PathBuf>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: LogLevel::Info,
            file: None,
        }
    }
}

/// A log level, spelled as Python's logging module spells it (the prototype's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl TryFrom<String> for LogLevel {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.to_ascii_uppercase().as_str() {
            "DEBUG" | "TRACE" => Ok(LogLevel::Debug),
            "INFO" => Ok(LogLevel::Info),
            "WARNING" | "WARN" => Ok(LogLevel::Warning),
            "ERROR" => Ok(LogLevel::Error),
            "CRITICAL" => Ok(LogLevel::Critical),
            _ => Err(format!(
                "unknown log level {text:?}, expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
            )),
        }
    }
}

impl LogLevel {
    /// The level's name as the config spells it.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
            LogLevel::Critical => "CRITICAL",
        }
    }
}

impl From<LogLevel> for String {
    fn from(level: LogLevel) -> String {
        level.name().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_is_written_as_the_name_it_is_read_from() {
        for level in [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warning,
            LogLevel::Error,
            LogLevel::Critical,
        ] {
            let text = String::from(level);
            assert_eq!(text, text.to_ascii_uppercase());
            assert_eq!(LogLevel::try_from(text), Ok(level));
        }
    }
}
