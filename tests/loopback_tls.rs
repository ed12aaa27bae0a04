//! `wss://` over loopback: the connector serves TLS with a self-signed
//! certificate for `localhost`; the link trusts it only through its
//! `Options::tls` (an extra DER root, a PEM file, or a ready
//! `ClientConfig`). The operating system's roots are tested in
//! `tls_native_roots.rs` (it sets `SSL_CERT_FILE`).
#![cfg(feature = "tls")]

mod loopback;

use std::sync::Arc;
use std::time::Duration;

use loopback::tls::*;
use loopback::*;
use relay_link::config::Config;
use relay_link::shell::tls::rustls::pki_types::CertificateDer;
use relay_link::shell::tls::{rustls, TlsOptions};
use relay_link::shell::{Event, RelayLink, SpawnError};
use relay_link::testing::DialOutcome;
use relay_link::{LinkState as S, PlatformState as P};
use serde_json::json;

#[test]
fn a_wss_handshake_works_when_the_self_signed_root_is_trusted() {
    run(async {
        let (connector, cert) = tls_connector().await;
        let (link, mut watch) = spawn_with(
            fast_config(&connector),
            with_tls(TlsOptions::default().with_extra_root(cert)),
        );
        watch.until_state(S::Handshaken).await;
        assert_eq!(
            watch.states,
            [
                (S::Connecting, P::Connecting),
                (S::Handshaken, P::Connected)
            ]
        );
        send_secure(&link).await;
        connector.push_inbound(GW, json!({"text": "over tls"}));
        match watch.expect("an inbound", is_inbound).await {
            Event::Inbound { frame, .. } => {
                assert_eq!(
                    frame.event().expect("a well-typed event").text.as_deref(),
                    Some("over tls")
                );
            }
            _ => unreachable!(),
        }
        let seen = connector.seen();
        assert_eq!(seen.dials.len(), 1);
        assert!(seen.dials[0].authorized);
        disconnect_and_end(&link, &mut watch).await;
        wait_seen(&connector, "the 1000 close over TLS", |s| {
            s.closes.iter().any(|c| c.code == Some(1000))
        })
        .await;
    });
}

#[test]
fn without_the_extra_root_the_wss_dial_fails_and_keeps_retrying() {
    run(async {
        let (connector, _cert) = tls_connector().await;
        let (link, mut watch) = spawn(fast_config(&connector));
        wait_seen(&connector, "three failed TLS dials", |s| s.dials.len() >= 3).await;
        let seen = connector.seen();
        assert!(
            seen.dials.iter().all(|d| d.outcome == DialOutcome::Failed),
            "{:?}",
            summary(&seen)
        );
        assert!(seen.connections.is_empty(), "no upgrade ever happened");
        watch.collect_for(Duration::from_millis(100)).await;
        assert!(
            watch.fatals.is_empty(),
            "an untrusted certificate is retryable"
        );
        assert!(watch.entered(S::Retrying) >= 2, "{:?}", watch.states);
        assert_eq!(watch.entered(S::Handshaken), 0);
        assert!(!link.state().is_terminal());
        assert_eq!(link.platform_state(), Some(P::Retrying));
        let result = deadline(WAIT, "a send", link.send(action("send", json!({})), None)).await;
        assert_eq!(result, Err(relay_link::RequestError::NotConnected));
    });
}

/// Spawns a link to `url` with `tls`; the error, or `None` when it spawned
/// (the link is then disconnected at once).
fn spawn_error(url: &str, tls: TlsOptions) -> Option<SpawnError> {
    let config = Config::builder(url)
        .gateway_id(GW)
        .secret(SECRET)
        .build()
        .unwrap();
    match RelayLink::spawn(config, with_tls(tls)) {
        Ok((link, _events)) => {
            smol::block_on(link.disconnect(Duration::from_millis(100)));
            None
        }
        Err(error) => Some(error),
    }
}

#[test]
fn an_invalid_extra_root_is_refused_at_spawn() {
    let tls = TlsOptions::default().with_extra_root(CertificateDer::from(vec![1u8, 2, 3]));
    match spawn_error("wss://localhost:9", tls) {
        Some(SpawnError::Tls(message)) => {
            assert!(message.contains("extra root"), "{message}");
        }
        other => panic!("expected a TLS spawn error, got {other:?}"),
    }
}

#[test]
fn a_wss_handshake_works_when_the_root_comes_from_a_pem_file() {
    run(async {
        let (connector, cert) = tls_connector().await;
        let other = rcgen::generate_simple_self_signed(vec!["elsewhere".to_owned()])
            .expect("a second certificate");
        // The file holds an unrelated certificate first and a key block
        // (skipped); the connector's certificate is the second block.
        let pem = format!(
            "{}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n{}",
            pem_of(other.cert.der()),
            pem_of(&cert)
        );
        let path = temp_file("roots.pem", &pem);
        handshake_and_send(
            &connector,
            with_tls(TlsOptions::default().with_extra_root_file(&path)),
        )
        .await;
        let _ = std::fs::remove_file(path);
    });
}

#[test]
fn a_wss_handshake_works_with_a_ready_client_config() {
    run(async {
        let (connector, cert) = tls_connector().await;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).expect("the self-signed root is valid");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        handshake_and_send(
            &connector,
            with_tls(TlsOptions::default().with_client_config(Arc::new(config))),
        )
        .await;
    });
}

#[test]
fn a_bad_root_file_is_refused_at_spawn_naming_the_option_and_the_path() {
    let missing = temp_path("missing.pem");
    let empty = temp_file("empty.pem", "no PEM block in here\n");
    let broken = temp_file(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
    );
    let not_a_cert = temp_file(
        "not-a-cert.pem",
        &pem_of(&CertificateDer::from(vec![1u8, 2, 3])),
    );
    let cases = [
        (&missing, "I/O error"),
        (&empty, "no PEM CERTIFICATE block"),
        (&broken, "base64"),
        (&not_a_cert, "not a valid root"),
    ];
    for (path, problem) in cases {
        // wss:// needs the roots; ws:// checks the files all the same.
        for url in ["wss://localhost:9", "ws://127.0.0.1:9"] {
            let tls = TlsOptions::default().with_extra_root_file(path);
            let error = spawn_error(url, tls)
                .unwrap_or_else(|| panic!("{} was accepted for {url}", path.display()));
            let shown = error.to_string();
            assert!(
                matches!(&error, SpawnError::RootFile { option: "tls.extra_root_files", path: p, .. } if p == path),
                "{error:?}"
            );
            assert!(shown.starts_with("tls.extra_root_files: "), "{shown}");
            assert!(shown.contains(&path.display().to_string()), "{shown}");
            assert!(shown.contains(problem), "{url}: {shown}");
        }
    }
    for path in [empty, broken, not_a_cert] {
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn a_client_config_with_other_roots_is_refused_at_spawn() {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let tls = TlsOptions::default()
        .with_client_config(Arc::new(config))
        .with_extra_root(CertificateDer::from(vec![1u8, 2, 3]));
    match spawn_error("wss://localhost:9", tls) {
        Some(SpawnError::Option { field, .. }) => assert_eq!(field, "tls.client_config"),
        other => panic!("expected an option error, got {other:?}"),
    }
}
