//! The activity counters kind by kind and outcome by outcome, and the
//! names they are exported under, driven with injected time.

mod support;

use relay_link::{DialFailure, Generation, Input, IoFailure, LinkState};
use support::*;

fn io_failure(gen: u64, error: IoFailure) -> Input {
    Input::DialFailed {
        gen: Generation(gen),
        failure: DialFailure::Io {
            error,
            message: "x".into(),
        },
    }
}

/// Fires timers until the link dials again; returns the new generation.
fn redial(h: &mut Harness) -> u64 {
    for _ in 0..5 {
        if h.link.state() == LinkState::Connecting {
            break;
        }
        h.fire_due_timers();
    }
    assert_eq!(h.link.state(), LinkState::Connecting, "a new dial");
    h.drain();
    h.link.generation().0
}

/// Fires timers (answering keepalive pings on `gen`) until `done` holds.
fn run_until(h: &mut Harness, gen: u64, done: impl Fn(&Harness) -> bool) {
    for _ in 0..20 {
        if done(h) {
            return;
        }
        h.fire_due_timers();
        for command in h.drain() {
            if command == format!("ping{{gen:{gen}}}") {
                h.input(heard(gen));
            }
        }
    }
    assert!(done(h), "the condition never held");
}

#[test]
fn every_kind_of_dial_failure_is_counted_under_its_own_name() {
    let mut h = Harness::started(config());
    h.drain();
    // Each kind a different number of times, so that no two slots agree.
    let io_kinds = [
        (IoFailure::Refused, 1),
        (IoFailure::Dns, 2),
        (IoFailure::Tls, 3),
        (IoFailure::Reset, 4),
        (IoFailure::Timeout, 5),
        (IoFailure::Other, 6),
    ];
    let mut gen = 1;
    for (error, times) in io_kinds {
        for _ in 0..times {
            h.input(io_failure(gen, error));
            gen = redial(&mut h);
        }
    }
    // The link's own connect timer counts as a timeout too.
    assert_eq!(h.fire_due_timers().name(), "connect");
    gen = redial(&mut h);
    for _ in 0..7 {
        h.input(dial_failed_http(gen, 503));
        gen = redial(&mut h);
    }
    // Accepted and closed at once: a close.
    for _ in 0..7 {
        h.input(dial_refused(gen, 1011, "overloaded"));
        gen = redial(&mut h);
    }
    // A connection closed with 4401 is no dial failure; the revocation
    // of the fresh-token re-dial (a second 4401) is a close.
    h.open(gen).handshake(gen);
    h.drain();
    h.input(closed(gen, 4401, "unauthorized"));
    gen = redial(&mut h);
    h.input(dial_refused(gen, 4401, "revoked"));
    assert_eq!(h.link.state(), LinkState::Revoked);

    let counters = h.link.counters();
    assert_eq!(
        counters.dial_failures.by_kind(),
        [
            ("refused", 1),
            ("dns", 2),
            ("tls", 3),
            ("reset", 4),
            ("timeout", 6),
            ("http", 7),
            ("closed", 8),
            ("other", 6),
        ]
    );
    assert_eq!(counters.dial_failures.total(), 37);
    assert_eq!(counters.ended, 38, "every failed dial and the connection");
    assert_eq!(counters.dials, 38);
}

#[test]
fn a_connection_that_ends_counts_as_ended_but_not_as_a_dial_failure() {
    let mut h = Harness::handshaken(config());
    h.drain();
    h.input(closed(1, 1011, "overloaded"));
    let gen = redial(&mut h);
    h.open(gen).handshake(gen);
    h.drain();
    h.input(dropped(gen));
    let counters = h.link.counters();
    assert_eq!(counters.ended, 2);
    assert_eq!(counters.handshakes, 2);
    assert_eq!(counters.dial_failures.total(), 0);
}

#[test]
fn every_request_outcome_is_counted_under_its_own_name() {
    let config = config_builder()
        .max_frame_size(4096)
        .build()
        .expect("valid");
    let mut h = Harness::started(config);
    h.drain();
    h.input(send("early", None)); // not connected
    h.drain();
    h.open(1).handshake(1);
    h.drain();
    h.input(send("a", None));
    h.input(send("a", None)); // duplicate id
    h.input(send("b", None));
    h.input(send("b", None)); // duplicate id
    h.input(received(
        1,
        &outbound_result("a", serde_json::json!({"success": false})),
    ));
    h.input(Input::Send {
        id: "big".into(),
        action: serde_json::json!({"op": "send", "text": "x".repeat(5000)})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        platform: None,
    }); // too large
    run_until(&mut h, 1, |h| h.link.counters().requests.timed_out == 1); // b
    for id in ["c", "d", "e"] {
        h.input(send(id, None));
    }
    h.input(dropped(1)); // c, d, e lost
    let gen = redial(&mut h);
    h.open(gen).handshake(gen);
    h.drain();
    for id in ["f", "g", "h", "i"] {
        h.input(send(id, None));
    }
    h.input(Input::Disconnect { budget_ms: 1000 });
    for id in ["j", "k", "l", "m"] {
        h.input(send(id, None)); // closed: sent during the drain
    }
    // f, g, h, i: closed (ambiguous) when the drain gives up on them.
    run_until(&mut h, gen, |h| h.link.pending_requests() == 0);
    assert_eq!(h.link.state(), LinkState::Closed);
    let requests = h.link.counters().requests;
    assert_eq!(
        requests.by_outcome(),
        [
            ("result", 1),
            ("timed_out", 1),
            ("connection_lost", 3),
            ("not_connected", 1),
            ("closed", 8),
            ("duplicate_id", 2),
            ("too_large", 1),
        ]
    );
}

#[test]
fn every_io_failure_kind_is_named_as_traces_and_metrics_spell_it() {
    let names: Vec<&str> = IoFailure::ALL.iter().map(|kind| kind.name()).collect();
    assert_eq!(
        names,
        ["refused", "dns", "tls", "reset", "timeout", "other"]
    );
    for kind in IoFailure::ALL {
        assert_eq!(kind.to_string(), kind.name());
        assert_eq!(
            serde_json::to_value(kind).expect("serialises"),
            kind.name(),
            "the serde spelling"
        );
    }
}
