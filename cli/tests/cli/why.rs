//! `relay-link connect` says why (contract §8): the timeline's retry line
//! has the delay and the cause, `--json` state lines carry `reason` and
//! `retry_in_ms`, and a revoked link's disabled line has its cause.

use serde_json::{json, Value};

use crate::harness::*;

/// A `ws://` URL of a loopback port where nothing listens (bound for a
/// moment to find a free one, then released).
fn dead_url() -> (String, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("its address").to_string();
    drop(listener);
    (format!("ws://{address}"), address)
}

/// `connect` (human timeline unless `json`) against `url`, with the fast
/// timings.
fn connect_to(url: &str, json: bool) -> Proc {
    let mut args = vec!["connect", "--url", url, "--gateway-id", GW];
    if json {
        args.push("--json");
    }
    args.extend_from_slice(FAST);
    Proc::spawn(&args, Some(SECRET), None)
}

/// Whether `text` starts with a delay as the timeline writes it:
/// `266 ms`, `1.2 s` or `10 s`.
fn starts_with_a_delay(text: &str) -> bool {
    let Some((number, rest)) = text.split_once(' ') else {
        return false;
    };
    let unit_ok = rest.starts_with("ms:") || rest.starts_with("s:");
    let digits = number.chars().all(|c| c.is_ascii_digit() || c == '.');
    unit_ok && digits && number.chars().next().is_some_and(|c| c.is_ascii_digit())
}

#[test]
fn a_refused_dial_prints_the_retry_line_with_the_delay_and_the_cause() {
    let (url, address) = dead_url();
    let mut proc = connect_to(&url, false);
    let line = proc.wait_line("the retry line", |l| l.contains("retrying in "));
    let after = line
        .split("retrying in ")
        .nth(1)
        .expect("the text after the mark");
    assert!(starts_with_a_delay(after), "no delay in {line:?}");
    assert!(
        line.contains(&format!(": connection refused ({address})")),
        "{line:?}"
    );
    assert!(line.contains('↻'), "the retry mark: {line:?}");
    // Every retry says so, not only the first.
    let second = proc.wait_line("the second retry line", |l| l.contains("retrying in "));
    assert!(second.contains("connection refused"), "{second:?}");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
    let closed = proc.stdout.last().cloned().unwrap_or_default();
    assert!(
        closed.contains("closed") && closed.contains("disconnected on request"),
        "the closed line says why: {closed:?}"
    );
}

#[test]
fn json_state_lines_carry_the_reason_and_the_retry_delay() {
    let (url, address) = dead_url();
    let mut proc = connect_to(&url, true);
    let first = proc.wait_state("connecting");
    assert!(
        first.get("reason").is_none() && first.get("retry_in_ms").is_none(),
        "nothing went wrong yet, so no reason and no delay: {first}"
    );
    let retrying = proc.wait_state("retrying");
    assert_eq!(
        retrying["reason"],
        json!({"kind": "dial_failed", "error": "refused", "address": address,
               "message": retrying["reason"]["message"]}),
        "{retrying}"
    );
    assert!(retrying["reason"]["message"].is_string(), "{retrying}");
    let delay = retrying["retry_in_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("retry_in_ms is an integer: {retrying}"));
    // FAST caps the backoff at 200 ms: the delay is in milliseconds.
    assert!(delay > 0 && delay <= 200, "{retrying}");
    let redial = proc.wait_state("connecting");
    assert_eq!(
        redial["reason"], retrying["reason"],
        "the re-dial carries the failure it follows: {redial}"
    );
    assert!(redial.get("retry_in_ms").is_none(), "{redial}");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
    let events = proc.all_events();
    check_state_events(&events);
    let closed = events.last().expect("the closed line");
    assert_eq!(closed["state"], "closed", "{closed}");
    assert_eq!(
        closed["reason"],
        json!({"kind": "disconnected"}),
        "{closed}"
    );
    assert!(closed.get("retry_in_ms").is_none(), "{closed}");
}

#[test]
fn a_drop_and_an_expired_token_say_why_the_link_retries() {
    let connector = connector();
    let mut proc = Proc::connect(&connector, &["--identity", "discord:b1"]);
    let handshaken = proc.wait_state("handshaken");
    assert!(handshaken.get("reason").is_none(), "{handshaken}");
    connector.expire_token(GW);
    let retrying = proc.wait_state("retrying");
    assert_eq!(
        retrying["reason"],
        json!({"kind": "closed", "code": 4401, "reason": "expired"}),
        "{retrying}"
    );
    assert!(retrying["retry_in_ms"].is_u64(), "{retrying}");
    let handshaken = proc.wait_state("handshaken");
    assert!(
        handshaken.get("reason").is_none() && handshaken.get("retry_in_ms").is_none(),
        "{handshaken}"
    );
    connector.drop_connections(GW);
    let retrying = proc.wait_state("retrying");
    assert_eq!(retrying["reason"]["kind"], "lost", "{retrying}");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0), "{}", proc.stderr());
    check_state_events(&proc.all_events());
}

/// The revoked link's `revoked` and `disabled` lines, in the timeline
/// and as `--json`.
fn revoked(json: bool) -> Proc {
    let connector = connector();
    let url = connector.url();
    let mut args = vec!["connect", "--url", &url, "--gateway-id", GW];
    if json {
        args.push("--json");
    }
    args.extend_from_slice(FAST);
    let mut proc = Proc::spawn(&args, Some(SECRET), None);
    if json {
        proc.wait_state("handshaken");
    } else {
        proc.wait_line("the handshake", |l| l.contains("handshaken"));
    }
    connector.revoke(GW);
    let status = proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(3), "{}", proc.stderr());
    proc
}

#[test]
fn a_revoked_link_s_disabled_line_has_its_cause() {
    let proc = revoked(false);
    let disabled = proc
        .stdout
        .iter()
        .find(|l| l.contains("Relay disabled (opted out"))
        .unwrap_or_else(|| panic!("no disabled line: {:#?}", proc.stdout));
    assert!(
        disabled.contains("credential revoked (4401"),
        "the disabled line says why: {disabled:?}"
    );

    let mut proc = revoked(true);
    let events = proc.all_events();
    check_state_events(&events);
    let states: Vec<&Value> = events.iter().filter(|e| e["event"] == "state").collect();
    let disabled = states.last().expect("a last state line");
    assert_eq!(disabled["state"], "disabled", "{disabled}");
    assert_eq!(disabled["reason"]["kind"], "revoked", "{disabled}");
    assert_eq!(disabled["reason"]["code"], 4401, "{disabled}");
    assert!(disabled.get("retry_in_ms").is_none(), "{disabled}");
}
