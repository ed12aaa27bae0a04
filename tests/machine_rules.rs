//! Rules of the state machine that only one input reaches: a second
//! disconnect during a drain, which timers a drain keeps, the dormant
//! upgrade of an outstanding `going_idle`, the answers of the `link`
//! superstate while retrying, the `draining` state's own arms, request
//! expiry and the dropped-interrupt counter.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use relay_link::{Input, LinkState, Timer};
use support::*;

fn handshaken_with(config: relay_link::config::Config) -> Harness {
    let mut h = Harness::handshaken(config);
    h.expect("state(handshaken)")
        .expect("platform(connected)")
        .expect_idle();
    h
}

/// A handshaken link draining for a disconnect, with request `r1` in flight.
fn draining(config: relay_link::config::Config, budget_ms: u64) -> Harness {
    let mut h = handshaken_with(config);
    h.input(send("r1", None))
        .expect("send{gen:1, outbound(r1, op:send)}")
        .input(Input::Disconnect { budget_ms })
        .expect_idle();
    h
}

#[test]
fn a_second_disconnect_can_only_shorten_the_drain() {
    // The first budget leaves the whole drain grace (5 s).
    let mut h = draining(config(), 60_000);
    assert_eq!(h.next_timer(), Some((Timer::Drain, 5_000)));
    // One second later, a 2 s budget: the drain ends 1.5 s from now.
    h.advance(1_000)
        .input(Input::Disconnect { budget_ms: 2_000 })
        .expect_idle();
    assert_eq!(h.next_timer(), Some((Timer::Drain, 1_500)));
    // A later, more generous disconnect does not lengthen it again.
    h.advance(500)
        .input(Input::Disconnect { budget_ms: 60_000 })
        .expect_idle();
    assert_eq!(h.next_timer(), Some((Timer::Drain, 1_000)));
    assert_eq!(h.fire_due_timers(), Timer::Drain);
    assert_eq!(h.elapsed_ms(), 2_540);
    h.expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("settle{r1, closed_ambiguous}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}

/// Keepalive every second, silence after 3 s, a 4 s drain grace, and a
/// `going_idle` answered within 2 s.
fn keepalive_config() -> relay_link::config::Config {
    config_builder()
        .ping_interval(Duration::from_secs(1))
        .idle_timeout(Duration::from_secs(3))
        .drain_grace(Duration::from_secs(4))
        .going_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("valid")
}

#[test]
fn a_drain_keeps_keepalive_and_stops_every_other_timer() {
    let mut h = handshaken_with(keepalive_config());
    h.input(Input::HoldRedial)
        .input(Input::GoIdle)
        .expect("send{gen:1, going_idle}")
        .input(send("r1", None))
        .expect("send{gen:1, outbound(r1, op:send)}")
        .input(Input::Disconnect { budget_ms: 60_000 })
        .expect_idle();
    // Pings (answered) every second until the drain grace ends at +4 040;
    // neither the going_idle timeout (+2 040) nor the hold fires.
    let mut fired = Vec::new();
    while h.link.state() != LinkState::Closed {
        let timer = h.fire_due_timers();
        fired.push((timer, h.elapsed_ms()));
        if timer == Timer::Ping {
            h.expect("ping{gen:1}").input(heard(1)).expect_idle();
        }
    }
    assert_eq!(
        fired,
        [
            (Timer::Ping, 1_020),
            (Timer::Ping, 2_020),
            (Timer::Ping, 3_020),
            (Timer::Ping, 4_020),
            (Timer::Drain, 4_040),
        ]
    );
    h.expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("settle{r1, closed_ambiguous}")
        .expect("idle_outcome{not_acked}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}

#[test]
fn silence_during_a_drain_ends_it_at_the_idle_timeout() {
    let mut h = draining(keepalive_config(), 60_000);
    for at in [1_020, 2_020, 3_020] {
        assert_eq!(h.fire_due_timers(), Timer::Ping);
        assert_eq!(h.elapsed_ms(), at);
        h.expect("ping{gen:1}").expect_idle();
    }
    // Nothing heard since the descriptor at +40: dead at +3 040.
    assert_eq!(h.fire_due_timers(), Timer::Idle);
    assert_eq!(h.elapsed_ms(), 3_040);
    h.expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("settle{r1, closed_ambiguous}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}

#[test]
fn a_go_dormant_and_a_go_idle_pending_together_go_dormant_in_either_order() {
    for (first, second) in [
        (Input::GoIdle, Input::GoDormant),
        (Input::GoDormant, Input::GoIdle),
    ] {
        let mut h = handshaken_with(config());
        h.input(first)
            .expect("send{gen:1, going_idle}")
            .input(second)
            .expect_idle()
            .input(received(1, &going_idle_ack()))
            .expect("idle_outcome{acked}")
            .expect("close{gen:1, 1000, \"dormant\"}")
            .expect("state(dormant)")
            .expect("platform(retrying)")
            .expect_idle();
        assert_eq!(h.next_timer(), Some((Timer::Redial, 1_000)));
    }
}

/// The backoff fires and re-dials at once: no hold is left.
fn backoff_redials(h: &mut Harness) {
    assert_eq!(h.fire_due_timers(), Timer::Backoff);
    h.expect("dial{gen:2, fresh_token}")
        .expect("state(connecting)")
        .expect_idle();
}

/// Requests time out after 2 s.
fn short_outbound_timeout() -> relay_link::config::Config {
    config_builder()
        .outbound_timeout(Duration::from_secs(2))
        .build()
        .expect("valid")
}

/// A link whose connection 1 dropped: retrying, with a backoff armed.
fn retrying() -> Harness {
    let mut h = handshaken_with(config());
    h.advance(1_000)
        .input(dropped(1))
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
    h
}

#[test]
fn go_idle_and_go_dormant_while_retrying_are_answered_at_once() {
    let mut h = retrying();
    h.input(Input::GoIdle)
        .expect("idle_outcome{not_acked}")
        .expect_idle()
        .input(Input::GoDormant)
        .expect("idle_outcome{not_acked}")
        .expect_idle();
    assert_eq!(h.link.state(), LinkState::Retrying);
}

#[test]
fn releasing_a_hold_while_retrying_lets_the_backoff_redial() {
    let mut h = retrying();
    h.input(Input::HoldRedial)
        .input(Input::ReleaseRedial)
        .expect_idle();
    backoff_redials(&mut h);
}

#[test]
fn a_hold_running_out_while_retrying_lets_the_backoff_redial() {
    let config = config_builder()
        .max_hold(Duration::from_millis(100))
        .build()
        .expect("valid");
    let mut h = handshaken_with(config);
    h.advance(1_000).input(dropped(1)).drain();
    h.input(Input::HoldRedial).expect_idle();
    // The backoff is at least 500 ms: the 100 ms hold runs out first.
    assert_eq!(h.fire_due_timers(), Timer::Hold);
    h.expect_idle();
    assert_eq!(h.link.state(), LinkState::Retrying);
    backoff_redials(&mut h);
}

#[test]
fn the_last_request_timing_out_during_a_drain_closes_at_once() {
    let mut h = draining(short_outbound_timeout(), 60_000);
    assert_eq!(h.next_timer(), Some((Timer::Outbound, 2_000)));
    assert_eq!(h.fire_due_timers(), Timer::Outbound);
    h.expect("settle{r1, timed_out}")
        .expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
    assert_eq!(h.next_timer(), None);
}

#[test]
fn a_request_timing_out_during_a_drain_with_others_pending_keeps_draining() {
    let mut h = handshaken_with(short_outbound_timeout());
    h.input(send("r1", None))
        .advance(1_000)
        .input(send("r2", None))
        .input(Input::Disconnect { budget_ms: 60_000 })
        .drain();
    assert_eq!(h.fire_due_timers(), Timer::Outbound);
    h.expect("settle{r1, timed_out}").expect_idle();
    assert_eq!(h.fire_due_timers(), Timer::Outbound);
    h.expect("settle{r2, timed_out}")
        .expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}

#[test]
fn go_idle_during_a_drain_writes_nothing_and_is_refused() {
    let mut h = draining(config(), 60_000);
    h.input(Input::GoIdle)
        .expect("idle_outcome{not_acked}")
        .expect_idle()
        .input(Input::GoDormant)
        .expect("idle_outcome{not_acked}")
        .expect_idle();
}

#[test]
fn go_idle_during_a_drain_shares_the_outcome_of_one_already_outstanding() {
    let mut h = handshaken_with(config());
    h.input(Input::GoIdle)
        .expect("send{gen:1, going_idle}")
        .input(send("r1", None))
        .expect("send{gen:1, outbound(r1, op:send)}")
        .input(Input::Disconnect { budget_ms: 60_000 })
        .expect_idle()
        // No answer yet: the ack may still come, and one answer serves both.
        .input(Input::GoIdle)
        .expect_idle()
        .input(received(1, &going_idle_ack()))
        .expect("idle_outcome{acked}")
        .expect_idle();
}

#[test]
fn a_drain_that_ends_first_answers_the_outstanding_going_idle_once() {
    let mut h = handshaken_with(config());
    h.input(Input::GoDormant)
        .expect("send{gen:1, going_idle}")
        .input(send("r1", None))
        .expect("send{gen:1, outbound(r1, op:send)}")
        .input(Input::Disconnect { budget_ms: 60_000 })
        .input(Input::GoDormant)
        .expect_idle()
        .input(received(1, &outbound_result("r1", serde_json::json!({}))))
        .expect("settle{r1, result {}}")
        .expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("idle_outcome{not_acked}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}

/// Runs `scenario` on its own thread; fails (instead of hanging the suite)
/// when it does not finish within `secs` seconds.
fn finishes_within<T: Send + 'static>(secs: u64, scenario: fn() -> T) -> T {
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(scenario());
    });
    outcome
        .recv_timeout(Duration::from_secs(secs))
        .expect("the scenario never finished: handle_timeout kept firing a due timer")
}

#[test]
fn a_due_request_is_settled_and_its_timer_consumed() {
    let commands = finishes_within(10, || {
        let mut h = handshaken_with(config());
        h.input(send("r1", None)).drain();
        // One wake-up past the ping (+30 020) and the deadline (+30 040).
        h.now = h.origin + Duration::from_millis(30_100);
        h.link.handle_timeout(h.now);
        (h.drain(), h.next_timer())
    });
    assert_eq!(
        commands,
        (
            vec!["ping{gen:1}".to_owned(), "settle{r1, timed_out}".to_owned()],
            Some((Timer::Idle, 29_940))
        )
    );
}

#[test]
fn interrupts_are_written_only_while_handshaken_and_counted_when_dropped() {
    let interrupt = || Input::Interrupt {
        session_key: "s1".into(),
        reason: Some("stop".into()),
    };
    let mut h = Harness::started(config());
    h.drain();
    h.input(interrupt()).expect_idle();
    assert_eq!(h.link.stats().dropped_interrupts, 1);
    h.advance(20).open(1).input(interrupt()).expect_idle();
    assert_eq!(h.link.stats().dropped_interrupts, 2);
    h.handshake(1).drain();
    h.input(interrupt())
        .expect("send{gen:1, interrupt(s1)}")
        .expect_idle();
    assert_eq!(h.link.stats().dropped_interrupts, 2);
    h.input(dropped(1)).drain();
    h.input(interrupt()).expect_idle();
    assert_eq!(h.link.stats().dropped_interrupts, 3);
}

/// The ladder's delay for the next dial failure, in ms from now.
fn next_backoff_after_a_failed_dial(h: &mut Harness, gen: u64) -> u64 {
    h.input(dial_failed_io(gen)).drain();
    match h.next_timer() {
        Some((Timer::Backoff, ms)) => ms,
        other => panic!("expected the backoff timer, got {other:?}"),
    }
}

#[test]
fn a_first_strike_on_a_stable_connection_resets_the_ladder_and_redials_at_once() {
    let mut h = Harness::started(config());
    h.drain();
    // Two failed dials climb the ladder to attempt 2 ([1 s, 2 s]).
    let first = next_backoff_after_a_failed_dial(&mut h, 1);
    assert!((500..=1_000).contains(&first), "{first}");
    assert_eq!(h.fire_due_timers(), Timer::Backoff);
    h.drain();
    let second = next_backoff_after_a_failed_dial(&mut h, 2);
    assert!((1_000..=2_000).contains(&second), "{second}");
    assert_eq!(h.fire_due_timers(), Timer::Backoff);
    h.drain();
    // Connection 3 handshakes and stays up past the 60 s stable window,
    // its pings answered.
    h.open(3).handshake(3).drain();
    while h.elapsed_ms() < 70_000 {
        if h.fire_due_timers() == Timer::Ping {
            h.input(heard(3));
        }
        h.drain();
    }
    assert_eq!(h.link.state(), LinkState::Handshaken);
    // A first strike: provisional, an immediate re-dial that draws nothing.
    h.input(closed(3, 4401, "unauthorized"));
    let commands = h.drain();
    assert!(
        commands.contains(&"dial{gen:4, fresh_token}".to_owned()),
        "{commands:?}"
    );
    // The stable connection's end reset the ladder: attempt 1 again.
    let third = next_backoff_after_a_failed_dial(&mut h, 4);
    assert!((500..=1_000).contains(&third), "{third}");
}
