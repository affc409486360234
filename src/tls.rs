//! TLS from PEM files: the HTTP listeners' rustls server config (a certificate chain and
//! its private key), and the certificates the Redis link (`redis.tls`) trusts and shows.
//! Loaded once when the config is checked, so a missing or bad file is a config error
//! naming its key, and again when the listener binds or the pool is built.

use std::path::Path;
use std::sync::Arc;

use deadpool_redis::redis::{ClientTlsConfig, TlsCertificates};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// What the Redis link trusts (a CA bundle, or the system's roots) and shows (a client
/// certificate), as redis-rs takes them.
pub type RedisCertificates = TlsCertificates;

/// ring's classic key exchanges (X25519, P-256): the provider builds with the C compiler
/// alone. Its post-quantum hybrid needs aws-lc-rs.
fn provider() -> rustls::crypto::CryptoProvider {
    #[allow(deprecated)]
    rustls::crypto::ring::default_provider()
}

/// Makes ring the process's rustls provider, which redis-rs builds its client config with.
/// Idempotent: a second call finds it installed.
pub fn install_provider() {
    let _ = provider().install_default();
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("cannot read PEM certificates from {}: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(chain)
}

/// The PEM bundle of certificate authorities in `path`, checked to be usable as roots.
pub fn read_ca(path: &Path) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_chain(path)? {
        roots.add(cert).map_err(|e| {
            format!(
                "{} holds a certificate that cannot be a root: {e}",
                path.display()
            )
        })?;
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A client certificate chain and its key, checked to go together. The error never holds
/// key material.
pub fn read_client(cert: &Path, key: &Path) -> Result<ClientTlsConfig, String> {
    let chain = read_chain(cert)?;
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read a PEM private key from {}: {e}", key.display()))?;
    rustls::sign::CertifiedKey::from_der(chain, private, &provider())
        .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    Ok(ClientTlsConfig {
        client_cert: read(cert)?,
        client_key: read(key)?,
    })
}

/// The server side of TLS 1.2 and 1.3 with `cert` (PEM chain, leaf first) and `key` (PEM
/// private key), speaking HTTP/1.1. The error names the file and what is wrong, never key
/// material.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = read_chain(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read a PEM private key from {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
