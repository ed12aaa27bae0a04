//! Regression tests of the shell's reliability defects: close echoes,
//! unbounded budgets, close handshakes that pile up, backpressure towards
//! an application that stops reading, dropped handles, disconnects that
//! return too early and single messages over the frame limit.

mod loopback;

use std::time::Duration;

use loopback::*;
use relay_link::shell::{Disconnected, Event, Options};
use relay_link::testing::{CommandLog, Seen};
use relay_link::{Command, LinkState};
use serde_json::json;

/// The close frames the gateway sent in answer to the connector's.
fn echoes(seen: &Seen) -> Vec<Option<u16>> {
    seen.closes
        .iter()
        .filter(|c| c.in_reply)
        .map(|c| c.code)
        .collect()
}

#[test]
fn a_connector_close_4401_after_a_handshake_is_echoed() {
    run(async {
        let mut online = online(|c| c).await;
        online.connector.close_with(GW, 4401, "unauthorized");
        wait_seen(&online.connector, "the 4401 echoed", |seen| {
            echoes(seen).contains(&Some(4401))
        })
        .await;
        online.watch.until_state(LinkState::Handshaken).await;
    });
}

#[test]
fn a_connector_close_1001_is_echoed() {
    run(async {
        let online = online(|c| c).await;
        online.connector.close_with(GW, 1001, "going away");
        wait_seen(&online.connector, "the 1001 echoed", |seen| {
            echoes(seen).contains(&Some(1001))
        })
        .await;
    });
}

#[test]
fn a_disconnect_with_an_unbounded_budget_closes_with_1000() {
    run(async {
        let mut online = online(|c| c).await;
        let outcome = deadline(
            WAIT,
            "the disconnect",
            online.link.disconnect(Duration::MAX),
        )
        .await;
        assert!(outcome.close_sent(), "{outcome:?}");
        let seen = online.connector.seen();
        assert!(
            seen.closes.iter().any(|c| c.code == Some(1000)),
            "{:?}",
            summary(&seen)
        );
        online.watch.until_state(LinkState::Closed).await;
    });
}

#[test]
fn a_disconnect_returns_only_once_the_connector_has_the_close_frame() {
    run(async {
        let online = online(|c| c).await;
        let outcome = online.link.disconnect(Duration::from_secs(2)).await;
        assert_eq!(outcome, Disconnected::Acknowledged);
        // No waiting: the connector answered the close, so it has seen it.
        let seen = online.connector.seen();
        assert!(
            seen.closes
                .iter()
                .any(|c| c.code == Some(1000) && !c.in_reply),
            "{:?}",
            summary(&seen)
        );
    });
}

#[test]
fn a_disconnect_of_an_ended_link_says_so() {
    run(async {
        let mut online = online(|c| c).await;
        online.link.disconnect(Duration::from_secs(2)).await;
        online.watch.until_end().await;
        assert_eq!(
            online.link.disconnect(Duration::from_secs(1)).await,
            Disconnected::AlreadyEnded
        );
    });
}

#[test]
fn close_handshakes_never_pile_up_over_200_handshake_timeouts() {
    run(async {
        let connector = connector().await;
        connector.withhold_descriptor(GW, true);
        let (link, mut watch) = spawn(
            fast_config(&connector)
                .handshake_timeout(Duration::from_millis(5))
                .backoff_base(Duration::from_millis(1))
                .backoff_max(Duration::from_millis(2)),
        );
        let mut most = 0;
        while dials(&connector) < 200 {
            let stats = link.stats();
            most = most.max(stats.closing_connections);
            assert!(
                stats.closing_connections <= 1 && stats.live_tasks <= 4,
                "after {} dials: {stats:?}",
                dials(&connector)
            );
            // The application reads its events (state changes).
            watch.collect_for(Duration::from_millis(2)).await;
        }
        assert!(most <= 1, "{most}");
    });
}

#[test]
fn an_application_that_stops_reading_holds_the_flood_in_tcp_and_loses_nothing() {
    run(async {
        let connector = connector().await;
        let capacity = 8;
        let (link, mut watch) = spawn_with(
            fast_config(&connector).outbound_timeout(Duration::from_millis(300)),
            Options {
                seed: Some(7),
                event_capacity: capacity,
                ..Options::default()
            },
        );
        watch.until_state(LinkState::Handshaken).await;
        let flood = 2_000;
        for n in 0..flood {
            connector.push_inbound(GW, json!({"text": format!("m{n}")}));
        }
        // The application reads nothing for a while.
        let mut most = 0;
        for _ in 0..50 {
            let stats = link.stats();
            most = most.max(stats.queued_events);
            assert!(stats.queued_events <= capacity, "{stats:?}");
            sleep(Duration::from_millis(4)).await;
        }
        assert_eq!(most, capacity, "the channel filled up to its bound");
        // Requests are still settled meanwhile (here: by their timeout).
        connector.set_result("slow", None);
        let settled = deadline(
            WAIT,
            "a request settled while events wait",
            link.send(action("slow", json!({})), None),
        )
        .await;
        assert!(settled.is_err(), "{settled:?}");
        // Then it reads again: every message arrives, once, in order.
        let mut texts = Vec::new();
        while texts.len() < flood {
            if let Event::Inbound { frame, .. } = watch.expect("an inbound", is_inbound).await {
                let event = frame.event().expect("typed");
                texts.push(event.text.unwrap_or_default());
            }
        }
        let expected: Vec<String> = (0..flood).map(|n| format!("m{n}")).collect();
        assert_eq!(texts, expected);
    });
}

#[test]
fn dropping_every_handle_and_the_stream_disconnects_and_never_redials() {
    run(async {
        let connector = connector().await;
        let (link, mut watch) = spawn(fast_config(&connector));
        watch.until_state(LinkState::Handshaken).await;
        let dialed = dials(&connector);
        drop(link);
        drop(watch);
        wait_seen(&connector, "a close 1000", |seen| {
            seen.closes.iter().any(|c| c.code == Some(1000))
        })
        .await;
        connector.drop_connections(GW);
        sleep(QUIET).await;
        assert_eq!(
            dials(&connector),
            dialed,
            "{:?}",
            summary(&connector.seen())
        );
    });
}

/// Polls `stats` until `done` holds (bounded by `WAIT`).
async fn until_stats(
    link: &relay_link::shell::RelayLink,
    what: &str,
    done: impl Fn(&relay_link::shell::LinkStats) -> bool,
) {
    deadline(WAIT, what, async {
        while !done(&link.stats()) {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[test]
fn dropping_everything_with_an_unread_buffered_delivery_still_disconnects() {
    run(async {
        let connector = connector().await;
        let (link, mut watch) = spawn(fast_config(&connector));
        watch.until_state(LinkState::Handshaken).await;
        // A delivery awaiting acceptance, left unread in the event stream:
        // its Acceptance must not keep the link alive once everything the
        // application held is gone.
        // Whatever was queued before (a descriptor, a state) settles first.
        sleep(QUIET).await;
        let before = link.stats().queued_events;
        connector.send_frame(
            GW,
            json!({"type": "inbound", "bufferId": "b-unread", "event": {"text": "unread"}}),
        );
        until_stats(&link, "the delivery queued", |s| s.queued_events > before).await;
        let dialed = dials(&connector);
        drop(link);
        drop(watch);
        wait_seen(&connector, "a close 1000", |seen| {
            seen.closes.iter().any(|c| c.code == Some(1000))
        })
        .await;
        connector.drop_connections(GW);
        sleep(QUIET).await;
        assert_eq!(
            dials(&connector),
            dialed,
            "{:?}",
            summary(&connector.seen())
        );
    });
}

#[test]
fn dropping_a_full_event_stream_leaves_the_link_working() {
    run(async {
        let connector = connector().await;
        let (link, mut watch) = spawn_with(
            fast_config(&connector),
            Options {
                seed: Some(7),
                event_capacity: 4,
                ..Options::default()
            },
        );
        watch.until_state(LinkState::Handshaken).await;
        for n in 0..10 {
            connector.push_inbound(GW, json!({"text": format!("live {n}")}));
        }
        until_stats(&link, "the stream full and events staged", |s| {
            s.queued_events == 4 && s.staged_events > 0
        })
        .await;
        drop(watch);
        let result = deadline(
            WAIT,
            "a result after the stream was dropped",
            link.send(action("send", json!({"text": "still here"})), None),
        )
        .await;
        let result = result.expect("the connector's result");
        assert_eq!(result["success"], true, "{result:?}");
    });
}

#[test]
fn the_link_lives_while_the_event_stream_is_held() {
    run(async {
        let connector = connector().await;
        let (link, mut watch) = spawn(fast_config(&connector));
        watch.until_state(LinkState::Handshaken).await;
        drop(link);
        sleep(QUIET).await;
        let seen = connector.seen();
        assert!(seen.closes.is_empty(), "{:?}", summary(&seen));
        assert_eq!(seen.open_connections(GW), 1);
    });
}

#[test]
fn a_single_message_over_the_frame_limit_is_closed_with_1009() {
    run(async {
        let connector = connector().await;
        let commands = CommandLog::new();
        let (_link, mut watch) = spawn_with(
            fast_config(&connector),
            Options {
                seed: Some(7),
                command_log: Some(commands.clone()),
                ..Options::default()
            },
        );
        watch.until_state(LinkState::Handshaken).await;
        let huge = format!(
            "{{\"type\":\"inbound\",\"event\":\"{}\"}}\n",
            "x".repeat(17 << 20)
        );
        assert_eq!(connector.send_raw(GW, &huge), 1);
        // The test connector reads nothing while it writes the huge
        // message, so the close is checked where the shell executes it.
        let close = deadline(WAIT, "a close 1009", async {
            loop {
                if let Command::Close {
                    code: 1009, reason, ..
                } = commands.recv().await
                {
                    return reason;
                }
            }
        })
        .await;
        assert_eq!(close, "frame too large");
        // A new connection follows, as after any dropped connection.
        watch.until_state(LinkState::Retrying).await;
        watch.until_state(LinkState::Handshaken).await;
    });
}

#[test]
fn a_message_within_a_frame_limit_above_16_mib_is_read() {
    // tungstenite's own defaults (16 MiB per frame) used to decide instead
    // of the configured limit: this message was closed with 1009.
    run(async {
        let mut online = online(|c| c.max_frame_size(18 << 20)).await;
        let text = "x".repeat(17 << 20);
        online.connector.push_inbound(GW, json!({ "text": text }));
        let event = online
            .watch
            .expect("the 17 MiB inbound", |e| matches!(e, Event::Inbound { .. }))
            .await;
        let Event::Inbound { frame, .. } = event else {
            unreachable!()
        };
        let typed = frame.event().expect("a typed event");
        assert_eq!(typed.text.as_deref().map(str::len), Some(17 << 20));
        assert_eq!(online.link.state(), LinkState::Handshaken);
        assert!(online.connector.seen().closes.is_empty());
    });
}

#[test]
fn a_batch_takes_every_event_already_waiting_up_to_its_maximum() {
    run(async {
        let connector = connector().await;
        let (link, mut watch) = spawn(fast_config(&connector));
        watch.until_state(LinkState::Handshaken).await;
        for n in 0..10 {
            connector.push_inbound(GW, json!({"text": format!("b{n}")}));
        }
        let mut texts = Vec::new();
        let mut events = watch.into_events();
        // Wait until all ten are queued, then take them in two batches.
        deadline(WAIT, "ten queued events", async {
            while link.stats().queued_events < 10 {
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        // Every event is already waiting: the first batch is full.
        let mut batches = Vec::new();
        while texts.len() < 10 {
            let batch = events.next_batch(6).await;
            assert!(!batch.is_empty() && batch.len() <= 6, "{}", batch.len());
            batches.push(batch.len());
            for event in batch {
                if let Event::Inbound { frame, .. } = event {
                    texts.push(frame.event().expect("typed").text.unwrap_or_default());
                }
            }
        }
        assert_eq!(batches[0], 6, "{batches:?}");
        let wanted: Vec<String> = (0..10).map(|n| format!("b{n}")).collect();
        assert_eq!(texts, wanted);
        assert_eq!(link.stats().queued_events, 0);
        link.disconnect(Duration::from_secs(2)).await;
        while !events.next_batch(16).await.is_empty() {}
    });
}
