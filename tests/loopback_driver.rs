//! The driver future from `RelayLink::new`, run on an executor the
//! application owns: here a plain thread blocking on it.

mod loopback;

use std::time::Duration;

use loopback::*;
use relay_link::shell::{Disconnected, Options, RelayLink};
use relay_link::{LinkState, RequestError};
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

#[test]
fn a_request_queued_for_a_driver_that_is_dropped_settles_as_closed_not_sent() {
    run(async {
        let connector = connector().await;
        let config = fast_config(&connector).build().expect("valid");
        let (link, _events, driver) = RelayLink::new(config, Options::default()).expect("builds");
        let sending = smol::spawn({
            let link = link.clone();
            async move {
                link.send(action("send", json!({"text": "never sent"})), None)
                    .await
            }
        });
        sleep(QUIET).await;
        // The application drops the driver without ever running it (or its
        // runtime shuts down): the queued request must not wait forever.
        drop(driver);
        let settled = deadline(WAIT, "the queued request's settlement", sending).await;
        assert_eq!(settled, Err(RequestError::Closed { ambiguous: false }));
    });
}

#[test]
fn a_request_written_by_a_driver_that_is_dropped_settles_as_ambiguous() {
    run(async {
        let connector = connector().await;
        // The result never comes back in time: the request stays in flight.
        connector.delay_results(GW, Some(Duration::from_secs(60)));
        let config = fast_config(&connector)
            .outbound_timeout(Duration::from_secs(60))
            .build()
            .expect("valid");
        let (link, events, driver) = RelayLink::new(config, Options::default()).expect("builds");
        let running = smol::spawn(driver);
        let mut watch = Watch::new(events);
        watch.until_state(LinkState::Handshaken).await;
        let sending = smol::spawn({
            let link = link.clone();
            async move {
                link.send(action("send", json!({"text": "in flight"})), None)
                    .await
            }
        });
        wait_seen(&connector, "the outbound frame", |seen| {
            seen.frames_of("outbound").count() == 1
        })
        .await;
        // Cancelling the driver's task drops it mid-run.
        drop(running.cancel());
        let settled = deadline(WAIT, "the written request's settlement", sending).await;
        assert_eq!(settled, Err(RequestError::Closed { ambiguous: true }));
    });
}

#[test]
fn a_flood_that_makes_no_events_still_lets_other_tasks_on_its_executor_run() {
    run(async {
        let connector = connector().await;
        let config = fast_config(&connector).build().expect("valid");
        let (link, events, driver) = RelayLink::new(config, Options::default()).expect("builds");
        let executor = smol::LocalExecutor::new();
        let _driving = executor.spawn(driver);
        let mut watch = Watch::new(events);
        executor.run(watch.until_state(LinkState::Handshaken)).await;
        // Messages that produce no event (malformed lines), all waiting in
        // the socket before the driver runs again.
        const FLOOD: usize = 5_000;
        for _ in 0..FLOOD {
            connector.send_raw(GW, "not json\n");
        }
        sleep(QUIET).await;
        // One poll of the driver must not take the whole flood: it yields
        // to the executor's other tasks now and then.
        assert!(executor.try_tick(), "the driver was woken by the flood");
        let handled = link.stats().skipped.malformed_lines;
        assert!(
            handled > 0 && handled < FLOOD as u64,
            "{handled} of {FLOOD} lines in one poll"
        );
        // The rest follows on later polls.
        executor
            .run(async {
                while link.stats().skipped.malformed_lines < FLOOD as u64 {
                    sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
    });
}
