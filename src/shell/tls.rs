//! TLS for `wss://`: rustls with the `ring` provider, the webpki roots and
//! any extra roots the embedder trusts.

use std::sync::Arc;

use futures_rustls::TlsConnector;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

use super::SpawnError;

/// Builds the TLS connector used by every `wss://` dial of a link.
pub(crate) fn connector(
    extra_roots: &[CertificateDer<'static>],
) -> Result<TlsConnector, SpawnError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra_roots {
        roots
            .add(root.clone())
            .map_err(|e| SpawnError::Tls(format!("an extra root certificate is invalid: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SpawnError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
