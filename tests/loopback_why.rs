//! Readiness and the causes of state changes over loopback: `ready()`,
//! the state stream that starts with the current state, and the cause and
//! retry delay every state change carries.

mod loopback;

use std::time::Duration;

use futures_util::StreamExt;
use loopback::*;
use relay_link::cause::Phase;
use relay_link::config::Config;
use relay_link::shell::{NotReady, StateChange};
use relay_link::{Cause, IoFailure, LinkState as S};

/// The first state event (`Event::State`) in `state` from now on.
async fn state_event(watch: &mut Watch, state: S) -> StateChange {
    let seen = watch.changes.len();
    watch.until_state(state).await;
    watch.changes[seen..]
        .iter()
        .find(|change| change.state == state)
        .cloned()
        .expect("the watch keeps every state event")
}

/// An address on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// A configuration for `url` with fast retries and no secret.
fn config_for(url: &str) -> relay_link::config::ConfigBuilder {
    Config::builder(url)
        .identity("discord", "b1")
        .backoff_base(Duration::from_millis(200))
        .backoff_max(Duration::from_millis(400))
        .connect_timeout(Duration::from_secs(2))
}

#[test]
fn ready_resolves_once_the_link_is_handshaken_and_at_once_after() {
    run(async {
        let connector = connector().await;
        let (link, _watch) = spawn(fast_config(&connector));
        deadline(WAIT, "ready", link.ready())
            .await
            .expect("the link handshakes");
        assert_eq!(link.state(), S::Handshaken);
        assert_eq!(link.cause(), None);
        deadline(WAIT, "ready again", link.ready())
            .await
            .expect("a handshaken link is ready at once");
    });
}

#[test]
fn ready_on_a_link_that_ends_disabled_says_disabled_with_the_revocation() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        connector.revoke(GW);
        // The first 4401 is provisional: the link re-dials at once with a
        // fresh token, which the connector refuses too.
        watch.until_state(S::Connecting).await;
        let error = deadline(WAIT, "ready", link.ready())
            .await
            .expect_err("the link ends disabled");
        let NotReady::Disabled {
            cause: Some(Cause::Revoked { code: 4401, .. }),
        } = &error
        else {
            panic!("disabled by the revocation: {error:?}");
        };
        assert!(
            error
                .to_string()
                .starts_with("the relay link is disabled: credential revoked (4401 "),
            "{error}"
        );
        watch.until_state(S::Disabled).await;
        let disabled = watch.changes.last().expect("the disabled state");
        assert!(matches!(disabled.cause, Some(Cause::Revoked { .. })));
        assert_eq!(
            deadline(WAIT, "ready after the end", link.ready()).await,
            Err(error)
        );
    });
}

#[test]
fn ready_waits_while_the_link_cannot_handshake_and_fails_once_it_is_closed() {
    run(async {
        let connector = connector().await;
        connector.withhold_descriptor(GW, true);
        let (link, mut watch) = spawn(fast_config(&connector));
        let ready = smol::spawn({
            let link = link.clone();
            async move { link.ready().await }
        });
        watch.until_state(S::Connecting).await;
        sleep(QUIET).await;
        assert!(!ready.is_finished(), "not handshaken yet: ready waits");
        link.disconnect(Duration::from_secs(2)).await;
        let error = deadline(WAIT, "ready", ready)
            .await
            .expect_err("closed first");
        assert_eq!(
            error,
            NotReady::Closed {
                cause: Some(Cause::Disconnected)
            }
        );
        assert_eq!(
            error.to_string(),
            "the relay link is closed: disconnected on request"
        );
    });
}

#[test]
fn the_state_stream_starts_with_the_current_state() {
    run(async {
        let Online {
            connector: _connector,
            link,
            ..
        } = online(|c| c).await;
        let mut changes = link.state_changes();
        let first = deadline(WAIT, "the first change", changes.next())
            .await
            .expect("the current state");
        assert_eq!((first.state, first.cause), (S::Handshaken, None));

        link.disconnect(Duration::from_secs(2)).await;
        let mut last = None;
        while let Some(change) = deadline(WAIT, "the stream's end", changes.next()).await {
            last = Some(change);
        }
        let last = last.expect("the closed state");
        assert_eq!(
            (last.state, last.cause),
            (S::Closed, Some(Cause::Disconnected))
        );

        // Subscribing to an ended link gives its final state, then ends.
        let mut late = link.state_changes();
        let only = deadline(WAIT, "the final state", late.next())
            .await
            .expect("the final state");
        assert_eq!(only.state, S::Closed);
        assert_eq!(deadline(WAIT, "the end", late.next()).await, None);
    });
}

#[test]
fn a_refused_dial_says_connection_refused_and_when_it_retries() {
    run(async {
        let port = closed_port();
        let (link, mut watch) = spawn(config_for(&format!("ws://127.0.0.1:{port}")));
        let change = state_event(&mut watch, S::Retrying).await;
        let Some(cause @ Cause::DialFailed { error, address, .. }) = &change.cause else {
            panic!("a dial failure: {change:?}");
        };
        assert_eq!(*error, IoFailure::Refused);
        assert_eq!(address, &format!("127.0.0.1:{port}"));
        assert_eq!(
            cause.to_string(),
            format!("connection refused (127.0.0.1:{port})")
        );
        let delay = change.retry_in.expect("a retry delay while retrying");
        assert!(delay <= Duration::from_millis(400), "{delay:?}");
        assert_eq!(link.cause().as_ref(), Some(cause));
        link.disconnect(Duration::from_secs(1)).await;
    });
}

#[test]
fn a_rejected_upgrade_says_its_http_status() {
    run(async {
        let connector = connector().await;
        connector.reject_http(GW, 1, 503);
        let (link, mut watch) = spawn(fast_config(&connector));
        let change = state_event(&mut watch, S::Retrying).await;
        assert!(
            matches!(change.cause, Some(Cause::Rejected { status: 503, .. })),
            "{change:?}"
        );
        watch.until_state(S::Handshaken).await;
        assert_eq!(link.cause(), None);
    });
}

#[cfg(feature = "tls")]
#[test]
fn a_tls_failure_says_tls_with_its_message() {
    run(async {
        // A plain WebSocket server answers a TLS client hello with nonsense.
        let connector = connector().await;
        let url = connector.url().replacen("ws://", "wss://", 1);
        let (link, mut watch) = spawn(config_for(&url));
        let change = state_event(&mut watch, S::Retrying).await;
        let Some(Cause::DialFailed {
            error: IoFailure::Tls,
            message,
            ..
        }) = &change.cause
        else {
            panic!("a TLS failure: {change:?}");
        };
        assert!(message.starts_with("tls: "), "{message}");
        link.disconnect(Duration::from_secs(1)).await;
    });
}

#[test]
fn a_close_from_the_connector_carries_its_code_and_reason() {
    run(async {
        let Online {
            connector,
            mut watch,
            ..
        } = online(|c| c).await;
        connector.close_with(GW, 1011, "overloaded");
        let change = state_event(&mut watch, S::Retrying).await;
        assert_eq!(
            change.cause,
            Some(Cause::Closed {
                code: 1011,
                reason: "overloaded".into()
            })
        );
        assert!(change.retry_in.is_some());
    });
}

#[test]
fn a_missing_descriptor_is_a_handshake_timeout() {
    run(async {
        let connector = connector().await;
        connector.withhold_descriptor(GW, true);
        let (_link, mut watch) = spawn(fast_config(&connector));
        let change = state_event(&mut watch, S::Retrying).await;
        assert_eq!(
            change.cause,
            Some(Cause::TimedOut {
                phase: Phase::Handshake,
                after_ms: 600
            })
        );
    });
}

#[test]
fn every_state_event_carries_what_the_state_stream_carries() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        let mut changes = link.state_changes();
        // The subscription is in place once its first item (the current
        // state) has come: only then may the link change, or the stream
        // would miss what happened before the driver took the request.
        let first = deadline(WAIT, "the current state", changes.next()).await;
        let mut from_stream = vec![first.expect("the current state")];
        let seen = watch.changes.len();
        connector.close_with(GW, 1012, "restart");
        watch.until_state(S::Handshaken).await;
        let from_events = watch.changes[seen..].to_vec();
        for _ in 0..from_events.len() {
            let change = deadline(WAIT, "a change", changes.next()).await;
            from_stream.push(change.expect("a change"));
        }
        assert_eq!(
            from_stream[0].state,
            S::Handshaken,
            "the current state first"
        );
        assert_eq!(from_stream[1..], from_events[..]);
        let retrying = &from_events[0];
        assert_eq!(retrying.state, S::Retrying);
        assert!(matches!(
            retrying.cause,
            Some(Cause::Closed { code: 1012, .. })
        ));
    });
}

#[test]
fn the_handle_s_cause_follows_a_re_dial_that_changes_no_state() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        connector.drop_connections(GW);
        watch.until_state(S::Retrying).await;
        // The next upgrade is closed with a first 4401: the link re-dials at
        // once with a fresh token and stays `connecting` (no state change);
        // that connection gets no descriptor.
        connector.refuse_next(GW, 1, 4401, "unauthorized");
        connector.withhold_descriptor(GW, true);
        let first_strike = Cause::Closed {
            code: 4401,
            reason: "unauthorized".into(),
        };
        deadline(WAIT, "the first strike as the handle's cause", async {
            while link.cause().as_ref() != Some(&first_strike) {
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    });
}
