//! Durations too long to add to an instant (defect 2 of issue 8): the
//! builder accepts `Duration::MAX` for every timing, and the core reads such
//! a deadline as "never" instead of panicking.

mod support;

use std::time::Duration;

use relay_link::{LinkState, Timer};
use support::*;

#[test]
fn an_unbounded_backoff_never_redials_and_does_not_panic() {
    let config = config_builder()
        .backoff_base(Duration::MAX)
        .backoff_max(Duration::MAX)
        .build()
        .expect("valid");
    let mut h = Harness::handshaken(config);
    h.drain();
    h.advance(1_000)
        .input(dropped(1))
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
    // The delay lies beyond any instant: no timer, so no re-dial, ever.
    assert_eq!(h.next_timer(), None);
    h.input(relay_link::Input::Disconnect { budget_ms: 1_000 })
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}

#[test]
fn an_unbounded_redial_hold_parks_the_redial_until_released() {
    let config = config_builder()
        .max_hold(Duration::MAX)
        .build()
        .expect("valid");
    let mut h = Harness::handshaken(config);
    h.drain();
    h.input(relay_link::Input::HoldRedial).expect_idle();
    // Keepalive is all that is armed: the hold never runs out by itself.
    assert_eq!(h.next_timer(), Some((Timer::Ping, 29_980)));
    h.advance(1_000)
        .input(dropped(1))
        .expect("state(retrying)")
        .expect("platform(retrying)")
        .expect_idle();
    assert_eq!(h.fire_due_timers(), Timer::Backoff);
    h.expect("state(held)").expect_idle();
    assert_eq!(h.next_timer(), None);
    h.input(relay_link::Input::ReleaseRedial)
        .expect("dial{gen:2, fresh_token}")
        .expect("state(connecting)")
        .expect_idle();
}

#[test]
fn every_timing_at_its_maximum_leaves_nothing_armed_and_nothing_expires() {
    let max = Duration::MAX;
    let config = config_builder()
        .backoff_base(max)
        .backoff_max(max)
        .stable_after(max)
        .connect_timeout(max)
        .handshake_timeout(max)
        .outbound_timeout(max)
        .ping_interval(max - Duration::from_nanos(1))
        .idle_timeout(max)
        .going_idle_timeout(max)
        .dormant_redial(max)
        .max_hold(max)
        .drain_grace(max)
        .build()
        .expect("valid");
    let mut h = Harness::started(config);
    h.drain();
    assert_eq!(h.next_timer(), None, "connect timeout");
    h.advance(10).open(1);
    assert_eq!(h.next_timer(), None, "handshake, ping and idle");
    h.handshake(1)
        .expect("state(handshaken)")
        .expect("platform(connected)")
        .input(send("r1", None))
        .expect("send{gen:1, outbound(r1, op:send)}")
        .input(relay_link::Input::GoIdle)
        .expect("send{gen:1, going_idle}")
        .input(relay_link::Input::HoldRedial)
        .expect_idle();
    assert_eq!(h.next_timer(), None, "outbound, going_idle and hold");
    // A disconnect with an unbounded budget drains for as long as it takes.
    h.input(relay_link::Input::Disconnect {
        budget_ms: u64::MAX,
    })
    .expect_idle();
    assert_eq!(h.next_timer(), None, "drain");
    assert_eq!(h.link.state(), LinkState::Handshaken);
    // A second, bounded disconnect tightens it.
    h.input(relay_link::Input::Disconnect { budget_ms: 2_000 })
        .expect_idle();
    assert_eq!(h.next_timer(), Some((Timer::Drain, 1_500)));
    assert_eq!(h.fire_due_timers(), Timer::Drain);
    h.expect("close{gen:1, 1000, \"disconnect\"}")
        .expect("settle{r1, closed_ambiguous}")
        .expect("idle_outcome{not_acked}")
        .expect("state(closed)")
        .expect("platform(disconnected)")
        .expect_idle();
}
