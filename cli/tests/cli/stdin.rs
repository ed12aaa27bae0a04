//! Stdin lines around the first handshake (contract §8, Standard input):
//! before it they wait (at most the outbound timeout), after it a line sent
//! during an outage fails at once.

use relay_link::testing::Connector;
use serde_json::{json, Value};

use crate::harness::*;

/// A `connect` whose connector answers no `hello` (so the link stays
/// connecting until released), with `line` already on its stdin.
fn before_the_handshake(outbound_timeout_ms: &str, line: &str) -> (Connector, Proc) {
    let connector = connector();
    connector.withhold_descriptor(GW, true);
    let mut proc = Proc::connect(&connector, &["--outbound-timeout-ms", outbound_timeout_ms]);
    proc.send_line(line);
    (connector, proc)
}

/// The settled result of a send while the link is not handshaken.
fn not_connected() -> Value {
    json!({"success": false, "error": "relay transport not connected"})
}

#[test]
fn a_line_piped_before_the_first_handshake_waits_for_it_and_is_sent() {
    // The link is still connecting when the line is read, and stays so
    // until released.
    let (connector, mut proc) = before_the_handshake("20000", r#"{"op":"send","text":"piped"}"#);
    proc.close_stdin();
    wait_seen(&connector, "the first hello", |s| {
        s.frames_of("hello").count() == 1
    });
    connector.withhold_descriptor(GW, false);
    connector.drop_connections(GW);

    let result = proc.wait_event("the piped line's result", |e| {
        e["event"] == "outbound_result"
    });
    assert_eq!(
        result["result"],
        json!({"success": true, "echo": {"op": "send", "text": "piped"}}),
        "{result}"
    );
    let seen = connector.seen();
    let outbound: Vec<_> = seen.frames_of("outbound").collect();
    assert_eq!(outbound.len(), 1, "{outbound:?}");
    assert_eq!(outbound[0].frame["requestId"], result["request_id"]);
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
    let events = proc.all_events();
    let handshaken = events
        .iter()
        .position(|e| e["state"] == "handshaken")
        .expect("a handshake");
    let settled = events
        .iter()
        .position(|e| e["event"] == "outbound_result")
        .expect("the result");
    assert!(handshaken < settled, "sent after the handshake: {events:?}");
}

#[test]
fn echo_into_connect_against_the_connector_subcommand_sends_the_line() {
    let secrets = format!("{GW}={SECRET}");
    let mut served = Proc::spawn_with_env(
        &["connector", "--listen", "127.0.0.1:0"],
        &[("RELAY_LINK_CONNECTOR_SECRETS", &secrets)],
    );
    let listening = served.wait_line("the connector's url", |l| l.contains(" url "));
    let url = listening
        .split(" url ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a url after \"url \"")
        .to_owned();

    let mut args = vec!["connect", "--json", "--url", &url, "--gateway-id", GW];
    args.extend_from_slice(FAST);
    let mut proc = Proc::spawn(&args, Some(SECRET), None);
    proc.send_line(r#"{"op":"send","text":"echoed"}"#);
    proc.close_stdin();
    let result = proc.wait_event("the line's result", |e| e["event"] == "outbound_result");
    assert_eq!(
        result["result"],
        json!({"success": true, "echo": {"op": "send", "text": "echoed"}}),
        "{result}"
    );
    served.wait_line("the connector's log of the frame", |l| {
        l == format!("{GW} sent outbound")
    });
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
}

#[test]
fn a_line_waits_for_the_first_handshake_no_longer_than_the_outbound_timeout() {
    let (connector, mut proc) =
        before_the_handshake("300", r#"{"op":"send","text":"never handshaken"}"#);
    let result = proc.wait_event("the line's result", |e| e["event"] == "outbound_result");
    assert_eq!(result["result"], not_connected(), "{result}");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
    assert_eq!(connector.seen().frames_of("outbound").count(), 0);
    let events = proc.all_events();
    assert!(
        !events.iter().any(|e| e["state"] == "handshaken"),
        "{events:?}"
    );
}

#[test]
fn after_the_first_handshake_a_line_sent_during_an_outage_fails_at_once() {
    let connector = connector();
    // A long outbound timeout: a line held back for the next handshake
    // would miss the harness's deadline instead of settling.
    let mut proc = Proc::connect(&connector, &["--outbound-timeout-ms", "20000"]);
    proc.wait_state("handshaken");
    // The outage: the next connections never get their descriptor.
    connector.withhold_descriptor(GW, true);
    connector.drop_connections(GW);
    proc.wait_state("retrying");
    wait_seen(&connector, "the reconnect's hello", |s| {
        s.frames_of("hello").count() == 2
    });

    proc.send_line(r#"{"op":"send","text":"during the outage"}"#);
    let result = proc.wait_event("the line's result", |e| e["event"] == "outbound_result");
    assert_eq!(result["result"], not_connected(), "{result}");
    assert_eq!(connector.seen().frames_of("outbound").count(), 0);
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
    let results = proc
        .all_events()
        .iter()
        .filter(|e| e["event"] == "outbound_result")
        .count();
    assert_eq!(results, 1, "settled once");
}

#[test]
fn a_signal_settles_a_line_still_waiting_for_the_first_handshake_as_closed() {
    let (connector, mut proc) =
        before_the_handshake("20000", r#"{"op":"send","text":"too early"}"#);
    wait_seen(&connector, "the hello", |s| {
        s.frames_of("hello").count() == 1
    });
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
    let results: Vec<Value> = proc
        .all_events()
        .into_iter()
        .filter(|e| e["event"] == "outbound_result")
        .collect();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(
        results[0]["result"],
        json!({"success": false, "error": "relay transport closed"})
    );
    assert_eq!(connector.seen().frames_of("outbound").count(), 0);
}

#[test]
fn a_line_that_is_not_utf8_is_skipped_with_a_message_and_later_lines_are_sent() {
    let connector = connector();
    let mut proc = Proc::connect(&connector, &[]);
    proc.wait_state("handshaken");
    proc.send_bytes(b"\xff\xfe{\"op\":\"send\"}\n");
    proc.send_line(r#"{"op":"send","text":"after"}"#);
    proc.wait_stderr("stdin line 1 skipped: not valid UTF-8");
    let result = proc.wait_event("the later line's result", |e| {
        e["event"] == "outbound_result"
    });
    assert_eq!(result["result"]["success"], true, "{result}");
    let sent: Vec<Value> = connector
        .seen()
        .frames_of("outbound")
        .map(|f| f.frame.clone())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["action"]["text"], "after");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
}

#[test]
fn a_signal_ends_the_process_even_while_stdin_keeps_flowing() {
    let connector = connector();
    let mut proc = Proc::connect(&connector, &[]);
    proc.wait_state("handshaken");
    proc.sigterm();
    // A producer writing a line every 20 ms must not keep it alive: each
    // late line settles at once, which used to restart the final wait.
    let end = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = proc.try_exit() {
            break status;
        }
        assert!(
            std::time::Instant::now() < end,
            "still running {WAIT:?} after the signal while stdin flows"
        );
        proc.try_send_line(r#"{"op":"send","text":"more"}"#);
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", proc.stderr());
}
