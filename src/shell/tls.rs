//! TLS for `wss://` (feature `tls`): which roots a link trusts, extra roots
//! in DER or from PEM files, or a ready [`rustls::ClientConfig`].
//!
//! The TLS stack is [`rustls`] with its `ring` crypto provider; the crate
//! is re-exported here ([`rustls`], and the certificate types under
//! [`rustls::pki_types`]) so an application names exactly the version the
//! link uses. Every setting lives in [`TlsOptions`]
//! ([`Options::tls`](super::Options::tls)); it is read when the link is
//! created, so a missing or bad root file is refused before anything
//! dials, with an error naming the option and the path
//! ([`SpawnError::RootFile`]).
//!
//! ```no_run
//! use relay_link::config::Config;
//! use relay_link::shell::tls::{TlsOptions, TlsRoots};
//! use relay_link::shell::{Options, RelayLink};
//!
//! let config = Config::builder("https://connector.internal").build()?;
//! let mut options = Options::default();
//! // The bundled roots, plus the company CA from a PEM file.
//! options.tls = TlsOptions::default()
//!     .with_roots(TlsRoots::WebPki)
//!     .with_extra_root_file("/etc/company/ca.pem");
//! let (link, events) = RelayLink::spawn(config, options)?;
//! # drop((link, events));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! No HTTP(S) proxy is supported: the link dials the connector's host
//! directly, and `HTTPS_PROXY` / `NO_PROXY` are not read.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_rustls::TlsConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::SpawnError;

pub use rustls;

/// The trusted roots a `wss://` dial starts from (before
/// [`TlsOptions::extra_roots`] and [`TlsOptions::extra_root_files`]).
///
/// The default is [`WebPki`](TlsRoots::WebPki): the same Mozilla roots on
/// every machine, built into the binary, so a link behaves the same in a
/// minimal container with no CA bundle as on a desktop, and nothing is
/// read from the system at start-up. Choose [`Native`](TlsRoots::Native)
/// or [`Both`](TlsRoots::Both) (feature `native-roots`) where the
/// operating system's store matters: a private CA installed system-wide,
/// or a TLS-inspecting network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsRoots {
    /// The Mozilla roots bundled by `webpki-roots`.
    #[default]
    WebPki,
    /// The operating system's trusted roots, loaded once when the link is
    /// created (through `rustls-native-certs`, which honours
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR`). Creating the link fails when
    /// none can be loaded.
    #[cfg(feature = "native-roots")]
    #[cfg_attr(docsrs, doc(cfg(feature = "native-roots")))]
    Native,
    /// The bundled roots and the operating system's. When the system's
    /// cannot be loaded the link goes on with the bundled ones and logs a
    /// warning.
    #[cfg(feature = "native-roots")]
    #[cfg_attr(docsrs, doc(cfg(feature = "native-roots")))]
    Both,
}

/// How a link's `wss://` dials authenticate the connector
/// ([`Options::tls`](super::Options::tls)).
///
/// Built from [`Default`] with the `with_` methods (the struct may grow,
/// so it cannot be written as a literal outside this crate). Without a
/// [`client_config`](TlsOptions::client_config), the link builds one with
/// the `ring` provider, the safe default protocol versions, the chosen
/// [`roots`](TlsOptions::roots) and the extra roots, and no client
/// certificate. A `ws://` URL uses none of it, but the root files are
/// still checked when the link is created.
///
/// ```
/// use relay_link::shell::tls::{rustls, TlsOptions, TlsRoots};
///
/// let options = TlsOptions::default()
///     .with_extra_root_file("ca.pem")
///     .with_extra_root(rustls::pki_types::CertificateDer::from(vec![0x30, 0x00]));
/// assert_eq!(options.roots, TlsRoots::WebPki);
/// assert_eq!(options.extra_roots.len(), 1);
/// assert_eq!(
///     format!("{options:?}"),
///     r#"TlsOptions { roots: WebPki, extra_roots: 1, extra_root_files: ["ca.pem"], client_config: false }"#
/// );
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// The roots to start from (default [`TlsRoots::WebPki`]).
    pub roots: TlsRoots,
    /// Extra trusted root certificates, in DER.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// PEM files of extra trusted root certificates (every `CERTIFICATE`
    /// block of each file; other blocks are skipped). A file that cannot
    /// be read, holds no certificate, or holds one that is not a valid
    /// root is refused when the link is created
    /// ([`SpawnError::RootFile`]).
    pub extra_root_files: Vec<PathBuf>,
    /// The escape hatch: a ready rustls client configuration, used as is
    /// for every `wss://` dial. It replaces `roots`, `extra_roots` and
    /// `extra_root_files`, so setting any of those with it is refused
    /// when the link is created. Build it with the `ring` provider
    /// (`ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))`)
    /// and without ALPN protocols.
    pub client_config: Option<Arc<ClientConfig>>,
}

/// Shows the roots, how many extra roots there are, the files, and
/// whether a client configuration is set (never its contents: it may hold
/// a client certificate's key).
impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("roots", &self.roots)
            .field("extra_roots", &self.extra_roots.len())
            .field("extra_root_files", &self.extra_root_files)
            .field("client_config", &self.client_config.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// Starts from `roots`.
    #[must_use]
    pub fn with_roots(mut self, roots: TlsRoots) -> Self {
        self.roots = roots;
        self
    }

    /// Also trusts `root` (DER).
    #[must_use]
    pub fn with_extra_root(mut self, root: CertificateDer<'static>) -> Self {
        self.extra_roots.push(root);
        self
    }

    /// Also trusts the root certificates of the PEM file at `path`.
    #[must_use]
    pub fn with_extra_root_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_root_files.push(path.into());
        self
    }

    /// Uses `config` for every `wss://` dial instead of building one.
    #[must_use]
    pub fn with_client_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.client_config = Some(config);
        self
    }
}

/// The option named in errors about root files.
const ROOT_FILES: &str = "tls.extra_root_files";

/// Checks `options` for a link whose URL needs no TLS: only the root
/// files are read (so a bad one is refused whatever the scheme).
pub(crate) fn check(options: &TlsOptions) -> Result<(), SpawnError> {
    add_root_files(&mut RootCertStore::empty(), &options.extra_root_files)
}

/// Adds every certificate of the PEM files at `paths` to `roots`.
fn add_root_files(roots: &mut RootCertStore, paths: &[PathBuf]) -> Result<(), SpawnError> {
    for path in paths {
        for root in pem_roots(path)? {
            roots.add(root).map_err(|e| SpawnError::RootFile {
                option: ROOT_FILES,
                path: path.clone(),
                problem: format!("a certificate is not a valid root: {e}"),
            })?;
        }
    }
    Ok(())
}

/// Builds the TLS connector used by every `wss://` dial of a link.
pub(crate) fn connector(options: &TlsOptions) -> Result<TlsConnector, SpawnError> {
    if let Some(config) = &options.client_config {
        if options.roots != TlsRoots::default()
            || !options.extra_roots.is_empty()
            || !options.extra_root_files.is_empty()
        {
            return Err(SpawnError::Option {
                field: "tls.client_config",
                problem: "replaces roots, extra_roots and extra_root_files; \
                          put those roots in the ClientConfig instead",
            });
        }
        return Ok(TlsConnector::from(Arc::clone(config)));
    }
    let mut roots = base_roots(options.roots)?;
    for root in &options.extra_roots {
        roots
            .add(root.clone())
            .map_err(|e| SpawnError::Tls(format!("an extra root certificate is invalid: {e}")))?;
    }
    add_root_files(&mut roots, &options.extra_root_files)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SpawnError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Every certificate of the PEM file at `path`; at least one.
fn pem_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, SpawnError> {
    let refused = |problem: String| SpawnError::RootFile {
        option: ROOT_FILES,
        path: path.to_owned(),
        problem,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| refused(e.to_string()))?;
    if certs.is_empty() {
        return Err(refused("no PEM CERTIFICATE block".to_owned()));
    }
    Ok(certs)
}

/// The roots `choice` starts from.
fn base_roots(choice: TlsRoots) -> Result<RootCertStore, SpawnError> {
    let webpki = || RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    match choice {
        TlsRoots::WebPki => Ok(webpki()),
        #[cfg(feature = "native-roots")]
        TlsRoots::Native => {
            let mut roots = RootCertStore::empty();
            match native::add(&mut roots) {
                (0, why) => Err(SpawnError::Tls(format!(
                    "tls.roots: no root certificate could be loaded from the operating system{}",
                    why.map(|e| format!(" ({e})")).unwrap_or_default()
                ))),
                _ => Ok(roots),
            }
        }
        #[cfg(feature = "native-roots")]
        TlsRoots::Both => {
            let mut roots = webpki();
            if native::add(&mut roots).0 == 0 {
                tracing::warn!(
                    "tls.roots: no root certificate could be loaded from the operating system; \
                     using the bundled roots alone"
                );
            }
            Ok(roots)
        }
    }
}

#[cfg(feature = "native-roots")]
mod native {
    use rustls::RootCertStore;

    /// Adds the operating system's roots to `roots`; returns how many were
    /// added and the first loading error. Unreadable or invalid entries
    /// are skipped and logged.
    pub(super) fn add(roots: &mut RootCertStore) -> (usize, Option<String>) {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::warn!(%error, "tls.roots: an operating system root could not be loaded");
        }
        let first_error = loaded.errors.first().map(ToString::to_string);
        let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
        if ignored > 0 {
            tracing::warn!(
                ignored,
                "tls.roots: operating system roots that are not valid were skipped"
            );
        }
        (added, first_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_that_a_client_config_is_set_but_not_its_contents() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
        assert!(format!("{config:?}").contains("ClientConfig"));
        let options = TlsOptions::default().with_client_config(Arc::new(config));
        let shown = format!("{options:?}");
        assert!(shown.contains("client_config: true"), "{shown}");
        assert!(!shown.contains("ClientConfig"), "{shown}");
    }
}
