//! The shell's lifecycle over real sockets (relay contract §5 rules 1–12):
//! handshake and its timeout, the three kinds of 4401, the second strike,
//! one dialer, the backoff ladder, keepalive, redial holds and a
//! deliberate disconnect, against the loopback test connector.

mod loopback;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use loopback::*;
use relay_link::command::{RELAY_DISABLED_CODE, RELAY_DISABLED_MESSAGE};
use relay_link::shell::Event;
use relay_link::testing::DialOutcome;
use relay_link::{Command, LinkState, PlatformState, RequestError};
use serde_json::json;

use LinkState as S;
use PlatformState as P;

fn refused(outcome: &DialOutcome, code: u16) -> bool {
    matches!(outcome, DialOutcome::Refused { code: c, .. } if *c == code)
}

/// The (state, platform) changes after the first handshake.
fn after_first_handshake(watch: &Watch) -> Vec<(LinkState, PlatformState)> {
    let first = watch
        .states
        .iter()
        .position(|(s, _)| *s == S::Handshaken)
        .expect("handshook once");
    watch.states[first + 1..].to_vec()
}

#[test]
fn the_first_descriptor_completes_the_handshake_after_one_hello_per_identity() {
    run(async {
        let connector = connector().await;
        let (link, mut watch) = spawn(fast_config(&connector));
        watch.until_state(S::Handshaken).await;
        assert_eq!(
            watch.states,
            [
                (S::Connecting, P::Connecting),
                (S::Handshaken, P::Connected)
            ]
        );
        assert_eq!(link.state(), S::Handshaken);
        assert_eq!(link.platform_state(), Some(P::Connected));

        let mut platforms = Vec::new();
        for _ in 0..2 {
            match watch
                .expect("a descriptor", |e| matches!(e, Event::Descriptor(_)))
                .await
            {
                Event::Descriptor(d) => platforms.push(d.platform.clone()),
                _ => unreachable!(),
            }
        }
        assert_eq!(platforms, ["discord", "slack"]);

        let seen = connector.seen();
        let hellos: Vec<_> = seen
            .frames_of("hello")
            .map(|f| (f.frame["platform"].clone(), f.frame["botId"].clone()))
            .collect();
        assert_eq!(
            hellos,
            [
                (json!("discord"), json!("b1")),
                (json!("slack"), json!("B2"))
            ]
        );
        assert_eq!(seen.dials.len(), 1);
        let dial = &seen.dials[0];
        assert!(dial.auth_header_present && dial.authorized, "{dial:?}");
        assert_eq!(dial.path, "/relay");
        assert_eq!(dial.outcome, DialOutcome::Accepted);
        assert_eq!(seen.open_connections(GW), 1);
    });
}

#[test]
fn a_connection_without_a_descriptor_is_closed_at_the_handshake_timeout_and_redialed() {
    run(async {
        let connector = connector().await;
        connector.withhold_descriptor(GW, true);
        let started = Instant::now();
        let (_link, mut watch) =
            spawn(fast_config(&connector).handshake_timeout(Duration::from_millis(300)));
        wait_seen(
            &connector,
            "the silent connection closed, then a re-dial",
            |s| s.closes.iter().any(|c| c.code == Some(1001)) && s.dials.len() >= 2,
        )
        .await;
        // The timeout counts from the accepted upgrade: never earlier.
        assert!(started.elapsed() >= Duration::from_millis(300));
        let seen = connector.seen();
        let close = seen.closes.iter().find(|c| c.code == Some(1001)).unwrap();
        assert_eq!(close.reason, "handshake timeout");
        assert_eq!(close.connection, seen.connections[0].id);
        assert!(!close.in_reply, "the gateway closed first");

        watch.until_state(S::Retrying).await;
        connector.withhold_descriptor(GW, false);
        watch.until_state(S::Handshaken).await;
        assert!(watch.fatals.is_empty());
        assert_eq!(watch.states[0], (S::Connecting, P::Connecting));
        assert_eq!(watch.states[1], (S::Retrying, P::Retrying));
        assert_eq!(watch.states.last(), Some(&(S::Handshaken, P::Connected)));
        // Each connection said its own hellos (descriptors are forgotten).
        let seen = connector.seen();
        let hello_conns: std::collections::BTreeSet<_> =
            seen.frames_of("hello").map(|f| f.connection).collect();
        assert!(hello_conns.len() >= 2, "{:?}", summary(&seen));
    });
}

#[test]
fn unauthorized_before_any_handshake_is_a_cold_start_race_that_keeps_retrying() {
    run(async {
        let connector = connector().await;
        connector.revoke(GW);
        let (link, mut watch) = spawn(fast_config(&connector));
        wait_seen(&connector, "four refused dials", |s| s.dials.len() >= 4).await;
        let seen = connector.seen();
        assert!(
            seen.dials.iter().all(|d| refused(&d.outcome, 4401)),
            "{:?}",
            summary(&seen)
        );
        watch.collect_for(Duration::from_millis(100)).await;
        assert!(watch.fatals.is_empty(), "no fatal on a cold start");
        assert!(!link.state().is_terminal(), "{}", link.state());
        assert!(watch.states.iter().all(|(_, p)| *p != P::Disabled));
        assert!(watch.entered(S::Retrying) >= 3, "{:?}", watch.states);

        connector.reinstate(GW);
        watch.until_state(S::Handshaken).await;
        assert!(watch.fatals.is_empty());
        assert_eq!(link.platform_state(), Some(P::Connected));
    });
}

#[test]
fn an_expired_close_after_a_handshake_is_an_ordinary_reconnect_every_time() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        for round in 1..=3 {
            connector.expire_token(GW);
            // An ordinary drop waits out a backoff (a provisional strike
            // would re-dial at once and never enter Retrying).
            watch.until_state(S::Retrying).await;
            watch.until_state(S::Handshaken).await;
            assert_eq!(watch.entered(S::Handshaken), round + 1);
        }
        assert!(watch.fatals.is_empty());
        assert_eq!(link.state(), S::Handshaken);
        let seen = connector.seen();
        assert_eq!(seen.dials.len(), 4);
        assert!(seen
            .dials
            .iter()
            .all(|d| d.outcome == DialOutcome::Accepted));
    });
}

#[test]
fn a_first_unauthorized_after_a_handshake_redials_at_once_with_a_fresh_token_and_recovers() {
    run(async {
        let path = trace_path("provisional");
        let connector = connector().await;
        let (link, mut watch) = spawn_recorded(fast_config(&connector), &path);
        watch.until_state(S::Handshaken).await;
        connector.close_with(GW, 4401, "unauthorized");
        wait_seen(&connector, "the fresh-token re-dial", |s| {
            s.dials.len() >= 2
        })
        .await;
        watch.until_state(S::Handshaken).await;
        // No backoff wait: straight back to Connecting, shown as retrying.
        assert_eq!(
            after_first_handshake(&watch),
            [(S::Connecting, P::Retrying), (S::Handshaken, P::Connected)]
        );
        assert!(watch.fatals.is_empty());
        assert_eq!(link.state(), S::Handshaken);
        let seen = connector.seen();
        assert_eq!(seen.dials.len(), 2);
        let redial = &seen.dials[1];
        assert!(
            redial.auth_header_present && redial.authorized,
            "{redial:?}"
        );
        assert_eq!(redial.outcome, DialOutcome::Accepted);

        // The core re-dialed in the very step that handled the 4401, with
        // a token minted for that dial.
        let (_, trace) = read_trace(&path);
        let steps = replay_steps(&trace);
        let strike = steps
            .iter()
            .find(|s| s.input.contains("4401"))
            .expect("the 4401 is in the trace");
        assert!(
            strike
                .commands
                .iter()
                .any(|c| matches!(c, Command::Dial { auth: true, .. })),
            "{strike:?}"
        );
        let _ = std::fs::remove_file(&path);
    });
}

/// Waits for the fatal report, the end of the stream and checks the
/// disabled link stays quiet.
async fn assert_disabled_for_good(connector: &relay_link::testing::Connector, watch: &mut Watch) {
    watch.until_end().await;
    assert_eq!(watch.fatals.len(), 1, "exactly one fatal report");
    let report = &watch.fatals[0];
    assert_eq!(report.code, RELAY_DISABLED_CODE);
    assert_eq!(report.code, "relay_disabled");
    assert!(!report.retryable);
    assert_eq!(
        report.message,
        "Relay disabled (opted out \u{2014} recreate the instance to re-enable)"
    );
    assert_eq!(report.message, RELAY_DISABLED_MESSAGE);
    assert_eq!(watch.states.last(), Some(&(S::Disabled, P::Disabled)));
    let dials = connector.seen().dials.len();
    // With a 20–200 ms ladder, a link that still dialed would dial here.
    sleep(QUIET).await;
    assert_eq!(connector.seen().dials.len(), dials, "no dial once disabled");
    assert_eq!(connector.seen().open_connections(GW), 0);
}

#[test]
fn a_second_unauthorized_strike_disables_the_link_with_one_fatal_report() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        connector.revoke(GW);
        assert_disabled_for_good(&connector, &mut watch).await;
        assert_eq!(link.state(), S::Disabled);
        assert_eq!(link.platform_state(), Some(P::Disabled));
        let seen = connector.seen();
        assert_eq!(seen.dials.len(), 2, "{:?}", summary(&seen));
        assert!(refused(&seen.dials[1].outcome, 4401));
        let settled = deadline(
            WAIT,
            "a send on a disabled link",
            link.send(action("send", json!({"text": "hi"})), None),
        )
        .await;
        assert_eq!(settled, Err(RequestError::Closed { ambiguous: false }));
    });
}

#[test]
fn the_fresh_token_connection_stays_judged_after_its_descriptor() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        connector.close_with(GW, 4401, "unauthorized");
        watch.until_state(S::Handshaken).await;
        assert!(watch.fatals.is_empty());
        // The judged connection is refused later, after its descriptor.
        connector.close_with(GW, 4401, "opted out");
        assert_disabled_for_good(&connector, &mut watch).await;
        assert_eq!(link.state(), S::Disabled);
        assert_eq!(connector.seen().dials.len(), 2);
    });
}

#[test]
fn a_non_auth_failure_of_the_fresh_token_dial_keeps_the_judgement_armed() {
    run(async {
        let Online {
            connector,
            mut watch,
            ..
        } = online(|c| c).await;
        // The fresh-token dial gets HTTP 503, the next one a 4401.
        connector.reject_http(GW, 1, 503);
        connector.refuse_next(GW, 1, 4401, "unauthorized");
        connector.close_with(GW, 4401, "unauthorized");
        assert_disabled_for_good(&connector, &mut watch).await;
        let seen = connector.seen();
        let outcomes: Vec<_> = seen.dials.iter().map(|d| d.outcome.clone()).collect();
        assert_eq!(outcomes.len(), 3, "{outcomes:?}");
        assert_eq!(outcomes[1], DialOutcome::HttpRejected { status: 503 });
        assert!(refused(&outcomes[2], 4401));
        // The 503 went through the backoff ladder.
        assert!(watch.entered(S::Retrying) >= 1, "{:?}", watch.states);
    });
}

#[test]
fn a_judged_connection_that_closes_cleanly_ends_the_judgement() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        connector.close_with(GW, 4401, "unauthorized");
        watch.until_state(S::Handshaken).await;
        // The judged connection drops without a 4401: the judgement ends …
        connector.drop_connections(GW);
        watch.until_state(S::Retrying).await;
        watch.until_state(S::Handshaken).await;
        // … so a later 4401 is provisional again, and the link recovers.
        connector.close_with(GW, 4401, "unauthorized");
        wait_seen(&connector, "the second fresh-token dial", |s| {
            s.dials.len() >= 4
        })
        .await;
        watch.until_state(S::Handshaken).await;
        watch.collect_for(Duration::from_millis(100)).await;
        assert!(watch.fatals.is_empty(), "{:?}", watch.fatals);
        assert_eq!(link.state(), S::Handshaken);
        assert_eq!(watch.entered(S::Handshaken), 4);
    });
}

#[test]
fn one_dialer_under_a_flapping_connector() {
    run(async {
        let path = trace_path("flapping");
        let connector = connector().await;
        let (link, mut watch) = spawn_recorded(
            fast_config(&connector)
                .backoff_base(Duration::from_millis(10))
                .backoff_max(Duration::from_millis(40)),
            &path,
        );
        watch.until_state(S::Handshaken).await;

        // Sample the connector's view while it flaps.
        let stop = Arc::new(AtomicBool::new(false));
        let most_open = Arc::new(AtomicUsize::new(0));
        let sampler = smol::spawn({
            let connector = connector.clone();
            let stop = stop.clone();
            let most_open = most_open.clone();
            async move {
                while !stop.load(Ordering::Relaxed) {
                    let open = connector.seen().open_connections(GW);
                    most_open.fetch_max(open, Ordering::Relaxed);
                    sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..30 {
            match rng.u8(0..5) {
                0 => connector.drop_connections(GW),
                1 => connector.close_with(GW, 1011, "flap"),
                2 => connector.reject_http(GW, 1, 503),
                3 => connector.refuse_next(GW, 1, 1011, "flap"),
                _ => connector.expire_token(GW),
            }
            sleep(Duration::from_millis(rng.u64(5..40))).await;
        }
        // Let it settle back to one handshaken connection.
        connector.reject_http(GW, 0, 503);
        connector.refuse_next(GW, 0, 1011, "");
        wait_seen(&connector, "the last connection served", |s| {
            s.open_connections(GW) == 1
        })
        .await;
        watch.until_state_within(S::Handshaken, WAIT).await;
        // Wait until the link rests handshaken.
        deadline(WAIT, "the link to rest handshaken", async {
            while link.state() != S::Handshaken {
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        sampler.await;

        let seen = connector.seen();
        assert!(seen.dials.len() >= 10, "it flapped: {:?}", summary(&seen));
        assert_eq!(
            most_open.load(Ordering::Relaxed),
            1,
            "two connections of the gateway were open at once"
        );
        assert!(watch.fatals.is_empty(), "expired and 1011 never revoke");

        // The core's own account: every dial waited for the previous one
        // to end, and every dial reached the connector exactly once.
        let (_, trace) = read_trace(&path);
        let steps = replay_steps(&trace);
        let mut alive = None;
        for step in &steps {
            let gen_of_input = |needle: &str| step.input.starts_with(needle);
            if gen_of_input("dial_failed") || gen_of_input("socket_closed") {
                alive = None;
            }
            for command in &step.commands {
                match command {
                    Command::Dial { gen, .. } => {
                        assert_eq!(alive, None, "a second dial while one was alive: {step:?}");
                        alive = Some(*gen);
                    }
                    Command::Close { .. } | Command::CancelDial { .. } => alive = None,
                    _ => {}
                }
            }
        }
        assert_eq!(dial_times(&steps).len(), seen.dials.len());
        let _ = std::fs::remove_file(&path);
    });
}

/// The backoff ceiling of attempt `n` (1-based) for a 20 ms base and a
/// 640 ms cap.
fn ceiling(n: usize) -> Duration {
    Duration::from_millis((20u64 << (n - 1)).min(640))
}

fn assert_on_the_ladder(delays: &[Duration], attempts: std::ops::RangeInclusive<usize>) {
    for (delay, n) in delays.iter().zip(attempts) {
        let d = ceiling(n);
        assert!(
            *delay >= d / 2 && *delay <= d,
            "attempt {n}: {delay:?} is outside [{:?}, {d:?}] (delays {delays:?})",
            d / 2
        );
    }
}

#[test]
fn a_connector_that_accepts_and_closes_at_once_climbs_the_backoff_ladder() {
    run(async {
        let path = trace_path("ladder");
        let connector = connector().await;
        connector.refuse_next(GW, 6, 1011, "busy");
        let (_link, mut watch) = spawn_recorded(
            fast_config(&connector).backoff_max(Duration::from_millis(640)),
            &path,
        );
        watch.until_state(S::Handshaken).await;
        let seen = connector.seen();
        assert_eq!(seen.dials.len(), 7, "{:?}", summary(&seen));
        assert!(seen.dials[..6].iter().all(|d| refused(&d.outcome, 1011)));

        let (_, trace) = read_trace(&path);
        let steps = replay_steps(&trace);
        let delays = backoff_delays(&steps);
        assert_eq!(delays.len(), 6, "{delays:?}");
        assert_on_the_ladder(&delays, 1..=6);
        assert!(
            delays.windows(2).all(|w| w[0] <= w[1]),
            "the ladder climbs: {delays:?}"
        );
        // The waits really happened between the dials (a timer never
        // fires early), so the gaps grow too.
        let dials = dial_times(&steps);
        assert_eq!(dials.len(), 7);
        for (i, delay) in delays.iter().enumerate() {
            let gap = dials[i + 1] - dials[i];
            assert!(gap >= *delay, "gap {i} {gap:?} < delay {delay:?}");
        }
        assert!(dials[6] - dials[5] >= Duration::from_millis(320));
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn handshaken_connections_shorter_than_the_stable_window_keep_climbing() {
    run(async {
        let path = trace_path("short-lived");
        let connector = connector().await;
        let (_link, mut watch) = spawn_recorded(
            fast_config(&connector).backoff_max(Duration::from_millis(640)),
            &path,
        );
        watch.until_state(S::Handshaken).await;
        for _ in 0..4 {
            connector.drop_connections(GW);
            watch.until_state(S::Retrying).await;
            watch.until_state(S::Handshaken).await;
        }
        let (_, trace) = read_trace(&path);
        let delays = backoff_delays(&replay_steps(&trace));
        assert_eq!(delays.len(), 4, "{delays:?}");
        assert_on_the_ladder(&delays, 1..=4);
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn the_ladder_resets_after_a_connection_stayed_handshaken_for_the_stable_window() {
    run(async {
        let path = trace_path("stable");
        let connector = connector().await;
        connector.refuse_next(GW, 4, 1011, "busy");
        let (_link, mut watch) = spawn_recorded(
            fast_config(&connector)
                .backoff_max(Duration::from_millis(640))
                .stable_after(Duration::from_millis(300)),
            &path,
        );
        watch.until_state(S::Handshaken).await;
        // Stay handshaken past the stable window, then drop.
        sleep(Duration::from_millis(600)).await;
        connector.drop_connections(GW);
        watch.until_state(S::Retrying).await;
        watch.until_state(S::Handshaken).await;

        let (_, trace) = read_trace(&path);
        let delays = backoff_delays(&replay_steps(&trace));
        assert_eq!(delays.len(), 5, "{delays:?}");
        assert_on_the_ladder(&delays[..4], 1..=4);
        // Back to the first rung.
        assert_on_the_ladder(&delays[4..], 1..=1);
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn keepalive_pings_keep_a_quiet_connection_alive() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| {
            c.ping_interval(Duration::from_millis(100))
                .idle_timeout(Duration::from_millis(500))
        })
        .await;
        // Three idle timeouts of silence but for pings and pongs.
        watch.collect_for(Duration::from_millis(1_500)).await;
        assert_eq!(link.state(), S::Handshaken);
        assert_eq!(watch.entered(S::Retrying), 0, "{:?}", watch.states);
        let seen = connector.seen();
        assert_eq!(seen.dials.len(), 1);
        assert!(seen.pings >= 3, "pings: {}", seen.pings);
    });
}

#[test]
fn keepalive_detects_a_stalled_connector_within_the_idle_timeout() {
    run(async {
        let path = trace_path("stalled");
        let connector = connector().await;
        let (_link, mut watch) = spawn_recorded(
            fast_config(&connector)
                .ping_interval(Duration::from_millis(100))
                .idle_timeout(Duration::from_millis(500)),
            &path,
        );
        watch.until_state(S::Handshaken).await;
        let stalled = Instant::now();
        connector.stall(GW, true);
        let lost = watch.until_state(S::Retrying).await;
        let detected = lost - stalled;
        // Dead within the idle timeout of the last sign of life (with room
        // for a loaded machine), and not before it could have been heard.
        assert!(detected <= Duration::from_millis(500) + Duration::from_secs(2));
        assert!(detected >= Duration::from_millis(200), "{detected:?}");
        connector.stall(GW, false);
        watch.until_state(S::Handshaken).await;

        let (_, trace) = read_trace(&path);
        let steps = replay_steps(&trace);
        let closed = steps
            .iter()
            .find(|s| {
                s.commands.iter().any(|c| {
                    matches!(c, Command::Close { code: 1001, reason, .. } if reason == "idle timeout")
                })
            })
            .expect("the link closed the silent connection itself");
        assert_eq!(closed.input, "timeout");
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn held_redials_wait_until_released() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        let mut changes = link.state_changes();
        link.hold_redial();
        connector.drop_connections(GW);
        watch.until_state(S::Held).await;
        assert_eq!(link.state(), S::Held);
        sleep(QUIET).await;
        assert_eq!(dials(&connector), 1, "no dial while held");
        assert_eq!(link.state(), S::Held);

        link.release_redial();
        watch.until_state(S::Handshaken).await;
        assert_eq!(dials(&connector), 2);
        // The state-change stream saw the same story from the hold on.
        let mut seen_changes = Vec::new();
        while let Some(change) = within(Duration::from_millis(50), changes.next())
            .await
            .flatten()
        {
            seen_changes.push((change.state, change.platform));
        }
        assert!(
            seen_changes.contains(&(S::Held, P::Retrying)),
            "{seen_changes:?}"
        );
        assert_eq!(seen_changes.last(), Some(&(S::Handshaken, P::Connected)));
    });
}

#[test]
fn a_redial_hold_lapses_on_its_own_after_max_hold() {
    run(async {
        let max_hold = Duration::from_millis(500);
        let Online {
            connector,
            mut watch,
            link,
        } = online(|c| c.max_hold(max_hold)).await;
        let held = Instant::now();
        link.hold_redial();
        connector.drop_connections(GW);
        watch.until_state(S::Held).await;
        wait_seen(&connector, "the re-dial after the hold lapsed", |s| {
            s.dials.len() >= 2
        })
        .await;
        assert!(held.elapsed() >= max_hold, "{:?}", held.elapsed());
        watch.until_state(S::Handshaken).await;
    });
}

#[test]
fn a_disconnect_against_a_stalled_connector_returns_within_its_budget() {
    run(async {
        // The contract's default drain grace (5 s) is longer than the budget.
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c.drain_grace(Duration::from_secs(5))).await;
        connector.stall(GW, true);
        let pending = link.request(action("send", json!({"text": "stuck"})), None);
        let budget = Duration::from_millis(300);
        let started = Instant::now();
        deadline(WAIT, "the disconnect", link.disconnect(budget)).await;
        let took = started.elapsed();
        assert!(
            took <= budget + Duration::from_millis(1_500),
            "disconnect took {took:?}"
        );
        let settled = deadline(WAIT, "the in-flight request", pending.settled()).await;
        assert_eq!(settled, Err(RequestError::Closed { ambiguous: true }));
        watch.until_end().await;
        assert_eq!(watch.states.last(), Some(&(S::Closed, P::Disconnected)));
        assert_eq!(link.state(), S::Closed);
        assert_eq!(link.platform_state(), Some(P::Disconnected));
        sleep(QUIET).await;
        assert_eq!(dials(&connector), 1, "no dial after a disconnect");
    });
}

#[test]
fn a_disconnect_leaves_the_link_closed_by_the_time_it_returns() {
    run(async {
        let Online {
            connector, link, ..
        } = online(|c| c.drain_grace(Duration::from_secs(5))).await;
        connector.stall(GW, true);
        let pending = link.request(action("send", json!({"text": "stuck"})), None);
        deadline(
            WAIT,
            "the disconnect",
            link.disconnect(Duration::from_millis(300)),
        )
        .await;
        // Inside its budget the disconnect also settled what was in flight
        // and reached Closed (contract §5 Disconnect).
        assert_eq!(link.state(), S::Closed);
        assert_eq!(
            within(Duration::from_millis(1), pending.settled()).await,
            Some(Err(RequestError::Closed { ambiguous: true }))
        );
    });
}

#[test]
fn a_disconnect_drains_then_closes_with_1000() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c.drain_grace(Duration::from_millis(200))).await;
        connector.set_result("send", None);
        let pending = link.request(action("send", json!({"text": "unanswered"})), None);
        wait_seen(&connector, "the outbound", |s| {
            s.frames_of("outbound").count() == 1
        })
        .await;
        let started = Instant::now();
        deadline(
            WAIT,
            "the disconnect",
            link.disconnect(Duration::from_secs(3)),
        )
        .await;
        // It waited for the in-flight request, up to the drain grace.
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(
            deadline(WAIT, "the settlement", pending.settled()).await,
            Err(RequestError::Closed { ambiguous: true })
        );
        watch.until_end().await;
        wait_seen(&connector, "the close frame", |s| !s.closes.is_empty()).await;
        let close = &connector.seen().closes[0];
        assert_eq!(close.code, Some(1000));
        assert!(!close.in_reply);
    });
}

#[test]
fn a_disconnect_while_retrying_stops_dialing() {
    run(async {
        let connector = connector().await;
        connector.reject_http(GW, 1_000, 503);
        let (link, mut watch) = spawn(fast_config(&connector));
        wait_seen(&connector, "two rejected dials", |s| s.dials.len() >= 2).await;
        disconnect_and_end(&link, &mut watch).await;
        assert_eq!(watch.states.last(), Some(&(S::Closed, P::Disconnected)));
        let before = dials(&connector);
        sleep(QUIET).await;
        assert_eq!(dials(&connector), before, "no dial after a disconnect");
        assert!(watch.fatals.is_empty());
    });
}

#[test]
fn a_dial_whose_upgrade_never_completes_is_abandoned_at_the_connect_timeout() {
    run(async {
        // A TCP listener that accepts and never answers the upgrade.
        let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = relay_link::config::Config::builder(format!("ws://{addr}"))
            .gateway_id(GW)
            .secret(SECRET)
            .backoff_base(Duration::from_millis(20))
            .backoff_max(Duration::from_millis(40))
            .connect_timeout(Duration::from_millis(200));
        let started = Instant::now();
        let (link, mut watch) = spawn(config);
        let mut sockets = Vec::new();
        for _ in 0..3 {
            let (socket, _) = deadline(WAIT, "a dial", listener.accept()).await.unwrap();
            sockets.push(socket);
        }
        // Three dials need at least two connect timeouts.
        assert!(started.elapsed() >= Duration::from_millis(400));
        // Each abandoned dial's socket was closed by the gateway (EOF), so
        // only the newest one can still be open.
        for socket in &mut sockets[..2] {
            let mut buf = [0u8; 1024];
            loop {
                use smol::io::AsyncReadExt;
                let n = deadline(WAIT, "the abandoned socket to close", socket.read(&mut buf))
                    .await
                    .unwrap_or(0);
                if n == 0 {
                    break;
                }
            }
        }
        assert!(watch.fatals.is_empty());
        watch.collect_for(Duration::from_millis(10)).await;
        assert!(watch.entered(S::Retrying) >= 2, "{:?}", watch.states);
        assert!(!link.state().is_terminal());
    });
}

#[test]
fn a_link_started_before_its_connector_connects_once_the_connector_listens() {
    run(async {
        // A free port with nothing listening yet.
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let config = relay_link::config::Config::builder(format!("ws://{addr}"))
            .gateway_id(GW)
            .secret(SECRET)
            .backoff_base(Duration::from_millis(20))
            .backoff_max(Duration::from_millis(60));
        let (link, mut watch) = spawn(config);
        watch.until_state(S::Retrying).await;
        watch.until_state(S::Connecting).await;
        watch.until_state(S::Retrying).await;
        assert_eq!(
            deadline(WAIT, "a send", link.send(action("send", json!({})), None)).await,
            Err(RequestError::NotConnected)
        );
        let connector = relay_link::testing::Connector::start_on(
            addr,
            relay_link::testing::ConnectorOptions::default(),
        )
        .await
        .expect("the port is still free");
        connector.add_gateway(GW, relay_link::token::Secret::new(SECRET));
        watch.until_state(S::Handshaken).await;
        assert!(watch.fatals.is_empty());
        assert_eq!(watch.states[0], (S::Connecting, P::Connecting));
        assert_eq!(watch.states[1], (S::Retrying, P::Retrying));
    });
}
