//! Outbound requests (issue 8, defects 7 and 8): a reused id gets its own
//! timeout, and a frame too large for the connector is refused unwritten.

mod support;

use serde_json::json;
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
