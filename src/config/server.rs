//! `generator_server` and `metric_server`: one HTTP listener each, and when two listeners
//! cannot both bind.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// One HTTP listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to bind, an IP address (`127.0.0.1`, `0.0.0.0`, `::1`).
    pub host: String,
    /// TCP port; 0 picks a free port (for tests).
    pub port: u16,
    /// Worker threads for this listener; defaults to the number of CPU cores.
    #[serde(default)]
    pub workers: Option<usize>,
    /// PEM certificate chain; with `tls_key` the listener speaks HTTPS only.
    #[serde(default)]
    pub tls_cert: Option<String>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<String>,
}

impl ServerConfig {
    /// A listener on 127.0.0.1:`port`.
    pub(super) fn with_port(port: u16) -> ServerConfig {
        ServerConfig {
            host: "127.0.0.1".into(),
            port,
            workers: None,
            tls_cert: None,
            tls_key: None,
        }
    }

    /// The TLS files, when both are set.
    pub fn tls(&self) -> Option<(&str, &str)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }

    /// The socket address to bind.
    pub fn addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        Ok(SocketAddr::new(self.host.parse()?, self.port))
    }

    /// This listener's own checks; `section` is its key (`metric_server`).
    pub(super) fn validate(&self, section: &str, problems: &mut Vec<Problem>) {
        if self.host.parse::<IpAddr>().is_err() {
            problems.push(Problem::new(
                format!("{section}.host"),
                format!(
                    "must be an IP address such as 127.0.0.1, got {:?}",
                    self.host
                ),
            ));
        }
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                if let Err(why) = crate::tls::server_config(cert.as_ref(), key.as_ref()) {
                    problems.push(Problem::new(format!("{section}.tls_cert"), why));
                }
            }
            (Some(_), None) => problems.push(Problem::new(
                format!("{section}.tls_key"),
                "must be set with tls_cert",
            )),
            (None, Some(_)) => problems.push(Problem::new(
                format!("{section}.tls_cert"),
                "must be set with tls_key",
            )),
        }
        if self.workers == Some(0) {
            problems.push(Problem::new(
                format!("{section}.workers"),
                "must be at least 1, got 0",
            ));
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::with_port(0)
    }
}

/// Whether listeners on `a` and `b` cannot both bind: the same port (0 picks a free one,
/// so never), and the same address or one that covers the other. `0.0.0.0` covers every
/// IPv4 address; `::` covers every address, IPv4 too, because Linux binds it dual-stack
/// (`net.ipv6.bindv6only` is 0 unless changed). IPv4-mapped addresses (`::ffff:127.0.0.1`)
/// are their IPv4 address. Each case was checked against the daemon's own bind.
pub(super) fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() == 0 || a.port() != b.port() {
        return false;
    }
    let (a, b) = (a.ip().to_canonical(), b.ip().to_canonical());
    let any_v4 = |ip: IpAddr| ip == IpAddr::from([0, 0, 0, 0]);
    a == b
        || [a, b].iter().any(|ip| ip.is_ipv6() && ip.is_unspecified())
        || (any_v4(a) && b.is_ipv4())
        || (any_v4(b) && a.is_ipv4())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn listeners_overlap_on_the_same_port_when_an_address_covers_the_other() {
        for (a, b) in [
            ("127.0.0.1:9000", "127.0.0.1:9000"),
            ("0.0.0.0:9000", "127.0.0.1:9000"),
            ("0.0.0.0:9000", "0.0.0.0:9000"),
            ("[::]:9000", "127.0.0.1:9000"),
            ("[::]:9000", "[::1]:9000"),
            ("[::]:9000", "0.0.0.0:9000"),
            ("[::ffff:127.0.0.1]:9000", "127.0.0.1:9000"),
        ] {
            assert!(overlap(addr(a), addr(b)), "{a} {b}");
            assert!(overlap(addr(b), addr(a)), "{b} {a}");
        }
    }

    #[test]
    fn listeners_on_other_ports_addresses_families_or_port_0_do_not_overlap() {
        for (a, b) in [
            ("127.0.0.1:9000", "127.0.0.1:9001"),
            ("127.0.0.1:9000", "127.0.0.2:9000"),
            ("0.0.0.0:9000", "[::1]:9000"),
            ("127.0.0.1:9000", "[::1]:9000"),
            ("127.0.0.1:0", "127.0.0.1:0"),
            ("0.0.0.0:0", "[::]:0"),
        ] {
            assert!(!overlap(addr(a), addr(b)), "{a} {b}");
            assert!(!overlap(addr(b), addr(a)), "{b} {a}");
        }
    }

    #[test]
    fn a_listener_needs_an_ip_address_and_at_least_one_worker() {
        let mut problems = Vec::new();
        ServerConfig {
            host: "not-an-ip".into(),
            port: 1,
            workers: Some(0),
            tls_cert: Some("/nonexistent/cert.pem".into()),
            tls_key: None,
        }
        .validate("metric_server", &mut problems);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "metric_server.host",
                "metric_server.tls_key",
                "metric_server.workers"
            ]
        );
    }
}
