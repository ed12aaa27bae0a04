//! The `relay-link` binary against the contract scripts rely on
//! (`docs/contract.md` §8): the built program is run as a child
//! process, talking to an in-process loopback [`Connector`].
//!
//! Every wait has a deadline; on a deadline the child is killed and the test
//! fails with everything the child printed. A [`Child`] still running when a
//! test ends is killed by [`Proc`]'s `Drop`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use relay_link::command::{RELAY_DISABLED_CODE, RELAY_DISABLED_MESSAGE};
use relay_link::testing::{Connector, ConnectorOptions, Delivery, Seen};
use relay_link::token::Secret;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_relay-link");
const GW: &str = "gw-cli";
/// The secret given through `RELAY_LINK_SECRET` (grepped for in all output).
const SECRET: &str = "cli-s3cret-5be1d07";
/// Upper bound for anything that should happen within milliseconds.
const WAIT: Duration = Duration::from_secs(5);

/// The small timings every `connect` run uses.
const FAST: &[&str] = &[
    "--backoff-base-ms",
    "20",
    "--backoff-max-ms",
    "200",
    "--connect-timeout-ms",
    "2000",
    "--handshake-timeout-ms",
    "2000",
    "--ping-interval-ms",
    "500",
    "--idle-timeout-ms",
    "3000",
    "--seed",
    "7",
];

fn connector() -> Connector {
    let connector = smol::block_on(Connector::start(ConnectorOptions::default()))
        .expect("the connector binds 127.0.0.1");
    connector.add_gateway(GW, Secret::new(SECRET));
    connector
}

/// Polls what the connector saw until `pred` holds (panics after [`WAIT`]).
fn wait_seen(connector: &Connector, what: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
    let end = Instant::now() + WAIT;
    loop {
        let seen = connector.seen();
        if pred(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < end,
            "the connector never saw {what}: {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn tmp(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A running `relay-link` child with its output collected by two threads.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line read so far.
    stdout: Vec<String>,
    /// Index of the first stdout line not yet consumed by a wait.
    cursor: usize,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Proc {
    fn spawn(args: &[&str], secret: Option<&str>, log: Option<&str>) -> Proc {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("RELAY_LINK_SECRET")
            .env_remove("RELAY_LINK_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(secret) = secret {
            command.env("RELAY_LINK_SECRET", secret);
        }
        if let Some(log) = log {
            command.env("RELAY_LINK_LOG", log);
        }
        let mut child = command.spawn().expect("the relay-link binary runs");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match std::io::Read::read(&mut pipe, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        Proc {
            child,
            stdin,
            lines,
            stdout: Vec::new(),
            cursor: 0,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// `relay-link connect --json` against `connector` as [`GW`], with the
    /// secret in the environment and the fast timings.
    fn connect(connector: &Connector, extra: &[&str]) -> Proc {
        Self::connect_logged(connector, extra, None)
    }

    fn connect_logged(connector: &Connector, extra: &[&str], log: Option<&str>) -> Proc {
        let url = connector.url();
        let mut args = vec!["connect", "--json", "--url", &url, "--gateway-id", GW];
        args.extend_from_slice(FAST);
        if !extra.contains(&"--outbound-timeout-ms") {
            args.extend_from_slice(&["--outbound-timeout-ms", "2000"]);
        }
        args.extend_from_slice(extra);
        Self::spawn(&args, Some(SECRET), log)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Kills the child and fails the test with what it printed.
    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "{why}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.join("\n"),
            self.stderr()
        );
    }

    /// Reads the next stdout line within `limit`; `None` at end of output.
    fn read_line(&mut self, limit: Duration) -> Result<Option<String>, ()> {
        match self.lines.recv_timeout(limit) {
            Ok(line) => {
                self.stdout.push(line.clone());
                Ok(Some(line))
            }
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(()),
        }
    }

    /// Parses stdout line `i` as a JSON event (every stdout line must be one).
    fn event_at(&mut self, i: usize) -> Value {
        let line = self.stdout[i].clone();
        match serde_json::from_str::<Value>(&line) {
            Ok(value) if value.get("event").is_some_and(Value::is_string) => value,
            _ => self.fail(&format!("stdout line {line:?} is not a JSON event")),
        }
    }

    /// The first not-yet-consumed `--json` event for which `pred` holds;
    /// the events before it are consumed too.
    fn wait_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + WAIT;
        loop {
            while self.cursor < self.stdout.len() {
                let event = self.event_at(self.cursor);
                self.cursor += 1;
                if pred(&event) {
                    return event;
                }
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.read_line(left) {
                Ok(Some(_)) => {}
                Ok(None) => self.fail(&format!("stdout ended before {what}")),
                Err(()) => self.fail(&format!("no {what} within {WAIT:?}")),
            }
        }
    }

    fn wait_state(&mut self, state: &str) -> Value {
        self.wait_event(&format!("state {state}"), |e| {
            e["event"] == "state" && e["state"] == state
        })
    }

    fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("the child reads stdin");
        stdin.flush().expect("stdin flushes");
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the child to exit (killing it after `limit`), then reads
    /// the rest of its output.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let end = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait().expect("try_wait works") {
                Some(status) => break status,
                None if Instant::now() >= end => {
                    self.fail(&format!("the child did not exit within {limit:?}"))
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        while let Ok(Some(_)) = self.read_line(WAIT) {}
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        status
    }

    /// Every stdout line parsed as a JSON event (after [`wait_exit`]).
    fn all_events(&mut self) -> Vec<Value> {
        (0..self.stdout.len()).map(|i| self.event_at(i)).collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The (state, platform_state) pairs of the `state` events, in order.
fn state_pairs(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "state")
        .map(|e| {
            (
                e["state"].as_str().unwrap_or("?").to_owned(),
                e["platform_state"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(s, p)| ((*s).to_owned(), (*p).to_owned()))
        .collect()
}

/// Checks the shape of every `state` event: exactly the contract's fields
/// and value sets, `at_ms` non-decreasing, and no pair printed twice in a
/// row.
fn check_state_events(events: &[Value]) {
    const STATES: [&str; 8] = [
        "connecting",
        "handshaken",
        "retrying",
        "revoked",
        "disabled",
        "closed",
        "dormant",
        "held",
    ];
    const PLATFORMS: [&str; 6] = [
        "connecting",
        "connected",
        "retrying",
        "disabled",
        "fatal",
        "disconnected",
    ];
    let mut last_at = 0;
    let mut last_pair: Option<(Value, Value)> = None;
    for event in events.iter().filter(|e| e["event"] == "state") {
        let object = event.as_object().expect("an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["at_ms", "event", "platform_state", "state"],
            "{event}"
        );
        let state = event["state"].as_str().expect("state is a string");
        assert!(STATES.contains(&state), "unknown state in {event}");
        let platform = event["platform_state"].as_str().expect("a string");
        assert!(PLATFORMS.contains(&platform), "unknown platform in {event}");
        let at = event["at_ms"].as_u64().expect("at_ms is an integer");
        assert!(at >= last_at, "at_ms went backwards at {event}");
        last_at = at;
        let pair = (event["state"].clone(), event["platform_state"].clone());
        assert_ne!(
            last_pair.as_ref(),
            Some(&pair),
            "repeated state line {event}"
        );
        last_pair = Some(pair);
    }
}

/// The base64url prefix every token minted for [`GW`] starts with.
fn token_prefix() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{GW}:").as_bytes())[..8]
        .to_owned()
}

fn assert_no_credentials(place: &str, text: &str) {
    assert!(!text.contains(SECRET), "the secret leaked into {place}");
    assert!(
        !text.contains(&token_prefix()),
        "a token leaked into {place}"
    );
    assert!(
        !text.contains("Bearer"),
        "a bearer header leaked into {place}"
    );
}

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
        interrupt,
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
    assert_eq!(keys.len(), 3, "event, request_id, result: {timed_out}");

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
    let fatals: Vec<&Value> = events.iter().filter(|e| e["event"] == "fatal").collect();
    assert_eq!(
        fatals,
        [&json!({
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
fn a_gateway_id_containing_a_colon_exits_2_without_dialing() {
    let connector = connector();
    let url = connector.url();
    let mut proc = Proc::spawn(
        &["connect", "--json", "--url", &url, "--gateway-id", "gw:1"],
        Some(SECRET),
        None,
    );
    let status = proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(2));
    assert!(
        proc.stdout.is_empty(),
        "nothing on stdout: {:?}",
        proc.stdout
    );
    let stderr = proc.stderr();
    assert!(stderr.contains("gateway"), "the problem is named: {stderr}");
    assert_no_credentials("stderr", &stderr);
    // Give a dial that was (wrongly) made time to be accepted and recorded.
    std::thread::sleep(Duration::from_millis(200));
    assert!(connector.seen().dials.is_empty(), "{:#?}", connector.seen());
}

#[test]
fn other_bad_configurations_exit_2_without_dialing() {
    let connector = connector();
    let url = connector.url();
    let unwritable = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("no-such-dir")
        .join("trace.jsonl");
    let unwritable = unwritable.to_string_lossy().into_owned();
    for extra in [
        vec!["--identity", "no-colon"],
        vec!["--identity", ":b1"],
        vec!["--backoff-base-ms", "500", "--backoff-max-ms", "100"],
        vec!["--record", unwritable.as_str()],
    ] {
        let mut args = vec!["connect", "--json", "--url", &url, "--gateway-id", GW];
        args.extend_from_slice(&extra);
        let mut proc = Proc::spawn(&args, Some(SECRET), None);
        let status = proc.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{extra:?}: {}", proc.stderr());
        assert!(proc.stdout.is_empty(), "{extra:?}: {:?}", proc.stdout);
        assert!(!proc.stderr().is_empty(), "{extra:?}: the problem is shown");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(connector.seen().dials.is_empty(), "{:#?}", connector.seen());
}

#[test]
fn a_bad_flag_exits_2_and_the_secret_is_not_a_flag() {
    let connector = connector();
    let url = connector.url();
    for args in [
        vec!["connect", "--url", url.as_str(), "--no-such-flag"],
        vec!["connect", "--url", url.as_str(), "--secret", SECRET],
        vec![
            "connect",
            "--url",
            url.as_str(),
            "--backoff-base-ms",
            "soon",
        ],
        vec!["connect"],
        vec!["no-such-subcommand"],
    ] {
        let mut proc = Proc::spawn(&args, None, None);
        let status = proc.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{args:?}: {}", proc.stderr());
        assert!(proc.stdout.is_empty(), "{args:?}: {:?}", proc.stdout);
        assert!(
            !proc.stderr().is_empty(),
            "{args:?}: the usage error is shown"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(connector.seen().dials.is_empty());
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
fn replay_renders_a_recorded_trace_as_text_and_as_json() {
    let connector = connector();
    let trace = tmp("replay");
    let trace_arg = trace.to_string_lossy().into_owned();
    let mut proc = Proc::connect(
        &connector,
        &[
            "--identity",
            "discord:b1",
            "--identity",
            "slack:B2",
            "--record",
            &trace_arg,
        ],
    );
    proc.wait_state("handshaken");
    proc.send_line(r#"{"op":"send","text":"hi"}"#);
    proc.wait_event("the result", |e| e["event"] == "outbound_result");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));

    let mut text = Proc::spawn(&["replay", &trace_arg], None, None);
    assert_eq!(text.wait_exit(WAIT).code(), Some(0), "{}", text.stderr());
    let story = text.stdout.join("\n");
    for expected in [
        "start",
        "dial{gen:1, fresh_token}",
        "send{gen:1, hello(discord:b1)}",
        "send{gen:1, hello(slack:B2)}",
        "descriptor{gen:1, discord}",
        "state(handshaken)",
        "platform(connected)",
        "disconnect{budget:",
        "close{gen:1, 1000",
        "state(closed)",
    ] {
        assert!(story.contains(expected), "no {expected:?} in:\n{story}");
    }

    let mut json = Proc::spawn(&["replay", "--json", &trace_arg], None, None);
    assert_eq!(json.wait_exit(WAIT).code(), Some(0), "{}", json.stderr());
    let entries: Vec<Value> = json
        .stdout
        .iter()
        .map(|line| serde_json::from_str(line).expect("each replay line is JSON"))
        .collect();
    let recorded_steps = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
        - 1;
    assert_eq!(
        entries.len(),
        recorded_steps,
        "one JSON line per trace entry"
    );
    assert_eq!(entries[0]["input"], "start");
    assert_eq!(entries[0]["state"], "connecting");
    assert!(entries
        .iter()
        .all(|e| e["at_ms"].is_number() && e["commands"].is_array() && e["state"].is_string()));
    let last = entries.last().unwrap();
    assert_eq!(last["state"], "closed", "{last}");
    assert_eq!(last["platform_state"], "disconnected", "{last}");
    assert!(entries.iter().any(|e| e["commands"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().is_some_and(|c| c.starts_with("settle{")))));
}

#[test]
fn replay_reports_a_malformed_trace_line_with_its_number() {
    let path = tmp("malformed");
    std::fs::write(
        &path,
        concat!(
            r#"{"relay_link_trace":1,"seed":7,"config":{"url":"ws://connector.test/relay","gateway_id":"gw-1","auth":true}}"#,
            "\n",
            r#"{"at_ms":0,"input":"start"}"#,
            "\n",
            r#"{"at_ms":20,"input":"dial_succeeded","gen":1}"#,
            "\n",
            "{\"at_ms\": 21, \"input\": \n",
        ),
    )
    .unwrap();
    let path_arg = path.to_string_lossy().into_owned();
    for json in [false, true] {
        let mut args = vec!["replay", path_arg.as_str()];
        if json {
            args.insert(1, "--json");
        }
        let mut proc = Proc::spawn(&args, None, None);
        let status = proc.wait_exit(WAIT);
        // The contract's exit codes are those of `connect`; a replay that
        // cannot read its trace only has to fail (today: 2, bad input).
        assert!(
            status.code().is_some_and(|code| code != 0),
            "{args:?}: {status:?}"
        );
        assert!(proc.stdout.is_empty(), "{args:?}: {:?}", proc.stdout);
        let stderr = proc.stderr();
        assert!(stderr.contains("line 4"), "{args:?}: {stderr}");
    }
}

#[test]
fn diagram_prints_a_mermaid_state_diagram() {
    let mut proc = Proc::spawn(&["diagram"], None, None);
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));
    let text = proc.stdout.join("\n");
    assert!(
        text.trim_start().starts_with("stateDiagram-v2"),
        "a Mermaid state diagram: {text}"
    );
    assert_eq!(text, relay_link::diagram::mermaid().trim_end_matches('\n'));
    for state in [
        "connecting",
        "handshaken",
        "retrying",
        "revoked",
        "disabled",
    ] {
        assert!(
            text.contains(&format!("--> {state}")),
            "{state} is in the diagram"
        );
    }
}

#[test]
fn demo_walks_the_lifecycle_and_ends_disabled_within_10_seconds() {
    let trace = tmp("demo");
    let trace_arg = trace.to_string_lossy().into_owned();
    let started = Instant::now();
    let mut proc = Proc::spawn(&["demo", "--json", "--record", &trace_arg], None, None);
    let status = proc.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", proc.stderr());
    assert!(started.elapsed() < Duration::from_secs(10));
    let events = proc.all_events();
    check_state_events(&events);
    let states = state_pairs(&events);
    assert_eq!(
        states.last(),
        Some(&("disabled".to_owned(), "disabled".to_owned())),
        "{states:?}"
    );
    assert_eq!(
        events.iter().filter(|e| e["event"] == "fatal").count(),
        1,
        "{events:?}"
    );
    let recorded = std::fs::read_to_string(&trace).expect("the demo recorded its trace");
    assert!(recorded.lines().count() > 10);
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
