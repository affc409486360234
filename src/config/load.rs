//! Loading: defaults, then the YAML file, then the environment (figment); then every key the
//! types reject and every value validation rejects, each named with where it came from.
//!
//! serde stops at the first bad value, so one extraction finds one problem. To find them
//! all, each bad key is recorded, put back to its default (or removed, when it is unknown),
//! and the merged data extracted again, until it extracts; validation then sees the rest.

use std::path::Path;

use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::problem::{ConfigError, Problem};
use super::secret::TextVisitor;
use super::{Config, DEFAULT_CONFIG_FILE, SECRET_KEYS, TEXT_KEYS};

/// Most problems listed for one config; a file of garbage would otherwise list thousands,
/// each costing an extraction.
const MAX_PROBLEMS: usize = 50;

/// What a problem at a secret key says instead of figment's message, which can quote the
/// value.
const SECRET_NOT_SHOWN: &str = "must be a string; not shown, as this key holds a secret";

/// Defaults, then `path` (or `telemetry.yaml` in the working directory when it exists),
/// then the environment variables starting with `env_prefix`.
pub(super) fn load(path: Option<&Path>, env_prefix: &str) -> Result<Config, ConfigError> {
    let file = match path {
        Some(path) if !path.is_file() => {
            return Err(ConfigError::one(
                "--config",
                format!("{} does not exist or is not a file", path.display()),
            ));
        }
        Some(path) => Some(path),
        None if Path::new(DEFAULT_CONFIG_FILE).is_file() => Some(Path::new(DEFAULT_CONFIG_FILE)),
        None => None,
    };
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = file {
        // When the file cannot be read, figment's own read of it says so.
        let text = std::fs::read_to_string(file).unwrap_or_default();
        figment = figment.merge(AsWritten {
            texts: yaml_texts(&text),
            provider: Yaml::file_exact(file),
        });
    }
    // TELEMETRYD_FAULTS is the test suite's fault injection (debug builds), not a key.
    let env = Env::prefixed(env_prefix).split("__").ignore(&["faults"]);
    let texts = env
        .iter()
        .filter(|(key, _)| is_text_key(key.as_str()))
        .map(|(key, value)| (key.to_string(), value))
        .collect();
    let figment = figment.merge(AsWritten {
        provider: env,
        texts,
    });
    extract(&figment, env_prefix)
}

/// Defaults, then the YAML document `yaml`.
pub(super) fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
    let figment = Figment::from(Serialized::defaults(Config::default())).merge(AsWritten {
        texts: yaml_texts(yaml),
        provider: Yaml::string(yaml),
    });
    extract(&figment, super::ENV_PREFIX)
}

/// Extracts and validates `figment`'s config, reporting every problem (see the module doc).
fn extract(figment: &Figment, env_prefix: &str) -> Result<Config, ConfigError> {
    // Fails only when a provider failed (a YAML syntax error); no key can be trusted then.
    let mut data: Value = figment.extract().map_err(|errors| ConfigError {
        problems: errors
            .into_iter()
            .map(|e| describe(&e, figment, env_prefix).1)
            .collect(),
    })?;
    let defaults = Value::serialize(Config::default()).expect("the defaults serialize");
    let mut problems = Vec::new();
    let mut reset = Vec::new();
    loop {
        let errors = match data.deserialize::<Config>() {
            Ok(mut config) => {
                problems.extend(config.read_secret_files());
                problems.extend(config.check(&reset).into_iter().map(|p| {
                    let message =
                        with_source(p.message, &p.key, figment.find_metadata(&p.key), env_prefix);
                    Problem::new(p.key, message)
                }));
                return if problems.is_empty() {
                    Ok(config)
                } else {
                    Err(ConfigError { problems })
                };
            }
            Err(errors) => errors,
        };
        for error in errors {
            let (path, problem) = describe(&error, figment, env_prefix);
            problems.push(problem);
            if problems.len() == MAX_PROBLEMS {
                problems.push(Problem::new(
                    "(top level)",
                    format!("stopped after {MAX_PROBLEMS} problems; fix these first"),
                ));
                return Err(ConfigError { problems });
            }
            if !reset_key(&mut data, &path, &defaults) {
                return Err(ConfigError { problems });
            }
            reset.push(path.join("."));
        }
    }
}

/// A figment error as a problem, with the path of the key it concerns.
fn describe(error: &figment::Error, figment: &Figment, env_prefix: &str) -> (Vec<String>, Problem) {
    let mut path = error.path.clone();
    let what = match &error.kind {
        Kind::UnknownField(field, expected) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("unknown key; expected one of: {}", expected.join(", "))
        }
        kind => kind.to_string(),
    };
    let key = if path.is_empty() {
        "(top level)".to_string()
    } else {
        path.join(".")
    };
    let what = if is_secret(&key) {
        SECRET_NOT_SHOWN.to_string()
    } else {
        what
    };
    // Errors from the re-extractions carry no metadata; the original figment knows the key.
    let metadata = error
        .metadata
        .as_ref()
        .or_else(|| figment.find_metadata(&key).filter(|_| !path.is_empty()));
    let message = with_source(what, &key, metadata, env_prefix);
    (path, Problem::new(key, message))
}

/// `what`, followed by where the value at `key` came from, when that was not the defaults.
fn with_source(what: String, key: &str, metadata: Option<&Metadata>, env_prefix: &str) -> String {
    let source = metadata.and_then(|m| match &m.source {
        Some(Source::File(file)) => Some(format!("in {}", file.display())),
        Some(Source::Code(_)) => None,
        _ if m.name.contains("environment") && !key.starts_with('(') => Some(format!(
            "in environment variable {env_prefix}{}",
            key.replace('.', "__").to_ascii_uppercase()
        )),
        _ => Some(format!("in {}", m.name)),
    });
    match source {
        Some(source) => format!("{what} ({source})"),
        None => what,
    }
}

/// Puts the default back at `path`, or removes a key that has none (an unknown one), so
/// that the next extraction gets past it. False when `path` names nothing in `data`.
fn reset_key(data: &mut Value, path: &[String], defaults: &Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let Value::Dict(_, dict) = data else {
        return false;
    };
    let mut dict = dict;
    for key in parents {
        match dict.get_mut(key) {
            Some(Value::Dict(_, inner)) => dict = inner,
            _ => return false,
        }
    }
    let default = path.iter().try_fold(defaults, |value, key| match value {
        Value::Dict(_, d) => d.get(key),
        _ => None,
    });
    match default {
        Some(default) => dict.insert(last.clone(), default.clone()).is_some(),
        None => dict.remove(last).is_some(),
    }
}

/// Whether `key` holds a secret or is inside one.
fn is_secret(key: &str) -> bool {
    SECRET_KEYS.iter().any(|secret| {
        key.strip_prefix(secret)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// Whether `key` is read as text whatever it looks like.
fn is_text_key(key: &str) -> bool {
    SECRET_KEYS.iter().chain(TEXT_KEYS).any(|k| *k == key)
}

/// A provider's data with each text key's value replaced by its text as written: YAML
/// reads `password: 0123` as the number 123 and figment reads `..._PASSWORD=0123` the same
/// way, but a password is the text "0123".
struct AsWritten<P> {
    provider: P,
    /// (`section.key`, text) for the text keys `provider` sets.
    texts: Vec<(String, String)>,
}

impl<P: Provider> Provider for AsWritten<P> {
    fn metadata(&self) -> Metadata {
        self.provider.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut data = self.provider.data()?;
        for dict in data.values_mut() {
            for (key, text) in &self.texts {
                let Some((section, name)) = key.split_once('.') else {
                    continue;
                };
                if let Some(Value::Dict(_, fields)) = dict.get_mut(section)
                    && let Some(value) = fields.get_mut(name)
                    && !matches!(value, Value::Dict(..) | Value::Array(..))
                {
                    *value = Value::from(text.as_str());
                }
            }
        }
        Ok(data)
    }
}

/// The scalars at text keys in `yaml`, as written (`0123`, not 123). Empty when `yaml` is
/// not a mapping of sections; figment then reports what is wrong with it, and the config is
/// rejected anyway.
fn yaml_texts(yaml: &str) -> Vec<(String, String)> {
    // The same parser figment's Yaml provider uses, so both read the same document.
    Sections
        .deserialize(serde_yaml::Deserializer::from_str(yaml))
        .unwrap_or_default()
}

/// The top level of a config document: reads the sections that hold text keys.
struct Sections;

impl<'de> DeserializeSeed<'de> for Sections {
    type Value = Vec<(String, String)>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Sections {
    type Value = Vec<(String, String)>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a mapping of sections")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut texts = Vec::new();
        while let Some(section) = map.next_key::<String>()? {
            let prefix = format!("{section}.");
            if SECRET_KEYS
                .iter()
                .chain(TEXT_KEYS)
                .any(|k| k.starts_with(&prefix))
            {
                for (name, text) in map.next_value_seed(Fields(&section))? {
                    texts.retain(|(key, _)| *key != format!("{prefix}{name}"));
                    texts.push((format!("{prefix}{name}"), text));
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(texts)
    }
}

/// One section: the text keys' scalars as written, every other value skipped unread.
struct Fields<'s>(&'s str);

impl<'de> DeserializeSeed<'de> for Fields<'_> {
    type Value = Vec<(String, String)>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Fields<'_> {
    type Value = Vec<(String, String)>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a mapping of keys")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut texts = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if is_text_key(&format!("{}.{name}", self.0)) {
                if let Some(AsText(text)) = map.next_value::<Option<AsText>>()? {
                    texts.push((name, text));
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(texts)
    }
}

/// A scalar as written: serde_yaml hands a plain scalar's source text to `deserialize_str`.
struct AsText(String);

impl<'de> Deserialize<'de> for AsText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AsText, D::Error> {
        deserializer.deserialize_str(TextVisitor).map(AsText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keys_are_read_from_yaml_as_written() {
        let texts = yaml_texts(
            "telemetry: {switches: 5}\nredis:\n  username: 0123\n  password: 1.50\n  port: 1\n",
        );
        assert_eq!(
            texts,
            [
                ("redis.username".to_string(), "0123".to_string()),
                ("redis.password".to_string(), "1.50".to_string())
            ]
        );
        assert!(yaml_texts("redis: {password: ~}").is_empty());
        assert!(yaml_texts("redis: [1, 2").is_empty());
        assert!(yaml_texts("").is_empty());
    }

    #[test]
    fn secrets_are_the_keys_in_secret_keys_and_what_is_inside_them() {
        assert!(is_secret("redis.password"));
        assert!(is_secret("redis.password.x"));
        assert!(!is_secret("redis.passwords"));
        assert!(!is_secret("redis.username"));
    }
}
