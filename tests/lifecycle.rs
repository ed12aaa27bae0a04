//! Scenario tests of the lifecycle rules (relay contract §4, §5): one per
//! rule, each asserting the exact commands the link gives.

mod support;

use relay_link::command::RELAY_DISABLED_MESSAGE;
use relay_link::config::Config;
use relay_link::{Command, LinkState, PlatformState, Settlement, Timer};
use serde_json::json;
use support::*;

/// Backoff ceiling of attempt 1 with the default ladder (1 s).
const BASE_MS: u64 = 1_000;

/// Fires the pending backoff and expects the re-dial of `gen` it causes.
fn backoff_then_redial(h: &mut Harness, gen: u64) {
    assert_eq!(h.fire_due_timers(), Timer::Backoff);
    h.expect(&format!("dial{{gen:{gen}, fresh_token}}"))
        .expect("state(connecting)")
        .expect_idle();
}

/// The backoff delay now armed, in milliseconds.
fn armed_backoff_ms(h: &Harness) -> u64 {
    match h.next_timer() {
        Some((Timer::Backoff, ms)) => ms,
        other => panic!("expected a backoff timer, got {other:?}"),
    }
}

/// A handshaken link whose connection 1 was refused with a first 4401:
/// dial 2 (the fresh-token re-dial) is in flight.
fn after_first_strike() -> Harness {
    let mut h = Harness::handshaken(config());
    h.expect("state(handshaken)")
        .expect("platform(connected)")
        .advance(5_000)
        .input(closed(1, 4401, "unauthorized"))
        .expect("dial{gen:2, fresh_token}")
        .expect("state(connecting)")
        .expect("platform(retrying)")
        .expect_idle();
    h
}

#[test]
fn first_descriptor_completes_the_handshake() {
    let mut h = Harness::started(config());
    h.expect("dial{gen:1, fresh_token}")
        .expect("state(connecting)")
        .expect("platform(connecting)")
        .expect_idle();
    assert_eq!(h.next_timer(), Some((Timer::Connect, 10_000)));

    h.advance(20).open(1);
    assert_eq!(h.link.state(), LinkState::Connecting);
    assert_eq!(h.next_timer(), Some((Timer::Handshake, 30_000)));

    // Noise before the descriptor completes nothing.
    h.input(received(1, "\n{\"type\":\"future_frame\"}\nnot json\n"))
        .expect_idle();
    assert_eq!(h.link.state(), LinkState::Connecting);

    h.advance(20)
        .handshake(1)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .expect_idle();
    assert!(h.link.was_handshaken());
    // The handshake timer is gone; keepalive is what is left.
    assert_eq!(h.next_timer(), Some((Timer::Ping, 29_980)));

    // The second identity's descriptor is delivered but changes no state.
    h.input(received(1, &descriptor("slack")))
        .expect("descriptor{gen:1, slack}")
        .expect_idle();
}

#[test]
fn handshake_timeout_is_a_drop() {
    let mut h = Harness::started(config());
    h.drain();
    h.advance(50).open(1);
    // 30 s counted from the accepted upgrade, not from the dial.
    assert_eq!(h.fire_due_timers(), Timer::Handshake);
    assert_eq!(h.elapsed_ms(), 30_050);
    h.expect("close{gen:1, 1001, \"handshake timeout\"}")
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
    let delay = armed_backoff_ms(&h);
    assert!((BASE_MS / 2..=BASE_MS).contains(&delay), "{delay} ms");
    backoff_then_redial(&mut h, 2);
    assert_eq!(h.link.stats().stale_inputs, 0);
}

#[test]
fn cold_start_4401_backs_off_instead_of_revoking() {
    let mut h = Harness::started(config());
    h.drain();
    h.advance(20)
        .open(1)
        .input(closed(1, 4401, "unauthorized"))
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
    assert!(!h.link.was_handshaken());
    armed_backoff_ms(&h);
    backoff_then_redial(&mut h, 2);

    // Refused at the upgrade itself: the same cold-start race.
    h.advance(10)
        .input(dial_refused(2, 4401, "unauthorized"))
        .expect("state(retrying)")
        .expect_idle();
    armed_backoff_ms(&h);
    backoff_then_redial(&mut h, 3);

    // The connector finally knows the gateway.
    h.advance(10)
        .open(3)
        .handshake(3)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .expect_idle();
}

#[test]
fn expired_4401_after_handshake_is_not_a_strike() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.advance(1_000)
        .input(closed(1, 4401, "expired"))
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
    // An ordinary drop: the ladder, not the immediate fresh-token re-dial.
    armed_backoff_ms(&h);
    backoff_then_redial(&mut h, 2);

    // The refused re-dial is expired too: still no strike.
    h.advance(10)
        .input(dial_refused(2, 4401, "expired"))
        .expect("state(retrying)")
        .expect_idle();
    backoff_then_redial(&mut h, 3);

    // A real 4401 now is only the *first* strike: provisional, not revoked.
    h.advance(10)
        .open(3)
        .handshake(3)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .input(closed(3, 4401, "unauthorized"))
        .expect("dial{gen:4, fresh_token}")
        .expect("state(connecting)")
        .expect("platform(retrying)")
        .expect_idle();
    assert_eq!(h.link.state(), LinkState::Connecting);
}

#[test]
fn second_strike_revokes_and_reports_fatal_once() {
    let mut h = after_first_strike();
    h.advance(30)
        .open(2)
        .advance(10)
        .input(closed(2, 4401, "unauthorized"))
        .expect(&format!(
            "fatal{{relay_disabled, retryable:false, \"{RELAY_DISABLED_MESSAGE}\"}}"
        ))
        .expect("state(revoked)")
        .expect("platform(disabled)")
        .expect_idle();
    // Entering Revoked cancels every timer.
    assert_eq!(h.next_timer(), None);

    // Repeats of the verdict change nothing and report nothing again.
    h.input(closed(2, 4401, "unauthorized"))
        .input(dial_refused(2, 4401, "unauthorized"))
        .expect_idle();
    h.input(relay_link::Input::FatalAcknowledged)
        .expect("state(disabled)")
        .expect_idle();
    h.input(relay_link::Input::FatalAcknowledged).expect_idle();
    assert_eq!(h.link.state(), LinkState::Disabled);
    assert_eq!(h.link.platform_state(), Some(PlatformState::Disabled));
}

#[test]
fn judged_connection_refused_after_its_own_descriptor_revokes() {
    let mut h = after_first_strike();
    h.advance(30)
        .open(2)
        .handshake(2)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .expect_idle();
    // Long after its own descriptor, kept alive by pings.
    assert_eq!(h.fire_due_timers(), Timer::Ping);
    h.expect("ping{gen:2}")
        .input(heard(2))
        .advance(20_000)
        .input(closed(2, 4401, "unauthorized"))
        .expect(&format!(
            "fatal{{relay_disabled, retryable:false, \"{RELAY_DISABLED_MESSAGE}\"}}"
        ))
        .expect("state(revoked)")
        .expect("platform(disabled)")
        .expect_idle();
}

#[test]
fn fresh_token_dial_failing_for_a_network_reason_keeps_the_judgement_armed() {
    let mut h = after_first_strike();
    // The fresh-token dial fails without an auth outcome: the ladder.
    h.advance(30)
        .input(dial_failed_http(2, 503))
        .expect("state(retrying)")
        .expect_idle();
    backoff_then_redial(&mut h, 3);
    h.advance(30)
        .open(3)
        .input(dropped(3))
        .expect("state(retrying)")
        .expect_idle();
    backoff_then_redial(&mut h, 4);
    // The next auth outcome is judged: a refusal is the second strike.
    h.advance(30)
        .input(dial_refused(4, 4401, "unauthorized"))
        .expect(&format!(
            "fatal{{relay_disabled, retryable:false, \"{RELAY_DISABLED_MESSAGE}\"}}"
        ))
        .expect("state(revoked)")
        .expect("platform(disabled)")
        .expect_idle();
}

#[test]
fn judged_connection_that_closes_cleanly_ends_the_judgement() {
    let mut h = after_first_strike();
    h.advance(30)
        .open(2)
        .handshake(2)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .input(closed(2, 1006, ""))
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
    backoff_then_redial(&mut h, 3);
    h.advance(30)
        .open(3)
        .handshake(3)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .input(closed(3, 4401, "unauthorized"))
        // A first strike again: provisional.
        .expect("dial{gen:4, fresh_token}")
        .expect("state(connecting)")
        .expect("platform(retrying)")
        .expect_idle();
}

#[test]
fn revoked_link_never_dials_again() {
    let mut h = after_first_strike();
    h.advance(30)
        .input(dial_refused(2, 4401, "unauthorized"))
        .expect(&format!(
            "fatal{{relay_disabled, retryable:false, \"{RELAY_DISABLED_MESSAGE}\"}}"
        ))
        .expect("state(revoked)")
        .expect("platform(disabled)")
        .expect_idle();

    let mut commands = Vec::new();
    for round in 0..50u64 {
        let gen = round % 4 + 1;
        for input in [
            relay_link::Input::Start,
            dial_succeeded(gen),
            received(gen, &descriptor("discord")),
            heard(gen),
            dropped(gen),
            dial_failed_io(gen),
            relay_link::Input::HoldRedial,
            relay_link::Input::ReleaseRedial,
            accepted("b1"),
        ] {
            h.input(input);
        }
        if round == 10 {
            h.input(relay_link::Input::FatalAcknowledged);
        }
        h.advance(90_000);
        h.link.handle_timeout(h.now);
        commands.extend(h.drain());
    }
    assert_eq!(commands, ["state(disabled)"]);
    assert_eq!(h.link.generation().0, 2);
    assert_eq!(h.next_timer(), None);
    // Requests fail at once as closed, never as "not connected".
    h.input(send("r1", None))
        .expect("settle{r1, closed}")
        .expect_idle();
}

#[test]
fn provisional_redial_is_immediate_and_uses_a_new_generation() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.advance(7_000);
    let before = h.elapsed_ms();
    h.input(closed(1, 4401, "unauthorized"))
        .expect("dial{gen:2, fresh_token}")
        .expect("state(connecting)")
        .expect("platform(retrying)")
        .expect_idle();
    assert_eq!(h.elapsed_ms(), before, "no time passed: no backoff");
    assert_eq!(h.link.generation().0, 2);
    // The only timer is the new dial's connect timeout.
    assert_eq!(h.next_timer(), Some((Timer::Connect, 10_000)));
    // The old generation is dead: its news is stale.
    h.input(dial_succeeded(1)).expect_idle();
    assert_eq!(h.link.stats().stale_inputs, 1);
}

#[test]
fn stale_generation_input_is_counted_and_ignored() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(dropped(1)).drain();
    backoff_then_redial(&mut h, 2);
    let state = h.link.state();
    let timer = h.link.poll_timeout();
    for input in [
        dial_succeeded(1),
        dial_failed_http(1, 503),
        received(1, &descriptor("discord")),
        received(1, &outbound_result("r1", json!({"ok": true}))),
        heard(1),
        closed(1, 4401, "unauthorized"),
        dropped(1),
    ] {
        h.input(input).expect_idle();
    }
    assert_eq!(h.link.stats().stale_inputs, 7);
    assert_eq!(h.link.state(), state);
    assert_eq!(h.link.poll_timeout(), timer);
    assert_eq!(h.link.generation().0, 2);
    // The live dial still works.
    h.open(2)
        .handshake(2)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .expect_idle();
}

#[test]
fn send_while_retrying_fails_at_once_as_not_connected() {
    let mut h = Harness::started(config());
    h.drain();
    // While dialing.
    h.input(send("r1", None))
        .expect("settle{r1, not_connected}")
        .expect_idle();
    // Open, not handshaken yet.
    h.open(1)
        .input(send("r2", None))
        .expect("settle{r2, not_connected}")
        .expect_idle();
    // Waiting out a backoff.
    h.input(dropped(1)).drain();
    assert_eq!(h.link.state(), LinkState::Retrying);
    h.input(send("r3", Some("discord")))
        .expect("settle{r3, not_connected}")
        .expect_idle();
    assert_eq!(h.link.pending_requests(), 0);
    assert_eq!(
        Settlement::NotConnected.to_json(),
        json!({"success": false, "error": "relay transport not connected"})
    );
}

#[test]
fn in_flight_request_is_ambiguous_after_a_drop() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(send("r1", Some("discord")))
        .expect("send{gen:1, outbound(r1, op:send, platform:discord, botId:b1)}")
        .input(send("r2", None))
        .expect("send{gen:1, outbound(r2, op:send)}")
        .input(received(1, &outbound_result("r2", json!({"ok": true}))))
        .expect("settle{r2, result {\"ok\":true}}")
        .expect_idle();
    assert_eq!(h.link.pending_requests(), 1);

    h.advance(1_000).input(dropped(1));
    let settlement = h.expect_command(|c| match c {
        Command::Settle { id, settlement } if id.as_str() == "r1" => Some(settlement.clone()),
        _ => None,
    });
    assert_eq!(settlement, Settlement::ConnectionLost);
    assert_eq!(
        settlement.to_json(),
        json!({"success": false, "error": "relay transport connection lost", "ambiguous": true})
    );
    h.expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();

    // A late result on the next connection is ignored: settled once.
    backoff_then_redial(&mut h, 2);
    h.open(2)
        .handshake(2)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .input(received(2, &outbound_result("r1", json!({"ok": true}))))
        .expect_idle();
    assert_eq!(h.link.stats().unmatched_results, 1);
}

#[test]
fn in_flight_request_times_out_ambiguous() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(send("r1", None))
        .expect("send{gen:1, outbound(r1, op:send)}")
        .input(heard(1));
    assert_eq!(h.next_timer(), Some((Timer::Ping, 29_980)));
    assert_eq!(h.fire_due_timers(), Timer::Ping);
    h.expect("ping{gen:1}").input(heard(1)).expect_idle();
    assert_eq!(h.fire_due_timers(), Timer::Outbound);
    assert_eq!(h.elapsed_ms(), 30_040);
    h.expect("settle{r1, timed_out}").expect_idle();
    assert_eq!(h.link.state(), LinkState::Handshaken);
}

#[test]
fn disconnect_stays_inside_its_budget_when_the_connector_never_answers() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(send("r1", None))
        .expect("send{gen:1, outbound(r1, op:send)}");
    h.advance(100);
    let asked = h.elapsed_ms();
    h.input(relay_link::Input::Disconnect { budget_ms: 3_000 })
        .expect_idle();
    // Sends during the drain fail at once as closed.
    h.input(send("r2", None))
        .expect("settle{r2, closed}")
        .expect_idle();
    // The drain ends inside the budget, leaving room for the close.
    match h.next_timer() {
        Some((Timer::Drain, ms)) => assert!(ms < 3_000, "drain of {ms} ms"),
        other => panic!("expected the drain timer, got {other:?}"),
    }
    assert_eq!(h.fire_due_timers(), Timer::Drain);
    assert!(h.elapsed_ms() - asked < 3_000);
    h.expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("settle{r1, closed_ambiguous}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
    assert_eq!(h.next_timer(), None);
    assert_eq!(h.link.pending_requests(), 0);

    // The drain grace (5 s) bounds a generous budget too.
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(send("r1", None)).drain();
    h.input(relay_link::Input::Disconnect { budget_ms: 60_000 });
    assert_eq!(h.next_timer(), Some((Timer::Drain, 5_000)));
}

#[test]
fn disconnect_while_dialing_cancels_the_dial() {
    let mut h = Harness::started(config());
    h.drain();
    h.input(relay_link::Input::Disconnect { budget_ms: 1_000 })
        .expect("cancel_dial{gen:1}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
    // The dial answering late changes nothing.
    h.input(dial_succeeded(1)).expect_idle();
    assert_eq!(h.next_timer(), None);
}

#[test]
fn backoff_resets_after_stable_connection() {
    // Climb the ladder: attempts 1..=4 (ceilings 1, 2, 4, 8 s).
    let mut h = Harness::started(config());
    h.drain();
    for gen in 1..=4 {
        h.input(dial_failed_io(gen)).drain();
        backoff_then_redial(&mut h, gen + 1);
    }
    // Connection 5 handshakes but drops before the stable window: the
    // ladder keeps climbing (attempt 5, ceiling 16 s).
    h.open(5).handshake(5).drain();
    assert_eq!(h.fire_due_timers(), Timer::Ping);
    h.expect("ping{gen:5}").input(heard(5));
    h.advance(29_000).input(dropped(5)).drain();
    let delay = armed_backoff_ms(&h);
    assert!((8_000..=16_000).contains(&delay), "attempt 5: {delay} ms");
    backoff_then_redial(&mut h, 6);

    // Connection 6 stays handshaken for the stable window (60 s), kept
    // alive by pings: the next drop starts again at attempt 1.
    h.open(6).handshake(6).drain();
    for _ in 0..2 {
        assert_eq!(h.fire_due_timers(), Timer::Ping);
        h.expect("ping{gen:6}").input(heard(6)).expect_idle();
    }
    h.advance(1_000).input(dropped(6)).drain();
    let delay = armed_backoff_ms(&h);
    assert!(
        (BASE_MS / 2..=BASE_MS).contains(&delay),
        "reset: {delay} ms"
    );
}

#[test]
fn dormant_redial_uses_the_dormant_cadence_not_the_ladder() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(relay_link::Input::GoDormant)
        .expect("send{gen:1, going_idle}")
        .expect_idle();
    // Frames keep flowing while waiting for the ack.
    h.input(received(1, &inbound("still here", None)))
        .expect("inbound{buffer:-, \"still here\"}")
        .input(received(1, &going_idle_ack()))
        .expect("idle_outcome{acked}")
        .expect("close{gen:1, 1000, \"dormant\"}")
        .expect("state(dormant)")
        .expect("platform(retrying)")
        .expect_idle();
    // Re-dials every second, however often they fail: not the ladder.
    for gen in 2..=7 {
        assert_eq!(h.next_timer(), Some((Timer::Redial, 1_000)));
        assert_eq!(h.fire_due_timers(), Timer::Redial);
        h.expect(&format!("dial{{gen:{gen}, fresh_token}}"))
            .expect("state(connecting)")
            .expect_idle();
        h.advance(5)
            .input(dial_failed_io(gen))
            .expect("state(dormant)")
            .expect_idle();
    }
    // Waking up (a handshake) ends dormancy: the next drop uses the ladder.
    h.fire_due_timers();
    h.drain();
    h.open(8)
        .handshake(8)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .input(dropped(8))
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
    armed_backoff_ms(&h);
}

#[test]
fn going_dormant_without_an_ack_stays_connected() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(relay_link::Input::GoDormant)
        .expect("send{gen:1, going_idle}")
        .expect_idle();
    assert_eq!(h.fire_due_timers(), Timer::GoingIdle);
    h.expect("idle_outcome{not_acked}").expect_idle();
    assert_eq!(h.link.state(), LinkState::Handshaken);
}

#[test]
fn hold_caps_at_max_hold() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(relay_link::Input::HoldRedial).expect_idle();
    let held_at = h.elapsed_ms();
    h.advance(1_000)
        .input(dropped(1))
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
    // The backoff is over, but re-dials are held.
    assert_eq!(h.fire_due_timers(), Timer::Backoff);
    h.expect("state(held)").expect_idle();
    // A second hold does not extend the first one.
    h.advance(10_000)
        .input(relay_link::Input::HoldRedial)
        .expect_idle();
    assert_eq!(h.fire_due_timers(), Timer::Hold);
    assert_eq!(h.elapsed_ms() - held_at, 60_000);
    h.expect("dial{gen:2, fresh_token}")
        .expect("state(connecting)")
        .expect_idle();
}

#[test]
fn releasing_a_hold_redials_at_once() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(relay_link::Input::HoldRedial)
        .input(dropped(1))
        .drain();
    assert_eq!(h.fire_due_timers(), Timer::Backoff);
    h.expect("state(held)").expect_idle();
    h.advance(2_000)
        .input(relay_link::Input::ReleaseRedial)
        .expect("dial{gen:2, fresh_token}")
        .expect("state(connecting)")
        .expect_idle();
}

#[test]
fn bot_id_only_for_hello_d_platforms() {
    let config = Config::builder("ws://connector.test")
        .identity("discord", "b1")
        .identity("slack", "B2")
        .build()
        .expect("valid");
    let mut h = Harness::started(config);
    // No gateway id and no secret: no auth header.
    h.expect("dial{gen:1, no_auth}").drain();
    h.open(1).handshake(1).drain();
    h.input(send("r1", Some("discord")))
        .expect("send{gen:1, outbound(r1, op:send, platform:discord, botId:b1)}")
        .input(send("r2", Some("slack")))
        .expect("send{gen:1, outbound(r2, op:send, platform:slack, botId:B2)}")
        .input(send("r3", Some("telegram")))
        .expect("send{gen:1, outbound(r3, op:send, platform:telegram)}")
        .input(send("r4", None))
        .expect("send{gen:1, outbound(r4, op:send)}")
        .expect_idle();
}

#[test]
fn buffered_inbound_is_acked_after_acceptance_and_delivered_once() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(received(1, &inbound("hi", Some("b1"))))
        .expect("inbound{buffer:b1, \"hi\"}")
        .expect_idle();
    // Redelivered before acceptance: dropped silently.
    h.input(received(1, &inbound("hi", Some("b1"))))
        .expect_idle();
    h.input(accepted("b1"))
        .expect("send{gen:1, inbound_ack(b1)}")
        .expect_idle();
    // Redelivered after acceptance (the ack was lost): acked again only.
    h.input(received(1, &inbound("hi", Some("b1"))))
        .expect("send{gen:1, inbound_ack(b1)}")
        .expect_idle();
    assert_eq!(h.link.stats().duplicate_deliveries, 2);
}

#[test]
fn frames_split_across_messages_are_reassembled() {
    let mut h = Harness::handshaken(config());
    h.drain();
    let text = format!("{}{}", inbound("one", None), inbound("two", None));
    let (a, b) = text.split_at(text.len() / 2 + 3);
    h.input(received(1, a))
        .expect("inbound{buffer:-, \"one\"}")
        .expect_idle()
        .input(received(1, b))
        .expect("inbound{buffer:-, \"two\"}")
        .expect_idle();
}

/// Rules 4, 6 and 7: once the fresh-token connection was accepted, its
/// `expired` close ends the judgement, so a 4401 on a later connection is a
/// first strike again (a regression found by the fixtures review).
#[test]
fn a_later_4401_after_the_judged_connection_closed_expired_is_provisional() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.advance(5_000).input(closed(1, 4401, "unauthorized"));
    assert!(h.drain().contains(&"dial{gen:2, fresh_token}".to_owned()));
    h.advance(20).open(2).advance(20).handshake(2).drain(); // judged, accepted
    h.advance(15_000).input(closed(2, 4401, "expired")).drain(); // ordinary drop
    assert_eq!(h.link.state(), LinkState::Retrying);
    backoff_then_redial(&mut h, 3);
    h.advance(20).open(3).advance(20).handshake(3).drain();

    h.advance(4_000).input(closed(3, 4401, "unauthorized"));
    let later = h.drain();
    assert!(
        !later.iter().any(|c| c.starts_with("fatal")),
        "a first 4401 on a later connection must not revoke: {later:?}"
    );
    assert!(
        later.contains(&"dial{gen:4, fresh_token}".to_owned()),
        "it re-dials once, immediately, with a fresh token: {later:?}"
    );
}
