//! Outbound requests (issue 8, defects 7 and 8): a reused id gets its own
//! timeout, and a frame too large for the connector is refused unwritten.

mod support;

use relay_link::protocol::OutgoingFrame;
use relay_link::{Command, LinkState, Settlement};
use serde_json::{json, Map, Value};
use support::*;

fn handshaken() -> Harness {
    let mut h = Harness::handshaken(config());
    h.expect("state(handshaken)")
        .expect("platform(connected)")
        .expect_idle();
    h
}

/// Fires timers (answering keepalive pings) until request `id` settles;
/// returns when, and how.
fn run_until_settled(h: &mut Harness, id: &str) -> (u64, String) {
    for _ in 0..20 {
        h.fire_due_timers();
        for command in h.drain() {
            if command == "ping{gen:1}" {
                h.input(heard(1));
            } else if command.starts_with(&format!("settle{{{id}, ")) {
                return (h.elapsed_ms(), command);
            }
        }
    }
    panic!("{id} never settled");
}

#[test]
fn a_reused_request_id_gets_its_own_full_timeout() {
    let mut h = handshaken();
    assert_eq!(h.elapsed_ms(), 40);
    h.input(send("A", None))
        .expect("send{gen:1, outbound(A, op:send)}")
        .advance(1_000)
        .input(send("B", None))
        .expect("send{gen:1, outbound(B, op:send)}")
        .input(received(1, &outbound_result("B", json!({"ok": true}))))
        .expect("settle{B, result {\"ok\":true}}")
        .expect_idle();
    h.advance(19_000)
        .input(send("B", None))
        .expect("send{gen:1, outbound(B, op:send)}")
        .expect_idle();
    assert_eq!(
        run_until_settled(&mut h, "A"),
        (30_040, "settle{A, timed_out}".to_owned())
    );
    // The first B's deadline (+31 040) is gone with it.
    assert_eq!(
        run_until_settled(&mut h, "B"),
        (50_040, "settle{B, timed_out}".to_owned())
    );
}

/// An action whose outbound line (without its `\n`) is exactly `len` bytes.
fn action_of_line_length(id: &str, len: usize) -> Map<String, Value> {
    let line_len = |pad: usize| {
        let mut action = Map::new();
        action.insert("op".into(), Value::from("send"));
        action.insert("text".into(), Value::from("x".repeat(pad)));
        let frame = OutgoingFrame::Outbound {
            request_id: id.into(),
            action: action.clone(),
            platform: None,
            bot_id: None,
        };
        (frame.to_line().len() - 1, action)
    };
    let (empty, _) = line_len(0);
    let (exact, action) = line_len(len - empty);
    assert_eq!(exact, len);
    action
}

fn send_action(h: &mut Harness, id: &str, len: usize) {
    h.input(relay_link::Input::Send {
        id: id.into(),
        action: action_of_line_length(id, len),
        platform: None,
    });
}

#[test]
fn an_outbound_larger_than_the_frame_limit_is_refused_unwritten() {
    let limit = 4_096;
    let config = config_builder()
        .max_frame_size(limit)
        .build()
        .expect("valid");
    let mut h = Harness::handshaken(config);
    h.drain();
    send_action(&mut h, "big", limit + 1);
    let settlement = h.expect_command(|c| match c {
        Command::Settle { id, settlement } if id.as_str() == "big" => Some(settlement.clone()),
        _ => None,
    });
    h.expect_idle();
    assert_eq!(settlement, Settlement::TooLarge);
    assert!(!settlement.is_ambiguous());
    assert_eq!(
        settlement.to_json(),
        json!({"success": false, "error": "relay frame too large"})
    );
    assert_eq!(h.link.pending_requests(), 0);
    assert_eq!(h.link.state(), LinkState::Handshaken);

    // A line of exactly the limit is written.
    send_action(&mut h, "fits", limit);
    let written = h.expect_command(|c| match c {
        Command::Send { frame, .. } => Some(frame.to_line().len() - 1),
        _ => None,
    });
    h.expect_idle();
    assert_eq!(written, limit);
    assert_eq!(h.link.pending_requests(), 1);
}

#[test]
fn an_interrupt_larger_than_the_frame_limit_is_dropped_and_counted() {
    let config = config_builder().max_frame_size(256).build().expect("valid");
    let mut h = Harness::handshaken(config);
    h.drain();
    h.input(relay_link::Input::Interrupt {
        session_key: "s".repeat(300),
        reason: None,
    })
    .expect_idle();
    assert_eq!(h.link.stats().dropped_interrupts, 1);
    h.input(relay_link::Input::Interrupt {
        session_key: "s1".into(),
        reason: None,
    })
    .expect("send{gen:1, interrupt(s1)}")
    .expect_idle();
    assert_eq!(h.link.stats().dropped_interrupts, 1);
    assert_eq!(h.link.state(), LinkState::Handshaken);
}
