//! Values that are text whatever they look like: [`Secret`] (a password, never shown) and
//! plain text keys (a user name), both read so that `12345678` is the text "12345678".

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// What a secret shows instead of its value, in Debug, Display and serialized output.
pub const REDACTED: &str = "***";

/// A secret (a password). Debug, Display and Serialize show [`REDACTED`], so a config dump,
/// a log line or an error cannot reveal it; [`Secret::expose`] is the one way to the value.
/// (So a serialized config does not load back with its secrets: the price of safe dumps.)
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The value, for the one place that needs it (the Redis connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        deserializer.deserialize_any(TextVisitor).map(Secret)
    }
}

/// For `#[serde(deserialize_with)]` on an `Option<String>` that is text whatever it looks
/// like (a user name `1234`).
pub(super) fn option_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    struct Text(String);
    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
            deserializer.deserialize_any(TextVisitor).map(Text)
        }
    }
    Ok(Option::<Text>::deserialize(deserializer)?.map(|t| t.0))
}

/// Accepts any scalar as its text. The loader hands text keys over as written (so `0123`
/// keeps its zero); numbers and booleans arrive here only from other sources, and become
/// their canonical text. Never echoes the value in an error: it may be a secret.
pub(super) struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_only_the_redaction_in_debug_display_and_serialized_output() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.to_string(), "***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn numbers_and_booleans_are_read_as_their_text() {
        for (json, text) in [
            ("12345678", "12345678"),
            ("-5", "-5"),
            ("1.5", "1.5"),
            ("true", "true"),
            ("\"s3cr3t\"", "s3cr3t"),
        ] {
            let s: Secret = serde_json::from_str(json).unwrap();
            assert_eq!(s.expose(), text, "{json}");
        }
    }
}
