//! The link on tokio's reactor (`Runtime::Tokio`, feature `tokio`): the
//! handshake, a request, a buffered delivery, a revocation and a
//! disconnect, each inside a tokio runtime. The test connector itself runs
//! on smol, as it does for every loopback test.

mod loopback;

use std::future::Future;
use std::time::Duration;

use loopback::*;
use relay_link::config::Config;
use relay_link::shell::{Disconnected, Event, Options, RelayLink, Runtime};
use relay_link::testing::Delivery;
use relay_link::LinkState;
use serde_json::json;

/// Runs a test body inside a current-thread tokio runtime.
fn run_tokio(body: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(deadline(TEST_LIMIT, "the whole test", body));
}

fn tokio_options() -> Options {
    Options {
        seed: Some(7),
        runtime: Runtime::Tokio,
        ..Options::default()
    }
}

/// A link spawned on the current tokio runtime, handshaken.
async fn online_on_tokio() -> Online {
    let connector = connector().await;
    let (link, mut watch) = spawn_with(fast_config(&connector), tokio_options());
    watch.until_state(LinkState::Handshaken).await;
    Online {
        connector,
        link,
        watch,
    }
}

#[test]
fn on_tokio_the_link_handshakes_and_settles_a_request() {
    run_tokio(async {
        let online = online_on_tokio().await;
        let result = deadline(
            WAIT,
            "a result",
            online
                .link
                .send(action("send", json!({"text": "hi"})), None),
        )
        .await;
        let result = result.expect("the connector's result");
        assert_eq!(result["success"], true, "{result:?}");
        assert_eq!(result["echo"]["text"], "hi");
    });
}

#[test]
fn on_tokio_a_buffered_delivery_is_acked_after_acceptance() {
    run_tokio(async {
        let connector = connector().await;
        let Delivery::Buffered { buffer_id } =
            connector.push_inbound(GW, json!({"text": "while you were away"}))
        else {
            panic!("no connection yet: the push is buffered");
        };
        let (_link, mut watch) = spawn_with(fast_config(&connector), tokio_options());
        let Event::Inbound { frame, acceptance } = watch.expect("the delivery", is_inbound).await
        else {
            unreachable!("is_inbound")
        };
        assert_eq!(frame.buffer_id.as_deref(), Some(buffer_id.as_str()));
        assert!(
            connector.seen().acks.is_empty(),
            "not acked before acceptance"
        );
        acceptance.expect("buffered").accept();
        wait_seen(&connector, "the ack", |s| s.acks == [buffer_id.clone()]).await;
    });
}

#[test]
fn on_tokio_a_revoked_credential_disables_the_link_for_good() {
    run_tokio(async {
        let mut online = online_on_tokio().await;
        online.connector.revoke(GW);
        online.watch.until_end().await;
        assert_eq!(online.watch.fatals.len(), 1);
        assert_eq!(online.link.state(), LinkState::Disabled);
        let dialed = dials(&online.connector);
        sleep(QUIET).await;
        assert_eq!(dials(&online.connector), dialed, "no dial once disabled");
    });
}

#[test]
fn on_tokio_a_disconnect_is_acknowledged_and_ends_the_link() {
    run_tokio(async {
        let mut online = online_on_tokio().await;
        let outcome = online.link.disconnect(Duration::from_secs(2)).await;
        assert_eq!(outcome, Disconnected::Acknowledged);
        online.watch.until_end().await;
        assert_eq!(online.link.state(), LinkState::Closed);
        assert!(online
            .connector
            .seen()
            .closes
            .iter()
            .any(|c| c.code == Some(1000)));
    });
}

#[test]
fn the_driver_future_runs_under_tokio_spawn() {
    run_tokio(async {
        let connector = connector().await;
        let config = fast_config(&connector).build().expect("valid");
        let (link, events, driver) = RelayLink::new(config, tokio_options()).expect("builds");
        let task = tokio::spawn(driver);
        let mut watch = Watch::new(events);
        watch.until_state(LinkState::Handshaken).await;
        link.disconnect(Duration::from_secs(2)).await;
        deadline(WAIT, "the driver task", task)
            .await
            .expect("the driver ends cleanly");
    });
}

#[test]
fn a_disconnect_awaited_outside_tokio_works_with_the_driver_on_tokio() {
    // The handle's futures are runtime-agnostic: the application may await
    // them from any executor while the driver runs on a tokio runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let handle = runtime.handle().clone();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let tokio_thread = std::thread::spawn(move || {
        runtime.block_on(async move {
            let _ = stopped.recv().await;
        });
    });
    let (connector, link, mut watch) = smol::block_on(async {
        let connector = connector().await;
        let config = fast_config(&connector).build().expect("valid");
        let (link, events, driver) = RelayLink::new(config, tokio_options()).expect("builds");
        handle.spawn(driver);
        let mut watch = Watch::new(events);
        watch.until_state(LinkState::Handshaken).await;
        (connector, link, watch)
    });
    let outcome = smol::block_on(deadline(
        WAIT,
        "the disconnect",
        link.disconnect(Duration::from_secs(2)),
    ));
    assert_eq!(outcome, Disconnected::Acknowledged);
    smol::block_on(watch.until_end());
    assert_eq!(link.state(), LinkState::Closed);
    assert!(connector.seen().closes.iter().any(|c| c.code == Some(1000)));
    drop(stop);
    tokio_thread.join().expect("the tokio thread ends");
}

#[test]
fn spawning_on_tokio_outside_a_tokio_runtime_is_refused() {
    let config = Config::builder("ws://127.0.0.1:9/").build().expect("valid");
    let error = RelayLink::spawn(config, tokio_options()).expect_err("no tokio runtime here");
    assert!(error.to_string().starts_with("runtime:"), "{error}");
}

#[test]
fn on_tokio_a_wss_link_trusts_a_pem_root_file_and_sends_its_user_agent() {
    use loopback::tls::{handshake_and_send, pem_of, temp_file, tls_connector};
    use relay_link::shell::tls::TlsOptions;

    run_tokio(async {
        let (connector, cert) = tls_connector().await;
        let path = temp_file("tokio-root.pem", &pem_of(&cert));
        let mut options = tokio_options();
        options.tls = TlsOptions::default().with_extra_root_file(&path);
        handshake_and_send(&connector, options).await;
        let agent = format!("relay-link/{}", env!("CARGO_PKG_VERSION"));
        let seen = connector.seen();
        assert_eq!(seen.dials[0].header("user-agent"), Some(agent.as_str()));
        let _ = std::fs::remove_file(path);
    });
}
