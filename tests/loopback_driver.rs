//! The driver future from `RelayLink::new`, run on an executor the
//! application owns: here a plain thread blocking on it.

mod loopback;

use std::time::Duration;

use loopback::*;
use relay_link::shell::{Disconnected, Options, RelayLink};
use relay_link::LinkState;
use serde_json::json;

/// Runs the driver on its own thread; the receiver fires when it returns.
fn run_on_a_thread(driver: relay_link::shell::LinkDriver) -> smol::channel::Receiver<()> {
    let (done, finished) = smol::channel::bounded(1);
    std::thread::spawn(move || {
        smol::block_on(driver);
        let _ = done.try_send(());
    });
    finished
}

#[test]
fn a_driver_on_the_applications_own_thread_runs_the_link_and_ends_with_it() {
    run(async {
        let connector = connector().await;
        let config = fast_config(&connector).build().expect("valid");
        let options = Options {
            seed: Some(7),
            ..Options::default()
        };
        let (link, events, driver) = RelayLink::new(config, options).expect("builds");
        // Nothing dials before the driver is polled.
        sleep(QUIET).await;
        assert_eq!(dials(&connector), 0);
        let finished = run_on_a_thread(driver);
        let mut watch = Watch::new(events);
        watch.until_state(LinkState::Handshaken).await;
        let result = deadline(
            WAIT,
            "a result",
            link.send(action("send", json!({"text": "hi"})), None),
        )
        .await;
        assert_eq!(result.expect("the connector's result")["success"], true);
        assert_eq!(link.stats().live_tasks, 1, "one task: the driver");
        assert_eq!(
            link.disconnect(Duration::from_secs(2)).await,
            Disconnected::Acknowledged
        );
        deadline(WAIT, "the driver to return", finished.recv())
            .await
            .expect("the driver thread reports");
        assert_eq!(link.stats().live_tasks, 0);
    });
}

#[test]
fn a_driver_whose_handles_are_all_dropped_disconnects_and_returns() {
    run(async {
        let connector = connector().await;
        let config = fast_config(&connector).build().expect("valid");
        let (link, events, driver) = RelayLink::new(config, Options::default()).expect("builds");
        let finished = run_on_a_thread(driver);
        let mut watch = Watch::new(events);
        watch.until_state(LinkState::Handshaken).await;
        drop(link);
        drop(watch);
        deadline(WAIT, "the driver to return", finished.recv())
            .await
            .expect("the driver thread reports");
        assert!(connector.seen().closes.iter().any(|c| c.code == Some(1000)));
    });
}
