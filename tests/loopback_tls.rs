//! `wss://` over loopback: the connector serves TLS with a self-signed
//! certificate for `localhost`; the link trusts it only through
//! `Options::extra_roots`.
#![cfg(feature = "tls")]

mod loopback;

use std::sync::Arc;
use std::time::Duration;

use loopback::*;
use relay_link::shell::{Event, Options};
use relay_link::testing::{Connector, ConnectorOptions, DialOutcome};
use relay_link::{LinkState as S, PlatformState as P};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

/// A TLS connector with a fresh self-signed `localhost` certificate, and
/// that certificate.
async fn tls_connector() -> (Connector, CertificateDer<'static>) {
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

#[test]
fn a_wss_handshake_works_when_the_self_signed_root_is_trusted() {
    run(async {
        let (connector, cert) = tls_connector().await;
        let (link, mut watch) = spawn_with(
            fast_config(&connector),
            Options {
                seed: Some(7),
                extra_roots: vec![cert],
                ..Options::default()
            },
        );
        watch.until_state(S::Handshaken).await;
        assert_eq!(
            watch.states,
            [
                (S::Connecting, P::Connecting),
                (S::Handshaken, P::Connected)
            ]
        );
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
        deadline(
            WAIT,
            "the disconnect",
            link.disconnect(Duration::from_secs(1)),
        )
        .await;
        watch.until_end().await;
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

#[test]
fn an_invalid_extra_root_is_refused_at_spawn() {
    let config = relay_link::config::Config::builder("wss://localhost:9")
        .gateway_id(GW)
        .secret(SECRET)
        .build()
        .unwrap();
    let result = relay_link::shell::RelayLink::spawn(
        config,
        Options {
            extra_roots: vec![CertificateDer::from(vec![1u8, 2, 3])],
            ..Options::default()
        },
    );
    match result {
        Err(relay_link::shell::SpawnError::Tls(message)) => {
            assert!(message.contains("extra root"), "{message}");
        }
        other => panic!("expected a TLS spawn error, got {other:?}"),
    }
}
