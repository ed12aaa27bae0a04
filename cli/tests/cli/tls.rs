//! `connect --ca-file` and `--tls-roots` (contract §8): the trusted roots
//! of `wss://` dials, against the in-process connector serving TLS with a
//! fresh self-signed `localhost` certificate.

use std::path::PathBuf;
use std::sync::Arc;

use relay_link::shell::tls::rustls;
use relay_link::shell::tls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::Secret;

use crate::harness::*;

/// A connector serving `wss://localhost:PORT` with a self-signed
/// certificate, and a PEM file holding that certificate.
fn tls_connector(name: &str) -> (Connector, PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let pem = tmp(&format!("{name}-ca"));
    std::fs::write(&pem, certified.cert.pem()).expect("the PEM file is written");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("the certificate and key match");
    let options = ConnectorOptions {
        tls: Some(Arc::new(server)),
        ..ConnectorOptions::default()
    };
    let connector =
        smol::block_on(Connector::start(options)).expect("the connector binds 127.0.0.1");
    connector.add_gateway(GW, Secret::new(SECRET));
    assert!(
        connector.url().starts_with("wss://localhost:"),
        "{}",
        connector.url()
    );
    (connector, pem)
}

/// `connect --json` against `connector` with `tls` flags and these extra
/// environment variables.
fn connect_tls(connector: &Connector, tls: &[&str], env: &[(&str, &str)]) -> Proc {
    let url = connector.url();
    let mut args = vec!["connect", "--json", "--url", &url, "--gateway-id", GW];
    args.extend_from_slice(FAST);
    args.extend_from_slice(tls);
    let mut env = env.to_vec();
    env.push(("RELAY_LINK_SECRET", SECRET));
    Proc::spawn_with_env(&args, &env)
}

#[test]
fn a_ca_file_makes_a_private_connector_trusted() {
    let (connector, pem) = tls_connector("trusted");
    let pem = pem.to_string_lossy().into_owned();
    let mut proc = connect_tls(&connector, &["--ca-file", &pem], &[]);
    proc.wait_state("handshaken");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
}

#[test]
fn without_a_ca_file_the_private_connector_is_a_tls_error() {
    let (connector, _pem) = tls_connector("untrusted");
    let mut proc = connect_tls(&connector, &[], &[]);
    let retrying = proc.wait_state("retrying");
    assert_eq!(retrying["reason"]["kind"], "dial_failed", "{retrying}");
    assert_eq!(retrying["reason"]["error"], "tls", "{retrying}");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
    let seen = connector.seen();
    assert_eq!(seen.frames_of("hello").count(), 0, "no hello got through");
}

#[test]
fn tls_roots_native_trusts_the_operating_system_s_store_and_webpki_does_not() {
    // rustls-native-certs reads the system store from SSL_CERT_FILE when
    // it is set: here, a store holding only the connector's certificate.
    let (connector, pem) = tls_connector("native");
    let pem = pem.to_string_lossy().into_owned();
    let store = [("SSL_CERT_FILE", pem.as_str())];

    let mut native = connect_tls(&connector, &["--tls-roots", "native"], &store);
    native.wait_state("handshaken");
    native.sigterm();
    assert_eq!(
        native.wait_exit(WAIT).code(),
        Some(0),
        "{}",
        native.stderr()
    );

    let mut both = connect_tls(&connector, &["--tls-roots", "both"], &store);
    both.wait_state("handshaken");
    both.sigterm();
    assert_eq!(both.wait_exit(WAIT).code(), Some(0), "{}", both.stderr());

    let mut webpki = connect_tls(&connector, &["--tls-roots", "webpki"], &store);
    let retrying = webpki.wait_state("retrying");
    assert_eq!(retrying["reason"]["error"], "tls", "{retrying}");
    webpki.sigterm();
    assert_eq!(
        webpki.wait_exit(WAIT).code(),
        Some(0),
        "{}",
        webpki.stderr()
    );
}

#[test]
fn a_bad_ca_file_is_refused_before_dialing_naming_the_flag_and_the_path() {
    let (connector, _pem) = tls_connector("bad");
    let missing = tmp("no-such-ca");
    let missing = missing.to_string_lossy().into_owned();
    let not_pem = tmp("not-pem");
    std::fs::write(&not_pem, "not a certificate\n").expect("written");
    let not_pem = not_pem.to_string_lossy().into_owned();
    for path in [&missing, &not_pem] {
        let mut proc = connect_tls(&connector, &["--ca-file", path], &[]);
        let status = proc.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{path}: {}", proc.stderr());
        let stderr = proc.stderr();
        assert!(
            stderr.contains(&format!("--ca-file {path}")),
            "the flag and the path: {stderr}"
        );
        assert!(!stderr.contains("tls.extra_root_files"), "{stderr}");
        assert!(proc.stdout.is_empty(), "nothing printed: {:?}", proc.stdout);
    }
    assert!(connector.seen().dials.is_empty(), "nothing was dialed");
}

#[test]
fn an_unknown_tls_roots_value_is_refused_with_the_choices() {
    let mut proc = Proc::spawn(
        &[
            "connect",
            "--url",
            "ws://127.0.0.1:9",
            "--tls-roots",
            "system",
        ],
        None,
        None,
    );
    assert_eq!(proc.wait_exit(WAIT).code(), Some(2));
    let stderr = proc.stderr();
    for choice in ["webpki", "native", "both"] {
        assert!(stderr.contains(choice), "{stderr}");
    }
}

#[test]
fn a_native_store_with_no_root_is_refused_before_dialing_naming_tls_roots() {
    let (connector, _pem) = tls_connector("empty-store");
    let nowhere = tmp("no-store");
    let nowhere = nowhere.to_string_lossy().into_owned();
    let store = [
        ("SSL_CERT_FILE", nowhere.as_str()),
        ("SSL_CERT_DIR", nowhere.as_str()),
    ];
    let mut proc = connect_tls(&connector, &["--tls-roots", "native"], &store);
    assert_eq!(proc.wait_exit(WAIT).code(), Some(2), "{}", proc.stderr());
    let stderr = proc.stderr();
    assert!(stderr.contains("--tls-roots native: "), "{stderr}");
    assert!(connector.seen().dials.is_empty(), "nothing was dialed");
}
