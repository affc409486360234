//! The gate in front of both listeners' routes: a request shows a bearer token whose
//! SHA-256 is one configured (compared in constant time), with the scope its route needs,
//! or it gets a JSON 401 (`WWW-Authenticate: Bearer`) or 403. Only hashes are held: the
//! daemon never sees a token except in the request that carries it, and logs only names.

pub mod limit;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AuthConfig, Scope, TokenConfig, parse_sha256};

/// Everything in front of the routes: the token gate and the rate limiter, each when
/// configured.
pub struct Guard {
    pub gate: Option<Gate>,
    pub limiter: Option<limit::Limiter>,
}

impl Guard {
    /// The guard of `config`; None when there are neither tokens nor a rate limit.
    pub fn new(config: &AuthConfig) -> Result<Option<Guard>, String> {
        // The tokens file is read once, for both.
        let tokens = if config.enabled() {
            config.all_tokens()?
        } else {
            Vec::new()
        };
        let gate = Gate::new(config, &tokens);
        let limiter = limit::Limiter::new(config, &tokens);
        Ok((gate.is_some() || limiter.is_some()).then_some(Guard { gate, limiter }))
    }

    /// Whether `path` is a probe's (`/healthz`, `/readyz`), which no limit applies to.
    pub fn is_probe(path: &str) -> bool {
        matches!(path, "/healthz" | "/readyz")
    }
}

/// A configured token, as the gate holds it.
struct Known {
    sha256: [u8; 32],
    name: Arc<str>,
    scope: Scope,
}

/// Who a request came from, once the gate let it through with a token: a request
/// extension, read by the request log.
#[derive(Clone, Debug)]
pub struct Client {
    pub name: Arc<str>,
    pub scope: Scope,
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header (401).
    Missing,
    /// A token no one configured (401).
    Invalid,
    /// A known token whose scope is not enough (403).
    Scope {
        token: Arc<str>,
        needs: Scope,
        has: Scope,
    },
}

/// The gate: the tokens and which routes stay open.
pub struct Gate {
    tokens: Vec<Known>,
    open_health: bool,
    open_metrics: bool,
}

impl Gate {
    /// The gate of `config` with its `tokens` (those of the config and of its file); None
    /// when no token is configured (every route open).
    pub fn new(config: &AuthConfig, tokens: &[TokenConfig]) -> Option<Gate> {
        if !config.enabled() {
            return None;
        }
        let tokens = tokens
            .iter()
            .filter_map(|t| {
                Some(Known {
                    sha256: parse_sha256(&t.sha256)?,
                    name: t.name.as_str().into(),
                    scope: t.scope,
                })
            })
            .collect();
        Some(Gate {
            tokens,
            open_health: config.open_health,
            open_metrics: config.open_metrics,
        })
    }

    /// How many tokens it knows.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The scope a request needs (`write`: a method that changes state); None: open to
    /// anyone.
    pub fn needs(&self, path: &str, write: bool) -> Option<Scope> {
        match path {
            // Injecting faults changes what the fabric reports.
            "/fabric/faults" if write => Some(Scope::Admin),
            "/healthz" | "/readyz" if self.open_health => None,
            "/metrics" if self.open_metrics => None,
            // Every route that exists reads; an unknown path too, so that without a token
            // nobody learns which routes exist.
            _ => Some(Scope::Read),
        }
    }

    /// Lets a request for `path` with this `Authorization` header value through, or says
    /// why not. Ok(None): an open route, no token looked at.
    pub fn check(
        &self,
        path: &str,
        write: bool,
        authorization: Option<&[u8]>,
    ) -> Result<Option<Client>, Refusal> {
        let Some(needs) = self.needs(path, write) else {
            return Ok(None);
        };
        let token = authorization.and_then(bearer).ok_or(Refusal::Missing)?;
        let digest: [u8; 32] = Sha256::digest(token).into();
        // Every configured hash is compared, found or not: the time taken says nothing
        // about which one matched.
        let mut found = None;
        for known in &self.tokens {
            if bool::from(known.sha256.ct_eq(&digest)) {
                found = Some(known);
            }
        }
        let known = found.ok_or(Refusal::Invalid)?;
        if known.scope < needs {
            return Err(Refusal::Scope {
                token: known.name.clone(),
                needs,
                has: known.scope,
            });
        }
        Ok(Some(Client {
            name: known.name.clone(),
            scope: known.scope,
        }))
    }
}

/// The token of an `Authorization: Bearer <token>` value (the scheme in any case, RFC 7235).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// A fresh token, `tmd_` and 43 URL-safe base64 characters (256 random bits from the OS),
/// and the SHA-256 to configure, as hex.
pub fn new_token() -> std::io::Result<(String, String)> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    let token = format!(
        "tmd_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    Ok((token.clone(), sha256_hex(token.as_bytes())))
}

/// The SHA-256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(open_health: bool, open_metrics: bool) -> Gate {
        let config = AuthConfig {
            tokens: vec![
                TokenConfig {
                    name: "grafana".into(),
                    scope: Scope::Read,
                    sha256: sha256_hex(b"read-token"),
                    rate_per_second: None,
                    burst: None,
                },
                TokenConfig {
                    name: "ops".into(),
                    scope: Scope::Admin,
                    sha256: sha256_hex(b"admin-token"),
                    rate_per_second: None,
                    burst: None,
                },
            ],
            open_health,
            open_metrics,
            ..AuthConfig::default()
        };
        Gate::new(&config, &config.tokens).unwrap()
    }

    #[test]
    fn a_known_token_passes_with_its_name_and_anything_else_is_refused() {
        let g = gate(true, false);
        let ok = g
            .check("/telemetry/", false, Some(b"Bearer read-token"))
            .unwrap();
        assert_eq!(&*ok.unwrap().name, "grafana");
        let admin = g
            .check("/telemetry/", false, Some(b"bearer  admin-token "))
            .unwrap();
        assert_eq!(admin.unwrap().scope, Scope::Admin);
        assert_eq!(
            g.check("/telemetry/", false, None).unwrap_err(),
            Refusal::Missing
        );
        assert_eq!(
            g.check("/telemetry/", false, Some(b"Basic read-token"))
                .unwrap_err(),
            Refusal::Missing
        );
        assert_eq!(
            g.check("/nope", false, Some(b"Bearer ")).unwrap_err(),
            Refusal::Missing
        );
        assert_eq!(
            g.check("/nope", false, Some(b"Bearer read-tokeN"))
                .unwrap_err(),
            Refusal::Invalid
        );
    }

    #[test]
    fn injecting_faults_needs_the_admin_scope_and_listing_them_only_read() {
        let g = gate(true, false);
        let read = Some(&b"Bearer read-token"[..]);
        assert!(g.check("/fabric/faults", false, read).is_ok());
        assert_eq!(
            g.check("/fabric/faults", true, read).unwrap_err(),
            Refusal::Scope {
                token: "grafana".into(),
                needs: Scope::Admin,
                has: Scope::Read
            }
        );
        let admin = g.check("/fabric/faults", true, Some(b"Bearer admin-token"));
        assert_eq!(admin.unwrap().unwrap().scope, Scope::Admin);
    }

    #[test]
    fn health_and_metrics_are_open_only_as_configured() {
        let g = gate(true, false);
        assert!(g.check("/healthz", false, None).unwrap().is_none());
        assert!(g.check("/readyz", false, None).unwrap().is_none());
        assert_eq!(
            g.check("/metrics", false, None).unwrap_err(),
            Refusal::Missing
        );
        let closed = gate(false, true);
        assert_eq!(
            closed.check("/healthz", false, None).unwrap_err(),
            Refusal::Missing
        );
        assert!(closed.check("/metrics", false, None).unwrap().is_none());
    }

    #[test]
    fn a_new_token_is_long_random_and_hashes_to_what_it_prints() {
        let (a, hash) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("tmd_") && a.len() == 47, "{a}");
        assert_eq!(hash, sha256_hex(a.as_bytes()));
        assert!(parse_sha256(&hash).is_some());
    }

    #[test]
    fn no_tokens_means_no_gate() {
        assert!(Gate::new(&AuthConfig::default(), &[]).is_none());
    }
}
