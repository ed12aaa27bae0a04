//! Why the link is where it is: `Link::cause`, `Link::retry_in` and the
//! activity counters, driven with injected time.

mod support;

use std::time::Duration;

use relay_link::cause::Phase;
use relay_link::{Cause, DialFailure, Generation, Input, IoFailure, LinkState};
use support::*;

/// A started link whose first dial is in flight (commands drained).
fn dialing() -> Harness {
    let mut h = Harness::started(config());
    h.drain();
    h
}

fn handshaken() -> Harness {
    let mut h = Harness::handshaken(config());
    h.drain();
    h
}

fn io_failure(gen: u64, error: IoFailure, message: &str) -> Input {
    Input::DialFailed {
        gen: Generation(gen),
        failure: DialFailure::Io {
            error,
            message: message.into(),
        },
    }
}

#[test]
fn a_fresh_link_has_no_cause() {
    let h = dialing();
    assert_eq!(h.link.state(), LinkState::Connecting);
    assert_eq!(h.link.cause(), None);
    assert_eq!(h.link.retry_in(), None);
}

#[test]
fn a_refused_dial_says_connection_refused_and_when_the_next_dial_is() {
    let mut h = dialing();
    h.advance(5)
        .input(io_failure(1, IoFailure::Refused, "os error 111"));
    assert_eq!(h.link.state(), LinkState::Retrying);
    let cause = h.link.cause().expect("a cause").clone();
    assert_eq!(
        cause,
        Cause::DialFailed {
            error: IoFailure::Refused,
            address: "connector.test:80".into(),
            message: "os error 111".into(),
        }
    );
    assert_eq!(cause.to_string(), "connection refused (connector.test:80)");
    let (timer, backoff_ms) = h.next_timer().expect("the backoff is armed");
    assert_eq!(timer.name(), "backoff");
    assert_eq!(
        h.link.retry_in(),
        Some(Duration::from_millis(backoff_ms)),
        "retry_in is the backoff's deadline"
    );
    h.advance(backoff_ms / 2);
    h.input(Input::Heard { gen: Generation(9) }); // a stale input moves the core's clock
    assert_eq!(
        h.link.retry_in(),
        Some(Duration::from_millis(backoff_ms - backoff_ms / 2))
    );
}

#[test]
fn the_cause_survives_the_redial_and_clears_on_the_handshake() {
    let mut h = dialing();
    h.input(io_failure(1, IoFailure::Reset, "reset"));
    h.fire_due_timers();
    assert_eq!(h.link.state(), LinkState::Connecting);
    assert!(
        matches!(
            h.link.cause(),
            Some(Cause::DialFailed {
                error: IoFailure::Reset,
                ..
            })
        ),
        "{:?}",
        h.link.cause()
    );
    assert_eq!(h.link.retry_in(), None, "a dial is in flight");
    h.drain();
    h.open(2).handshake(2);
    assert_eq!(h.link.state(), LinkState::Handshaken);
    assert_eq!(h.link.cause(), None);
}

#[test]
fn a_rejected_upgrade_says_its_http_status() {
    let mut h = dialing();
    h.input(dial_failed_http(1, 503));
    assert_eq!(
        h.link.cause(),
        Some(&Cause::Rejected {
            status: 503,
            address: "connector.test:80".into()
        })
    );
}

#[test]
fn each_timer_that_gives_up_is_named_with_its_timeout() {
    let mut h = dialing();
    assert_eq!(h.fire_due_timers().name(), "connect");
    let connect_ms = config().connect_timeout().as_millis() as u64;
    assert_eq!(
        h.link.cause(),
        Some(&Cause::TimedOut {
            phase: Phase::Connect,
            after_ms: connect_ms
        })
    );

    let mut h = dialing();
    h.open(1);
    assert_eq!(h.fire_due_timers().name(), "handshake");
    assert!(matches!(
        h.link.cause(),
        Some(Cause::TimedOut {
            phase: Phase::Handshake,
            ..
        })
    ));

    let mut h = handshaken();
    let idle_ms = config().idle_timeout().as_millis() as u64;
    while h.link.state() == LinkState::Handshaken {
        h.fire_due_timers();
        h.drain();
    }
    assert_eq!(
        h.link.cause(),
        Some(&Cause::TimedOut {
            phase: Phase::Idle,
            after_ms: idle_ms
        })
    );
}

#[test]
fn a_close_from_the_connector_carries_its_code_and_reason() {
    let mut h = handshaken();
    h.input(closed(1, 1011, "overloaded"));
    assert_eq!(
        h.link.cause(),
        Some(&Cause::Closed {
            code: 1011,
            reason: "overloaded".into()
        })
    );
    assert_eq!(h.link.state(), LinkState::Retrying);
}

#[test]
fn a_drop_without_a_close_frame_is_a_lost_connection() {
    let mut h = handshaken();
    h.input(dropped(1));
    assert!(matches!(h.link.cause(), Some(Cause::Lost { .. })));
}

#[test]
fn a_protocol_error_names_what_was_wrong() {
    let mut h = handshaken();
    let bad = r#"{"type":"descriptor","descriptor":{"contract_version":1,"platform":"discord"}}"#;
    h.input(received(1, &format!("{bad}\n")));
    let Some(Cause::ProtocolError { message }) = h.link.cause() else {
        panic!("a protocol error: {:?}", h.link.cause());
    };
    assert!(message.contains("descriptor"), "{message}");
    assert_eq!(h.link.state(), LinkState::Retrying);
}

#[test]
fn an_oversized_message_is_too_large() {
    let mut h = handshaken();
    h.input(Input::TooLarge { gen: Generation(1) });
    assert_eq!(h.link.cause(), Some(&Cause::TooLarge));
}

#[test]
fn a_provisional_4401_names_the_close_and_the_revocation_names_the_second() {
    let mut h = handshaken();
    h.input(closed(1, 4401, "unauthorized"));
    assert_eq!(
        h.link.state(),
        LinkState::Connecting,
        "the fresh-token re-dial"
    );
    assert_eq!(
        h.link.cause(),
        Some(&Cause::Closed {
            code: 4401,
            reason: "unauthorized".into()
        })
    );
    h.drain();
    h.input(dial_refused(2, 4401, "revoked"));
    assert_eq!(h.link.state(), LinkState::Revoked);
    let revoked = Cause::Revoked {
        code: 4401,
        reason: "revoked".into(),
    };
    assert_eq!(h.link.cause(), Some(&revoked));
    h.input(Input::FatalAcknowledged);
    assert_eq!(h.link.state(), LinkState::Disabled);
    assert_eq!(h.link.cause(), Some(&revoked), "disabled keeps the reason");
}

#[test]
fn a_disconnect_is_the_application_s_own_doing() {
    let mut h = handshaken();
    h.input(Input::Disconnect { budget_ms: 1000 });
    assert_eq!(h.link.state(), LinkState::Closed);
    assert_eq!(h.link.cause(), Some(&Cause::Disconnected));
    assert!(!Cause::Disconnected.is_failure());

    let mut h = dialing();
    h.input(io_failure(1, IoFailure::Refused, "x"));
    h.input(Input::Disconnect { budget_ms: 1000 });
    assert_eq!(h.link.cause(), Some(&Cause::Disconnected));
}

#[test]
fn going_dormant_says_so_and_when_it_wakes() {
    let mut h = handshaken();
    h.input(Input::GoDormant).drain();
    h.input(received(1, &going_idle_ack()));
    assert_eq!(h.link.state(), LinkState::Dormant);
    assert_eq!(h.link.cause(), Some(&Cause::Dormant));
    assert_eq!(h.link.retry_in(), Some(config().dormant_redial()));
}

#[test]
fn the_counters_count_dials_handshakes_frames_failures_and_outcomes() {
    let mut h = dialing();
    h.input(io_failure(1, IoFailure::Refused, "x"));
    h.fire_due_timers(); // dial 2
    h.input(dial_failed_http(2, 502));
    h.fire_due_timers(); // dial 3
    h.fire_due_timers(); // its connect timeout
    h.fire_due_timers(); // dial 4
    h.drain();
    h.open(4).handshake(4);
    h.drain();
    h.input(send("r1", None));
    h.input(received(
        4,
        &outbound_result("r1", serde_json::json!({"success": true})),
    ));
    h.input(send("r2", None));
    h.input(dropped(4)); // r2 lost
    h.input(send("r3", None)); // not connected
    let counters = h.link.counters();
    assert_eq!(counters.dials, 4);
    assert_eq!(counters.handshakes, 1);
    assert_eq!(counters.frames_received, 2, "the descriptor and the result");
    let failures = counters.dial_failures;
    assert_eq!(
        (
            failures.refused,
            failures.http,
            failures.timeout,
            failures.total()
        ),
        (1, 1, 1, 3)
    );
    let requests = counters.requests;
    assert_eq!(
        (
            requests.result,
            requests.connection_lost,
            requests.not_connected
        ),
        (1, 1, 1)
    );
}

#[test]
fn a_stale_input_changes_neither_the_cause_nor_the_counters() {
    let mut h = dialing();
    h.input(io_failure(1, IoFailure::Refused, "x"));
    let cause = h.link.cause().cloned();
    let counters = h.link.counters();
    h.input(dial_failed_http(1, 500));
    h.input(dropped(1));
    assert_eq!(h.link.cause().cloned(), cause);
    assert_eq!(h.link.counters(), counters);
}

#[test]
fn an_io_failure_of_an_old_trace_reads_as_other_and_other_is_not_written() {
    let old =
        r#"{"input":"dial_failed","gen":1,"failure":{"kind":"io","message":"connection refused"}}"#;
    let input: Input = serde_json::from_str(old).expect("an old trace line reads");
    assert_eq!(input, io_failure(1, IoFailure::Other, "connection refused"));
    assert_eq!(serde_json::to_string(&input).expect("serialises"), old);

    let refused = io_failure(1, IoFailure::Refused, "x");
    let line = serde_json::to_string(&refused).expect("serialises");
    assert!(line.contains(r#""error":"refused""#), "{line}");
    let back: Input = serde_json::from_str(&line).expect("reads back");
    assert_eq!(back, refused);
}
