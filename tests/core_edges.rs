//! Edges of the core that no scenario crosses on its way: timer ties,
//! far-but-reachable deadlines, the ladder's sub-millisecond rule, and what
//! `Debug` shows of a link.

mod support;

use std::time::{Duration, Instant};

use relay_link::backoff::Backoff;
use relay_link::timers::HORIZON;
use relay_link::{Generation, Input, Link, LinkState, Timer};
use support::*;

const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

#[test]
fn a_table_timer_wins_a_tie_with_an_outbound_deadline() {
    let config = config_builder()
        .outbound_timeout(Duration::from_secs(30))
        .build()
        .expect("valid");
    let mut h = Harness::started(config);
    h.drain();
    // Open, handshake and send at the same instant: the ping and the
    // request are both due 30 s later.
    h.open(1).handshake(1).drain();
    h.input(send("r1", None)).drain();
    assert_eq!(h.next_timer(), Some((Timer::Ping, 30_000)));
    assert_eq!(h.fire_due_timers(), Timer::Ping);
    h.expect("ping{gen:1}")
        .expect("settle{r1, timed_out}")
        .expect_idle();
}

#[test]
fn a_delay_far_below_the_horizon_is_still_armed() {
    let fifty_years = 50 * YEAR;
    assert!(fifty_years < HORIZON);
    let config = config_builder()
        .backoff_base(fifty_years)
        .backoff_max(fifty_years)
        .build()
        .expect("valid");
    let mut h = Harness::handshaken(config);
    h.drain();
    h.input(dropped(1)).drain();
    let (timer, ms) = h.next_timer().expect("the backoff is armed");
    assert_eq!(timer, Timer::Backoff);
    let delay = Duration::from_millis(ms);
    assert!(
        delay >= fifty_years / 2 && delay <= fifty_years,
        "{delay:?}"
    );
    // It does fire, decades later.
    assert_eq!(h.fire_due_timers(), Timer::Backoff);
    h.expect("dial{gen:2, fresh_token}")
        .expect("state(connecting)")
        .expect_idle();
}

#[test]
fn a_ceiling_with_one_whole_millisecond_in_range_draws_that_millisecond() {
    // [0.75 ms, 1.5 ms] holds exactly one whole millisecond.
    let d = Duration::from_micros(1_500);
    for seed in 0..20 {
        let mut ladder = Backoff::new(d, d, seed);
        assert_eq!(ladder.next_delay(), Duration::from_millis(1), "seed {seed}");
    }
}

#[test]
fn a_ladder_reports_the_base_and_cap_it_was_built_with() {
    let ladder = Backoff::new(Duration::from_millis(250), Duration::from_secs(8), 3);
    assert_eq!(ladder.base(), Duration::from_millis(250));
    assert_eq!(ladder.cap(), Duration::from_secs(8));
}

#[test]
fn debug_of_a_link_names_its_state_and_generation_but_not_the_secret() {
    let mut link = Link::new(config(), 1, Instant::now());
    link.handle_input(Input::Start, Instant::now());
    let shown = format!("{link:?}");
    assert!(shown.starts_with("Link {"), "{shown}");
    assert!(shown.contains("state: Connecting"), "{shown}");
    assert!(shown.contains("generation: Generation(1)"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

/// Every request the application can make is answered at once.
fn expect_refusals(h: &mut Harness, id: &str) {
    h.input(Input::GoIdle)
        .expect("idle_outcome{not_acked}")
        .input(Input::GoDormant)
        .expect("idle_outcome{not_acked}")
        .input(send(id, None))
        .expect(&format!("settle{{{id}, closed}}"))
        .expect_idle();
}

#[test]
fn requests_in_a_terminal_state_are_refused_at_once() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(Input::Disconnect { budget_ms: 1_000 }).drain();
    expect_refusals(&mut h, "r1");

    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(closed(1, 4401, "unauthorized")).drain();
    h.open(2).input(closed(2, 4401, "unauthorized")).drain();
    assert_eq!(h.link.state(), relay_link::LinkState::Revoked);
    expect_refusals(&mut h, "r2");
    h.input(Input::FatalAcknowledged).drain();
    assert_eq!(h.link.state(), relay_link::LinkState::Disabled);
    expect_refusals(&mut h, "r3");
}

#[test]
fn a_disconnect_with_nothing_in_flight_closes_at_once() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(Input::Disconnect { budget_ms: 60_000 })
        .expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
    assert_eq!(h.next_timer(), None);
}

/// A handshaken link draining for a disconnect with `r1` in flight.
fn draining_r1() -> Harness {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(send("r1", None))
        .expect("send{gen:1, outbound(r1, op:send)}")
        .input(Input::Disconnect { budget_ms: 60_000 })
        .expect_idle();
    h
}

#[test]
fn the_last_result_during_a_drain_closes_at_once() {
    let mut h = draining_r1();
    h.advance(100)
        .input(received(1, &outbound_result("r1", serde_json::json!({}))))
        .expect("settle{r1, result {}}")
        .expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}

#[test]
fn the_socket_dropping_during_a_drain_ends_the_link_closed() {
    let mut h = draining_r1();
    h.advance(100)
        .input(dropped(1))
        .expect("settle{r1, closed_ambiguous}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
    assert_eq!(h.next_timer(), None);
}

#[test]
fn silence_for_the_idle_timeout_drops_the_connection() {
    let mut h = Harness::handshaken(config());
    h.drain();
    assert_eq!(h.fire_due_timers(), Timer::Ping);
    h.expect("ping{gen:1}").expect_idle();
    assert_eq!(h.fire_due_timers(), Timer::Ping);
    h.expect("ping{gen:1}").expect_idle();
    assert_eq!(h.fire_due_timers(), Timer::Idle);
    assert_eq!(h.elapsed_ms(), 60_040);
    h.expect("close{gen:1, 1001, \"idle timeout\"}")
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
}

#[test]
fn a_dial_that_takes_too_long_is_cancelled_and_backs_off() {
    let mut h = Harness::started(config());
    h.drain();
    assert_eq!(h.fire_due_timers(), Timer::Connect);
    assert_eq!(h.elapsed_ms(), 10_000);
    h.expect("cancel_dial{gen:1}")
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
}

#[test]
fn lines_after_a_dormant_ack_in_the_same_message_are_still_handled() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(send("r1", None))
        .expect("send{gen:1, outbound(r1, op:send)}")
        .input(Input::GoDormant)
        .expect("send{gen:1, going_idle}")
        .expect_idle();
    let message = going_idle_ack() + &outbound_result("r1", serde_json::json!({"ok": true}));
    h.advance(10)
        .input(received(1, &message))
        .expect("idle_outcome{acked}")
        .expect("settle{r1, result {\"ok\":true}}")
        .expect("close{gen:1, 1000, \"dormant\"}")
        .expect("state(dormant)")
        .expect("platform(retrying)")
        .expect_idle();
    assert_eq!(h.link.stats().unmatched_results, 0);
}

#[test]
fn a_message_larger_than_the_limit_closes_with_1009_even_when_each_line_fits() {
    let config = config_builder()
        .max_frame_size(1024)
        .build()
        .expect("valid");
    let mut h = Harness::handshaken(config);
    h.drain();
    let message = inbound(&"a".repeat(600), None) + &inbound(&"b".repeat(600), None);
    h.input(received(1, &message))
        .expect("close{gen:1, 1009, \"frame too large\"}");
    h.drain();
    assert_eq!(h.link.stats().oversized_frames, 1);
    assert_eq!(h.link.state(), LinkState::Retrying);
}

#[test]
fn a_message_of_one_line_of_the_maximum_length_and_its_newline_fits() {
    const LIMIT: usize = 4096;
    let padding = LIMIT - (inbound("", None).len() - 1);
    let line = inbound(&"x".repeat(padding), None);
    assert_eq!(line.len(), LIMIT + 1, "the line and its '\\n'");
    let config = config_builder()
        .max_frame_size(LIMIT)
        .build()
        .expect("valid");
    let mut h = Harness::handshaken(config);
    h.drain();
    let commands = h.input(received(1, &line)).drain();
    assert!(commands[0].starts_with("inbound{"), "{commands:?}");
    assert_eq!(h.link.stats().oversized_frames, 0);
    assert_eq!(h.link.state(), LinkState::Handshaken);
}

#[test]
fn a_protocol_error_during_a_drain_closes_with_1002() {
    let mut h = draining_r1();
    h.advance(100)
        .input(received(1, "{\"type\":\"descriptor\"}\n"))
        .expect("close{gen:1, 1002, \"protocol error\"}")
        .expect("settle{r1, closed_ambiguous}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}

#[test]
fn a_message_too_large_to_read_during_a_drain_closes_with_1009() {
    let mut h = draining_r1();
    h.advance(100)
        .input(Input::TooLarge { gen: Generation(1) })
        .expect("close{gen:1, 1009, \"frame too large\"}")
        .expect("settle{r1, closed_ambiguous}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}

#[test]
fn a_partial_line_outgrowing_the_limit_is_counted_once_and_closes_with_1009() {
    let config = config_builder()
        .max_frame_size(1024)
        .build()
        .expect("valid");
    let mut h = Harness::handshaken(config);
    h.drain();
    h.input(received(1, &"x".repeat(700)))
        .expect_idle()
        .input(received(1, &"y".repeat(700)))
        .expect("close{gen:1, 1009, \"frame too large\"}");
    h.drain();
    assert_eq!(h.link.stats().oversized_frames, 1);
}
