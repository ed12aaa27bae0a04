//! The operating system's roots (`TlsRoots::Native`, `TlsRoots::Both`).
//!
//! rustls-native-certs reads `SSL_CERT_FILE` instead of the system store
//! when it is set, so this test points it at a PEM file holding the test
//! connector's self-signed certificate. Environment variables are
//! process-wide: this binary holds this one test and nothing else.
#![cfg(feature = "native-roots")]

mod loopback;

use loopback::tls::*;
use loopback::*;
use relay_link::config::Config;
use relay_link::shell::tls::{TlsOptions, TlsRoots};
use relay_link::shell::{RelayLink, SpawnError};

#[test]
fn native_roots_come_from_the_operating_system_s_store_and_an_empty_store_is_refused() {
    run(async {
        let (connector, cert) = tls_connector().await;
        let store = temp_file("native-store.pem", &pem_of(&cert));
        std::env::remove_var("SSL_CERT_DIR");
        std::env::set_var("SSL_CERT_FILE", &store);

        // Trusted through the "system" store alone, and next to the
        // bundled roots.
        for roots in [TlsRoots::Native, TlsRoots::Both] {
            handshake_and_send(
                &connector,
                with_tls(TlsOptions::default().with_roots(roots)),
            )
            .await;
        }

        // A store with no certificate: Native alone has nothing to trust.
        let empty = temp_file("native-empty.pem", "");
        std::env::set_var("SSL_CERT_FILE", &empty);
        let config = Config::builder(connector.url()).build().unwrap();
        let native = with_tls(TlsOptions::default().with_roots(TlsRoots::Native));
        match RelayLink::spawn(config, native) {
            Err(SpawnError::Tls(message)) => {
                assert!(message.starts_with("tls.roots: "), "{message}");
            }
            Err(other) => panic!("expected a TLS spawn error, got {other:?}"),
            Ok(_) => panic!("an empty native store was accepted"),
        }
        std::env::remove_var("SSL_CERT_FILE");
        let _ = std::fs::remove_file(store);
        let _ = std::fs::remove_file(empty);
    });
}
