//! The TLS part of the loopback kit: a connector serving `wss://` with a
//! fresh self-signed `localhost` certificate, PEM files of certificates,
//! and a handshake-send-disconnect round over TLS.

use std::path::PathBuf;
use std::sync::Arc;

use relay_link::shell::tls::rustls;
use relay_link::shell::tls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use relay_link::shell::tls::TlsOptions;
use relay_link::shell::{Options, RelayLink};
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::LinkState;
use serde_json::json;

use super::*;

/// A TLS connector with a fresh self-signed `localhost` certificate, and
/// that certificate.
pub async fn tls_connector() -> (Connector, CertificateDer<'static>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let connector = connector_with(ConnectorOptions {
        tls: Some(Arc::new(server)),
        ..ConnectorOptions::default()
    })
    .await;
    assert!(connector.url().starts_with("wss://localhost:"));
    (connector, cert)
}

/// Options with a fixed seed and these TLS options.
pub fn with_tls(tls: TlsOptions) -> Options {
    let mut options = Options {
        seed: Some(7),
        ..Options::default()
    };
    options.tls = tls;
    options
}

/// A fresh path under the target's temporary directory.
pub fn temp_path(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("loopback-tls-{name}-{}", std::process::id()))
}

/// Writes `contents` to a fresh temporary file and returns its path.
pub fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = temp_path(name);
    std::fs::write(&path, contents).expect("the temporary file is written");
    path
}

/// `cert` as a PEM `CERTIFICATE` block.
pub fn pem_of(cert: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Sends one request over the (TLS) link and checks the connector's echo.
pub async fn send_secure(link: &RelayLink) {
    let result = deadline(
        WAIT,
        "a send over TLS",
        link.send(action("send", json!({"text": "secure"})), Some("discord")),
    )
    .await;
    assert_eq!(
        result.expect("the connector's result")["echo"]["text"],
        "secure"
    );
}

/// Handshakes over TLS, sends one request, then disconnects.
pub async fn handshake_and_send(connector: &Connector, options: Options) {
    let (link, mut watch) = spawn_with(fast_config(connector), options);
    watch.until_state(LinkState::Handshaken).await;
    send_secure(&link).await;
    disconnect_and_end(&link, &mut watch).await;
}
