//! `relay-link connect`: events, results, signals, states, revocation and
//! credentials (contract §8).

use std::time::{Duration, Instant};

use base64::Engine as _;
use relay_link::command::{RELAY_DISABLED_CODE, RELAY_DISABLED_MESSAGE};
use relay_link::testing::Delivery;
use serde_json::{json, Value};

use crate::harness::*;

#[test]
fn json_mode_prints_every_delivery_kind_with_the_contract_fields() {
    let connector = connector();
    let offline = connector.push_inbound(
        GW,
        json!({"text": "while offline", "message_id": "m-1", "x_custom": {"kept": [1, 2]}}),
    );
    let Delivery::Buffered { buffer_id } = offline else {
        panic!("a push with no connection is buffered: {offline:?}");
    };
    let mut proc = Proc::connect(
        &connector,
        &["--identity", "discord:b1", "--identity", "slack:B2"],
    );

    let buffered = proc.wait_event("the buffered inbound", |e| e["event"] == "inbound");
    assert_eq!(buffered["buffer_id"], json!(buffer_id), "{buffered}");
    assert_eq!(buffered["message"]["text"], "while offline");
    assert_eq!(
        buffered["message"]["x_custom"],
        json!({"kept": [1, 2]}),
        "unknown event fields are kept: {buffered}"
    );
    wait_seen(&connector, "the ack of the printed delivery", |s| {
        s.acks == [buffer_id.clone()]
    });

    // Live deliveries go to a connection that has had its descriptor.
    let live = connector.push_inbound(
        GW,
        json!({"text": "live", "message_type": "text", "source": {"platform": "discord", "chat_id": "c-1", "x_src": true}}),
    );
    assert!(matches!(live, Delivery::Live { .. }), "{live:?}");
    let inbound = proc.wait_event("the live inbound", |e| e["event"] == "inbound");
    assert_eq!(inbound["buffer_id"], Value::Null, "{inbound}");
    assert_eq!(inbound["message"]["text"], "live");
    assert_eq!(inbound["message"]["source"]["x_src"], true, "{inbound}");

    let sent = connector.send_frame(
        GW,
        json!({"type": "interrupt_inbound", "session_key": "discord:c-1", "chat_id": "c-1"}),
    );
    assert_eq!(sent, 1);
    let interrupt = proc.wait_event("the interrupt", |e| e["event"] == "interrupt_inbound");
    assert_eq!(
        without_at_ms(&interrupt),
        json!({"event": "interrupt_inbound", "session_key": "discord:c-1", "chat_id": "c-1"})
    );

    let body = r#"{"type":"event_callback"}"#;
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    connector.push_passthrough(
        GW,
        json!({"platform": "slack", "botId": "B2", "method": "POST", "path": "/slack/events",
               "headers": [["content-type", "application/json"]], "bodyB64": b64,
               "profile": {"team": "T1"}, "x_forward": {"kept": true}}),
    );
    let passthrough = proc.wait_event("the passthrough", |e| e["event"] == "passthrough");
    assert_eq!(passthrough["buffer_id"], Value::Null, "{passthrough}");
    let forward = &passthrough["forward"];
    assert_eq!(forward["body_text"], body, "{passthrough}");
    assert_eq!(forward["body_b64"], b64, "{passthrough}");
    assert_eq!(forward["method"], "POST");
    assert_eq!(forward["path"], "/slack/events");
    assert_eq!(forward["platform"], "slack");
    assert_eq!(forward["botId"], "B2");
    assert_eq!(
        forward["headers"],
        json!([["content-type", "application/json"]])
    );
    assert_eq!(forward["profile"], json!({"team": "T1"}));
    assert_eq!(
        forward["x_forward"],
        json!({"kept": true}),
        "unknown forward fields are kept: {passthrough}"
    );

    proc.sigterm();
    let status = proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{}", proc.stderr());
    let events = proc.all_events();
    check_state_events(&events);
}

#[test]
fn outbound_results_are_exactly_the_settled_result() {
    let connector = connector();
    connector.set_result(
        "react",
        Some(json!({"success": true, "message_id": "m-9", "x_extra": {"n": 1}})),
    );
    connector.set_result("prompt", None);
    let mut proc = Proc::connect(
        &connector,
        &[
            "--identity",
            "discord:b1",
            "--identity",
            "slack:B2",
            "--outbound-timeout-ms",
            "300",
        ],
    );
    proc.wait_state("handshaken");

    proc.send_line(r#"{"op":"react","emoji":"👍","platform":"slack"}"#);
    let result = proc.wait_event("the react result", |e| e["event"] == "outbound_result");
    let id = result["request_id"]
        .as_str()
        .expect("request_id is a string");
    assert_eq!(
        result["result"],
        json!({"success": true, "message_id": "m-9", "x_extra": {"n": 1}}),
        "the connector's result, unchanged: {result}"
    );
    let seen = connector.seen();
    let frame = &seen
        .frames_of("outbound")
        .next()
        .expect("the outbound frame")
        .frame;
    assert_eq!(frame["requestId"], id, "the frame carries the printed id");
    assert_eq!(frame["platform"], "slack");
    assert_eq!(frame["botId"], "B2", "botId follows the hello'd identity");
    assert_eq!(
        frame["action"],
        json!({"op": "react", "emoji": "👍"}),
        "the platform key moved out of the action"
    );

    // Never answered: settled by the outbound timeout, ambiguous.
    proc.send_line(r#"{"op":"prompt","text":"?"}"#);
    let timed_out = proc.wait_event("the prompt result", |e| e["event"] == "outbound_result");
    assert_eq!(
        timed_out["result"],
        json!({"success": false, "error": "relay outbound timed out", "ambiguous": true})
    );
    assert_ne!(timed_out["request_id"], result["request_id"]);
    let keys: Vec<&String> = timed_out.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        4,
        "event, at_ms, request_id, result: {timed_out}"
    );

    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn a_non_json_stdin_line_is_reported_on_stderr_and_the_link_keeps_working() {
    let connector = connector();
    let mut proc = Proc::connect(&connector, &[]);
    proc.wait_state("handshaken");

    proc.send_line("this is not json");
    proc.send_line(r#"{"text":"no op"}"#);
    proc.send_line("");
    proc.send_line(r#"{"op":"send","text":"after the bad lines"}"#);
    let result = proc.wait_event("the valid line's result", |e| {
        e["event"] == "outbound_result"
    });
    assert_eq!(result["result"]["success"], true, "{result}");
    assert_eq!(
        result["result"]["echo"],
        json!({"op": "send", "text": "after the bad lines"})
    );
    let seen = connector.seen();
    assert_eq!(seen.frames_of("outbound").count(), 1, "only the valid line");
    // The default identity `relay:` has an empty bot id.
    let hello = &seen.frames_of("hello").next().expect("a hello").frame;
    assert_eq!(hello["platform"], "relay");
    assert_eq!(hello["botId"], "");

    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));
    let stderr = proc.stderr();
    assert!(
        stderr.contains("line 1") && stderr.contains("line 2"),
        "both bad lines are reported with their numbers: {stderr}"
    );
    assert!(
        !stderr.contains("line 3"),
        "a blank line is skipped silently"
    );
    assert_eq!(
        proc.all_events()
            .iter()
            .filter(|e| e["event"] == "outbound_result")
            .count(),
        1
    );
}

#[test]
fn sigterm_closes_the_link_with_1000_and_exits_0() {
    let connector = connector();
    // A base URL in http form with a trailing slash is normalised.
    let base = format!("http://{}/", connector.local_addr());
    let mut args = vec!["connect", "--json", "--url", &base, "--gateway-id", GW];
    args.extend_from_slice(FAST);
    args.extend_from_slice(&["--identity", "discord:b1"]);
    let mut proc = Proc::spawn(&args, Some(SECRET), None);
    proc.wait_state("handshaken");
    assert_eq!(connector.seen().dials[0].path, "/relay");
    let started = Instant::now();
    proc.sigterm();
    let status = proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{}", proc.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the disconnect is prompt against a live connector"
    );
    let seen = wait_seen(&connector, "the close frame", |s| !s.closes.is_empty());
    assert_eq!(seen.closes.len(), 1, "{:?}", seen.closes);
    assert_eq!(seen.closes[0].code, Some(1000));
    assert!(!seen.closes[0].in_reply, "the gateway closed first");
    let events = proc.all_events();
    check_state_events(&events);
    assert_eq!(
        state_pairs(&events),
        pairs(&[
            ("connecting", "connecting"),
            ("handshaken", "connected"),
            ("closed", "disconnected"),
        ])
    );
}

#[test]
fn state_lines_are_printed_once_per_change_in_order() {
    let connector = connector();
    let mut proc = Proc::connect(&connector, &["--identity", "discord:b1"]);
    proc.wait_state("handshaken");
    connector.drop_connections(GW);
    proc.wait_state("retrying");
    proc.wait_state("handshaken");
    connector.expire_token(GW);
    proc.wait_state("retrying");
    proc.wait_state("handshaken");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));
    let events = proc.all_events();
    check_state_events(&events);
    let reconnect = [
        ("retrying", "retrying"),
        ("connecting", "retrying"),
        ("handshaken", "connected"),
    ];
    let mut expected = vec![("connecting", "connecting"), ("handshaken", "connected")];
    expected.extend(reconnect);
    expected.extend(reconnect);
    expected.push(("closed", "disconnected"));
    assert_eq!(state_pairs(&events), pairs(&expected));
}

#[test]
fn revocation_prints_the_fatal_report_and_exits_3() {
    let connector = connector();
    let mut proc = Proc::connect(&connector, &["--identity", "discord:b1"]);
    proc.wait_state("handshaken");
    connector.revoke(GW);
    let status = proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(3), "{}", proc.stderr());
    let events = proc.all_events();
    check_state_events(&events);
    let fatals: Vec<Value> = events
        .iter()
        .filter(|e| e["event"] == "fatal")
        .map(without_at_ms)
        .collect();
    assert_eq!(
        fatals,
        [json!({
            "event": "fatal",
            "code": RELAY_DISABLED_CODE,
            "retryable": false,
            "message": "Relay disabled (opted out \u{2014} recreate the instance to re-enable)",
        })]
    );
    assert_eq!(RELAY_DISABLED_MESSAGE, fatals[0]["message"]);
    let states = state_pairs(&events);
    assert_eq!(
        states.last(),
        Some(&("disabled".to_owned(), "disabled".to_owned())),
        "{states:?}"
    );
    assert!(
        states.contains(&("revoked".to_owned(), "disabled".to_owned())),
        "{states:?}"
    );
    // First strike, one fresh-token re-dial refused, then nothing.
    let dials = connector.seen().dials.len();
    assert_eq!(dials, 2, "{:#?}", connector.seen().dials);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(connector.seen().dials.len(), dials, "no dial after exit");
}

#[test]
fn the_secret_and_tokens_never_appear_in_output_logs_or_the_trace() {
    let connector = connector();
    let trace = tmp("secret");
    let trace_arg = trace.to_string_lossy().into_owned();
    // Every log the binary has, so that a leak anywhere would show.
    let mut proc = Proc::connect_logged(
        &connector,
        &["--identity", "discord:b1", "--record", &trace_arg],
        Some("trace"),
    );
    proc.wait_state("handshaken");
    proc.send_line(r#"{"op":"send","text":"hi"}"#);
    proc.wait_event("the result", |e| e["event"] == "outbound_result");
    connector.drop_connections(GW);
    proc.wait_state("retrying");
    proc.wait_state("handshaken");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));

    let seen = connector.seen();
    assert_eq!(seen.dials.len(), 2);
    assert!(seen
        .dials
        .iter()
        .all(|d| d.auth_header_present && d.authorized));
    let stderr = proc.stderr();
    assert!(!stderr.is_empty(), "trace logging produced logs on stderr");
    assert_no_credentials("stderr", &stderr);
    assert_no_credentials("stdout", &proc.stdout.join("\n"));
    // Logs only on stderr: every stdout line is a JSON event.
    let events = proc.all_events();
    assert!(events.len() >= 5, "{events:?}");
    let recorded = std::fs::read_to_string(&trace).expect("the trace was written");
    assert_no_credentials("the recorded trace", &recorded);
    assert!(recorded.contains("\"auth\":true"), "the header says auth");
}

#[test]
fn sigterm_settles_an_unanswered_request_as_closed_before_exiting() {
    let connector = connector();
    connector.set_result("prompt", None);
    let mut proc = Proc::connect(
        &connector,
        &["--identity", "discord:b1", "--outbound-timeout-ms", "20000"],
    );
    proc.wait_state("handshaken");
    proc.send_line(r#"{"op":"prompt","text":"never answered"}"#);
    wait_seen(&connector, "the outbound frame", |s| {
        s.frames_of("outbound").count() == 1
    });
    proc.sigterm();
    let status = proc.wait_exit(Duration::from_secs(8));
    assert_eq!(status.code(), Some(0), "{}", proc.stderr());
    let events = proc.all_events();
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "outbound_result")
        .collect();
    assert_eq!(results.len(), 1, "{events:?}");
    assert_eq!(
        results[0]["result"],
        json!({"success": false, "error": "relay transport closed", "ambiguous": true})
    );
}

#[test]
fn sigterm_right_after_start_is_a_graceful_stop() {
    // A connector that never answers the upgrade keeps the link connecting.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    for _ in 0..5 {
        let mut proc = Proc::spawn(
            &["connect", "--json", "--url", &url, "--gateway-id", GW],
            Some(SECRET),
            None,
        );
        proc.wait_state("connecting");
        proc.sigterm();
        let status = proc.wait_exit(WAIT);
        assert_eq!(status.code(), Some(0), "{status:?}: {}", proc.stderr());
        let events = proc.all_events();
        assert_eq!(
            state_pairs(&events).last(),
            Some(&("closed".to_owned(), "disconnected".to_owned()))
        );
    }
}
