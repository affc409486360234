//! `auth`: who may read. Bearer tokens, each with a name and a scope, stored as the SHA-256
//! of the token (never the token), in the config and/or a file (a systemd credential);
//! which routes stay open; and whether a listener off loopback may serve without tokens.

use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The telemetry routes, `/metrics`, the API description.
    Read,
    /// Everything `read` may, and the routes that change state.
    Admin,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// One bearer token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it: shown in request log lines and metrics, never the token.
    pub name: String,
    /// `read` or `admin`.
    pub scope: Scope,
    /// The SHA-256 of the token, 64 hex digits (`telemetryd token new NAME` prints it).
    pub sha256: String,
    /// This token's own rate (requests per second), instead of `auth.rate_per_second`.
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    /// This token's own burst, instead of `auth.burst`.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// Authentication of both listeners.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Bearer tokens. None here or in `tokens_file`: no authentication.
    pub tokens: Vec<TokenConfig>,
    /// A YAML file holding more tokens (a list shaped as `tokens`), e.g. a systemd
    /// credential: `/run/credentials/telemetryd.service/tokens`.
    pub tokens_file: Option<String>,
    /// `/healthz` and `/readyz` answer without a token (load balancers probe them).
    pub open_health: bool,
    /// `/metrics` answers without a token.
    pub open_metrics: bool,
    /// A listener on an address other than loopback may serve without tokens.
    pub allow_anonymous: bool,
    /// Requests per second each client may make on average (per token, or per source
    /// address without one); 0: no rate limit.
    pub rate_per_second: f64,
    /// Requests a client may make at once above that rate.
    pub burst: u32,
    /// Most source addresses the limiter keeps state for; beyond it, new addresses share
    /// one bucket until old ones are forgotten.
    pub max_clients: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            tokens: Vec::new(),
            tokens_file: None,
            open_health: true,
            open_metrics: false,
            allow_anonymous: false,
            rate_per_second: 0.0,
            burst: 100,
            max_clients: 100_000,
        }
    }
}

impl AuthConfig {
    /// Every token: those of the config, then those of `tokens_file`. An error names what
    /// is wrong with the file, never its content.
    pub fn all_tokens(&self) -> Result<Vec<TokenConfig>, String> {
        let mut all = self.tokens.clone();
        if let Some(path) = self.tokens_file.as_deref().filter(|p| !p.is_empty()) {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let more: Vec<TokenConfig> = serde_yaml::from_str(&text).map_err(|e| {
                // The location only: the parser's message could quote a token's hash.
                let at = e
                    .location()
                    .map_or(String::new(), |l| format!(" (line {})", l.line()));
                format!("{path} is not a YAML list of {{name, scope, sha256}}{at}")
            })?;
            all.extend(more);
        }
        Ok(all)
    }

    /// Whether any token is configured (or the file cannot be read: then validation fails).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || self.tokens_file.as_deref().is_some_and(|p| !p.is_empty())
    }

    /// This section's checks.
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check_rate("auth.rate_per_second", self.rate_per_second, true, problems);
        if self.burst == 0 {
            problems.push(Problem::new("auth.burst", "must be at least 1, got 0"));
        }
        if !(1..=10_000_000).contains(&self.max_clients) {
            problems.push(Problem::new(
                "auth.max_clients",
                format!("must be 1 to 10000000, got {}", self.max_clients),
            ));
        }
        let tokens = match self.all_tokens() {
            Ok(tokens) => tokens,
            Err(why) => {
                problems.push(Problem::new("auth.tokens_file", why));
                return;
            }
        };
        let mut names = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for (i, t) in tokens.iter().enumerate() {
            let key = format!("auth.tokens[{i}]");
            if !valid_token_name(&t.name) {
                problems.push(Problem::new(
                    format!("{key}.name"),
                    format!(
                        "must be 1 to 64 letters, digits, '.', '_' or '-', got {:?}",
                        t.name.chars().take(64).collect::<String>()
                    ),
                ));
            } else if !names.insert(t.name.clone()) {
                problems.push(Problem::new(
                    format!("{key}.name"),
                    format!("{:?} is given to two tokens", t.name),
                ));
            }
            if let Some(rate) = t.rate_per_second {
                check_rate(&format!("{key}.rate_per_second"), rate, false, problems);
            }
            if t.burst == Some(0) {
                problems.push(Problem::new(
                    format!("{key}.burst"),
                    "must be at least 1, got 0",
                ));
            }
            if parse_sha256(&t.sha256).is_none() {
                // Never the value: it may be a token pasted by mistake.
                problems.push(Problem::new(
                    format!("{key}.sha256"),
                    "must be 64 hex digits, the SHA-256 of the token (telemetryd token new NAME)",
                ));
            } else if !hashes.insert(t.sha256.to_ascii_lowercase()) {
                problems.push(Problem::new(
                    format!("{key}.sha256"),
                    "the same token is given twice",
                ));
            }
        }
    }
}

/// A rate: finite, positive (or 0 where 0 means no limit), at most a million a second.
fn check_rate(key: &str, rate: f64, zero_is_off: bool, problems: &mut Vec<Problem>) {
    let ok = rate.is_finite() && rate <= 1e6 && (rate > 0.0 || (zero_is_off && rate == 0.0));
    if !ok {
        let floor = if zero_is_off {
            "0 (no limit)"
        } else {
            "above 0"
        };
        problems.push(Problem::new(
            key,
            format!("must be {floor} to 1000000 requests per second, got {rate}"),
        ));
    }
}

/// A token name as it may appear in logs and metric labels: 1 to 64 letters, digits, '.',
/// '_' or '-'.
pub fn valid_token_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// 64 hex digits as 32 bytes.
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, sha256: &str) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            scope: Scope::Read,
            sha256: sha256.into(),
            rate_per_second: None,
            burst: None,
        }
    }

    #[test]
    fn every_bad_token_is_named_and_no_hash_is_shown() {
        let good = "a".repeat(64);
        let auth = AuthConfig {
            tokens: vec![
                token("grafana", &good),
                token("grafana", &"b".repeat(64)),
                token("bad name", &"c".repeat(64)),
                token("pasted", "tmd_the-token-itself"),
                token("again", &good.to_uppercase()),
            ],
            ..AuthConfig::default()
        };
        let mut problems = Vec::new();
        auth.validate(&mut problems);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "auth.tokens[1].name",
                "auth.tokens[2].name",
                "auth.tokens[3].sha256",
                "auth.tokens[4].sha256"
            ]
        );
        let text = format!("{problems:?}");
        assert!(!text.contains("tmd_the-token-itself"), "{text}");
        assert!(!text.contains(&good), "{text}");
    }

    #[test]
    fn a_tokens_file_adds_tokens_and_a_bad_one_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(
            &file,
            format!(
                "- {{name: prometheus, scope: read, sha256: {}}}\n",
                "d".repeat(64)
            ),
        )
        .unwrap();
        let auth = AuthConfig {
            tokens_file: Some(file.display().to_string()),
            ..AuthConfig::default()
        };
        assert!(auth.enabled());
        let all = auth.all_tokens().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].name, "prometheus");

        std::fs::write(&file, "secret-token-text: [").unwrap();
        let mut problems = Vec::new();
        auth.validate(&mut problems);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "auth.tokens_file");
        assert!(!format!("{problems:?}").contains("secret-token-text"));
    }

    #[test]
    fn sha256_hex_parses_both_cases_and_refuses_anything_else() {
        assert_eq!(parse_sha256(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_sha256(&"AB".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_sha256(&"ab".repeat(31)), None);
        assert_eq!(parse_sha256(&"zz".repeat(32)), None);
        assert_eq!(parse_sha256(&"é".repeat(32)), None);
    }
}
