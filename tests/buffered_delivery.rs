//! The dedupe ledger of buffered deliveries (issue 8, defect 6): entries
//! awaiting acceptance are never evicted, and `bufferId`s are short.

mod support;

use relay_link::config::{MAX_BUFFER_ID_LEN, MAX_UNACCEPTED_DELIVERIES};
use support::*;

/// A handshaken link whose ledger remembers `capacity` ids.
fn handshaken_with_capacity(capacity: usize) -> Harness {
    let config = config_builder()
        .dedupe_capacity(capacity)
        .build()
        .expect("valid");
    let mut h = Harness::handshaken(config);
    h.expect("state(handshaken)")
        .expect("platform(connected)")
        .expect_idle();
    h
}

#[test]
fn a_delivery_awaiting_acceptance_is_never_evicted_by_newer_ids() {
    let mut h = handshaken_with_capacity(2);
    for id in ["b1", "b2", "b3"] {
        h.input(received(1, &inbound("hi", Some(id))))
            .expect(&format!("inbound{{buffer:{id}, \"hi\"}}"))
            .expect_idle();
    }
    // b1 is still remembered: its acceptance is acked.
    h.input(accepted("b1"))
        .expect("send{gen:1, inbound_ack(b1)}")
        .expect_idle();
    // A redelivery of b1 is acked again, not delivered twice.
    h.input(received(1, &inbound("hi", Some("b1"))))
        .expect("send{gen:1, inbound_ack(b1)}")
        .expect_idle();
    // b2 still awaits acceptance: its redelivery is dropped silently.
    h.input(received(1, &inbound("hi", Some("b2"))))
        .expect_idle();
    assert_eq!(h.link.stats().duplicate_deliveries, 2);
}

#[test]
fn accepted_ids_past_the_capacity_are_forgotten_oldest_first() {
    let mut h = handshaken_with_capacity(2);
    for id in ["b1", "b2", "b3"] {
        h.input(received(1, &passthrough("/hook", Some(id))))
            .expect(&format!("passthrough{{buffer:{id}, POST /hook}}"))
            .input(accepted(id))
            .expect(&format!("send{{gen:1, inbound_ack({id})}}"))
            .expect_idle();
    }
    // b1 was the oldest accepted id: forgotten, so delivered again.
    h.input(received(1, &passthrough("/hook", Some("b1"))))
        .expect("passthrough{buffer:b1, POST /hook}")
        .expect_idle();
    // b3 is remembered: acked again, not delivered.
    h.input(received(1, &passthrough("/hook", Some("b3"))))
        .expect("send{gen:1, inbound_ack(b3)}")
        .expect_idle();
}

#[test]
fn past_the_bound_of_unaccepted_deliveries_new_ids_are_deferred_not_acked() {
    let mut h = handshaken_with_capacity(2);
    for n in 0..MAX_UNACCEPTED_DELIVERIES {
        h.input(received(1, &inbound("hi", Some(&format!("u{n}")))));
    }
    assert_eq!(h.drain().len(), MAX_UNACCEPTED_DELIVERIES);
    // One more is neither delivered nor acked: the connector keeps it.
    h.input(received(1, &inbound("late", Some("extra"))))
        .expect_idle();
    assert_eq!(h.link.stats().deferred_deliveries, 1);
    // Live deliveries are not held back.
    h.input(received(1, &inbound("live", None)))
        .expect("inbound{buffer:-, \"live\"}")
        .expect_idle();
    // Once one is accepted there is room again.
    h.input(accepted("u0"))
        .expect("send{gen:1, inbound_ack(u0)}")
        .input(received(1, &inbound("late", Some("extra"))))
        .expect("inbound{buffer:extra, \"late\"}")
        .expect_idle();
    assert_eq!(h.link.stats().deferred_deliveries, 1);
    assert_eq!(h.link.stats().duplicate_deliveries, 0);
}

#[test]
fn a_buffer_id_longer_than_the_limit_is_a_malformed_frame() {
    let mut h = handshaken_with_capacity(8);
    let longest = "b".repeat(MAX_BUFFER_ID_LEN);
    let too_long = "b".repeat(MAX_BUFFER_ID_LEN + 1);
    h.input(received(1, &inbound("hi", Some(&too_long))))
        .input(received(1, &passthrough("/hook", Some(&too_long))))
        .expect_idle();
    assert_eq!(h.link.stats().malformed_lines, 2);
    h.input(received(1, &inbound("hi", Some(&longest))))
        .expect(&format!("inbound{{buffer:{longest}, \"hi\"}}"))
        .expect_idle();
    assert_eq!(h.link.stats().malformed_lines, 2);
}
