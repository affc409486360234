//! TLS for the HTTP listeners: a rustls server config from PEM files (a certificate chain
//! and its private key). Loaded once when the config is checked, so a missing or bad file
//! is a config error naming its key, and again when the listener binds.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// The server side of TLS 1.2 and 1.3 with `cert` (PEM chain, leaf first) and `key` (PEM
/// private key), speaking HTTP/1.1. The error names the file and what is wrong, never key
/// material.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| {
            format!(
                "cannot read a PEM certificate chain from {}: {e}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read a PEM private key from {}: {e}", key.display()))?;
    // ring's classic key exchanges (X25519, P-256): the provider builds with the C compiler
    // alone. Its post-quantum hybrid needs aws-lc-rs.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
