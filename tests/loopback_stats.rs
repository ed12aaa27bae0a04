//! `RelayLink::stats` over loopback, and (feature `metrics`) the same
//! figures as counters and gauges read back through a debugging recorder.

mod loopback;

use std::time::{Duration, Instant};

use loopback::*;
use relay_link::shell::{LinkStats, RelayLink};
use relay_link::testing::Connector;
use relay_link::LinkState as S;
use serde_json::json;

/// One story every test here tells: a rejected upgrade (HTTP 503), a
/// handshake, a request answered, a close 1011 from the connector, a
/// re-dial and its handshake, a malformed line. Returns the stats then.
async fn story(connector: &Connector, link: &RelayLink, watch: &mut Watch) -> LinkStats {
    watch.until_state(S::Handshaken).await;
    let _ = deadline(
        WAIT,
        "the result",
        link.send(action("send", json!({})), None),
    )
    .await;
    connector.close_with(GW, 1011, "overloaded");
    watch.until_state(S::Retrying).await;
    watch.until_state(S::Handshaken).await;
    connector.send_raw(GW, "this is not json\n");
    deadline(WAIT, "the malformed line counted", async {
        while link.stats().skipped.malformed_lines == 0 {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    link.stats()
}

#[test]
fn stats_count_dials_failures_handshakes_closes_requests_and_frames() {
    run(async {
        let started = Instant::now();
        let connector = connector().await;
        connector.reject_http(GW, 1, 503);
        let (link, mut watch) = spawn(fast_config(&connector));
        let stats = story(&connector, &link, &mut watch).await;
        let counters = stats.counters;
        assert_eq!(counters.dials, 3, "{stats:#?}");
        assert_eq!(counters.dial_failures.http, 1);
        assert_eq!(counters.dial_failures.total(), 1);
        assert_eq!(counters.handshakes, 2);
        assert_eq!(counters.requests.result, 1);
        assert!(
            counters.frames_received >= 3,
            "two descriptors and a result: {counters:?}"
        );
        assert_eq!(stats.closes.get(&1011), Some(&1), "{:?}", stats.closes);
        assert_eq!(stats.skipped.malformed_lines, 1);
        assert_eq!(stats.state, S::Handshaken);
        assert!(stats.in_state_for <= started.elapsed());
        assert_eq!(stats.in_flight_requests, 0);
        assert_eq!(stats.live_tasks, 1);
        assert!(stats.queued_events <= stats.event_capacity);

        link.disconnect(Duration::from_secs(2)).await;
        let stats = link.stats();
        assert_eq!(stats.state, S::Closed);
        assert_eq!(stats.closes.get(&1000), Some(&1), "the disconnect's close");
    });
}

#[test]
fn a_request_in_flight_shows_until_it_settles() {
    run(async {
        let Online {
            connector,
            link,
            watch: _watch,
        } = online(|c| c).await;
        connector.delay_results(GW, Some(Duration::from_millis(300)));
        let pending = link.request(action("send", json!({})), None);
        deadline(WAIT, "the request in flight", async {
            while link.stats().in_flight_requests == 0 {
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let _ = deadline(WAIT, "the result", pending.settled()).await;
        deadline(WAIT, "no request in flight", async {
            while link.stats().in_flight_requests != 0 {
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert_eq!(link.stats().counters.requests.result, 1);
    });
}

#[cfg(feature = "metrics")]
#[test]
fn the_metrics_move_with_the_link() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use relay_link::shell::{metrics_names as name, Options};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let connector = smol::block_on(connector());
    connector.reject_http(GW, 1, 503);
    let config = fast_config(&connector).build().expect("valid");
    let options = Options {
        seed: Some(7),
        ..Options::default()
    };
    let (link, events, driver) = RelayLink::new(config, options).expect("builds");
    metrics::with_local_recorder(&recorder, || {
        run(async {
            let body = async {
                let mut watch = Watch::new(events);
                story(&connector, &link, &mut watch).await;
                link.disconnect(Duration::from_secs(2)).await;
            };
            smol::future::zip(driver, body).await;
        });
    });

    let snapshot = snapshotter.snapshot().into_vec();
    let value = |metric: &str, label: Option<(&str, &str)>| {
        let found = snapshot.iter().find(|(key, _, _, _)| {
            let key = key.key();
            let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
            key.name() == metric
                && labels.contains(&("gateway", GW))
                && label.is_none_or(|l| labels.contains(&l))
        });
        match found.map(|(_, _, _, value)| value) {
            Some(DebugValue::Counter(n)) => Some(*n as f64),
            Some(DebugValue::Gauge(v)) => Some(v.into_inner()),
            _ => None,
        }
    };
    let counter = |metric: &str, label| value(metric, label).map(|v| v as u64);
    assert_eq!(counter(name::DIALS, None), Some(3));
    assert_eq!(
        counter(name::DIAL_FAILURES, Some(("kind", "http"))),
        Some(1)
    );
    assert_eq!(
        counter(name::DIAL_FAILURES, Some(("kind", "refused"))),
        Some(0)
    );
    assert_eq!(counter(name::HANDSHAKES, None), Some(2));
    assert_eq!(counter(name::CLOSES, Some(("code", "1011"))), Some(1));
    assert_eq!(counter(name::CLOSES, Some(("code", "1000"))), Some(1));
    assert_eq!(
        counter(name::REQUESTS, Some(("outcome", "result"))),
        Some(1)
    );
    assert_eq!(counter(name::MALFORMED_FRAMES, None), Some(1));
    assert!(counter(name::FRAMES_RECEIVED, None).is_some_and(|n| n >= 3));
    assert_eq!(value(name::STATE, Some(("state", "closed"))), Some(1.0));
    assert_eq!(value(name::STATE, Some(("state", "handshaken"))), Some(0.0));
    assert_eq!(value(name::IN_FLIGHT_REQUESTS, None), Some(0.0));
    assert!(value(name::STATE_CHANGED, None).is_some_and(|t| t > 0.0));
}
