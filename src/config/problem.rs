//! What is wrong with a configuration: one [`Problem`] per key, all of them in a
//! [`ConfigError`].

use std::fmt;

/// One thing wrong (or, from [`Config::warnings`](super::Config::warnings), doubtful) with
/// the configuration, and the key it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, as in the YAML file (`telemetry.switches`).
    pub key: String,
    /// What is wrong, and where the value came from when known.
    pub message: String,
}

impl Problem {
    /// A problem at `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found while loading and validating a configuration.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// In the order found: keys the types reject, then values validation rejects.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// An error of one problem.
    pub(super) fn one(key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![Problem::new(key, message)],
        }
    }
}
