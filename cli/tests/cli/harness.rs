//! The test harness: the `relay-link` child process, the in-process
//! connector, and checks shared by the test modules.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use relay_link::testing::{Connector, ConnectorOptions, Seen};
use relay_link::token::Secret;
use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_relay-link");
pub(crate) const GW: &str = "gw-cli";
/// The secret given through `RELAY_LINK_SECRET` (grepped for in all output).
pub(crate) const SECRET: &str = "cli-s3cret-5be1d07";
/// Upper bound for anything that should happen within milliseconds.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// The small timings every `connect` run uses.
pub(crate) const FAST: &[&str] = &[
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

pub(crate) fn connector() -> Connector {
    let connector = smol::block_on(Connector::start(ConnectorOptions::default()))
        .expect("the connector binds 127.0.0.1");
    connector.add_gateway(GW, Secret::new(SECRET));
    connector
}

/// Polls what the connector saw until `pred` holds (panics after [`WAIT`]).
pub(crate) fn wait_seen(connector: &Connector, what: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
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

pub(crate) fn tmp(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A running `relay-link` child with its output collected by two threads.
pub(crate) struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line read so far.
    pub(crate) stdout: Vec<String>,
    /// Index of the first stdout line not yet consumed by a wait.
    cursor: usize,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Proc {
    pub(crate) fn spawn(args: &[&str], secret: Option<&str>, log: Option<&str>) -> Proc {
        let mut env = Vec::new();
        if let Some(secret) = secret {
            env.push(("RELAY_LINK_SECRET", secret));
        }
        if let Some(log) = log {
            env.push(("RELAY_LINK_LOG", log));
        }
        Self::spawn_with_env(args, &env)
    }

    /// Runs the binary with `args` and exactly these `RELAY_LINK_*`
    /// variables (the others are removed).
    pub(crate) fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("RELAY_LINK_SECRET")
            .env_remove("RELAY_LINK_LOG")
            .env_remove("RELAY_LINK_CONNECTOR_SECRETS")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
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
    pub(crate) fn connect(connector: &Connector, extra: &[&str]) -> Proc {
        Self::connect_logged(connector, extra, None)
    }

    pub(crate) fn connect_logged(connector: &Connector, extra: &[&str], log: Option<&str>) -> Proc {
        let url = connector.url();
        let mut args = vec!["connect", "--json", "--url", &url, "--gateway-id", GW];
        args.extend_from_slice(FAST);
        if !extra.contains(&"--outbound-timeout-ms") {
            args.extend_from_slice(&["--outbound-timeout-ms", "2000"]);
        }
        args.extend_from_slice(extra);
        Self::spawn(&args, Some(SECRET), log)
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Kills the child and fails the test with what it printed.
    pub(crate) fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "{why}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.join("\n"),
            self.stderr()
        );
    }

    /// Reads the next stdout line within `limit`; `None` at end of output.
    pub(crate) fn read_line(&mut self, limit: Duration) -> Result<Option<String>, ()> {
        match self.lines.recv_timeout(limit) {
            Ok(line) => {
                self.stdout.push(line.clone());
                Ok(Some(line))
            }
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(()),
        }
    }

    /// Parses stdout line `i` as a JSON event: every stdout line must be
    /// one, with a string `event` and an integer `at_ms`.
    pub(crate) fn event_at(&mut self, i: usize) -> Value {
        let line = self.stdout[i].clone();
        match serde_json::from_str::<Value>(&line) {
            Ok(value)
                if value.get("event").is_some_and(Value::is_string)
                    && value.get("at_ms").is_some_and(Value::is_u64) =>
            {
                value
            }
            _ => self.fail(&format!(
                "stdout line {line:?} is not a JSON event with an integer at_ms"
            )),
        }
    }

    /// Reads stdout until `take` accepts a not-yet-consumed line (by its
    /// index) and returns what it made of it; the lines before it are
    /// consumed too. Fails after [`WAIT`].
    fn wait_stdout<T>(&mut self, what: &str, take: impl Fn(&mut Self, usize) -> Option<T>) -> T {
        let end = Instant::now() + WAIT;
        loop {
            while self.cursor < self.stdout.len() {
                self.cursor += 1;
                if let Some(found) = take(self, self.cursor - 1) {
                    return found;
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

    /// The first not-yet-consumed stdout line for which `pred` holds (for
    /// subcommands whose output is text).
    pub(crate) fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_stdout(what, |proc, i| {
            let line = &proc.stdout[i];
            pred(line).then(|| line.clone())
        })
    }

    /// Waits until stderr holds `needle` (panics after [`WAIT`]); returns
    /// all of stderr.
    pub(crate) fn wait_stderr(&mut self, needle: &str) -> String {
        let end = Instant::now() + WAIT;
        loop {
            let stderr = self.stderr();
            if stderr.contains(needle) {
                return stderr;
            }
            if Instant::now() >= end {
                self.fail(&format!("stderr never said {needle:?} within {WAIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Closes the child's stdin (end of input, as after `echo … |`).
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The first not-yet-consumed `--json` event for which `pred` holds.
    pub(crate) fn wait_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_stdout(what, |proc, i| {
            let event = proc.event_at(i);
            pred(&event).then_some(event)
        })
    }

    pub(crate) fn wait_state(&mut self, state: &str) -> Value {
        self.wait_event(&format!("state {state}"), |e| {
            e["event"] == "state" && e["state"] == state
        })
    }

    pub(crate) fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("the child reads stdin");
        stdin.flush().expect("stdin flushes");
    }

    /// The exit status, if the child has exited.
    pub(crate) fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait works")
    }

    /// Writes a line to stdin, ignoring a child that stopped reading.
    pub(crate) fn try_send_line(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
        }
    }

    /// Writes raw bytes (not necessarily UTF-8) to the child's stdin.
    pub(crate) fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).expect("the child reads stdin");
        stdin.flush().expect("stdin flushes");
    }

    pub(crate) fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the child to exit (killing it after `limit`), then reads
    /// the rest of its output.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
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
    pub(crate) fn all_events(&mut self) -> Vec<Value> {
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
pub(crate) fn state_pairs(events: &[Value]) -> Vec<(String, String)> {
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

pub(crate) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(s, p)| ((*s).to_owned(), (*p).to_owned()))
        .collect()
}

/// Checks the shape of every `state` event: exactly the contract's fields
/// (`reason` and `retry_in_ms` when there is one) and value sets, `at_ms`
/// non-decreasing, and no pair printed twice in a row.
pub(crate) fn check_state_events(events: &[Value]) {
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
        let mut keys: Vec<&str> = object
            .keys()
            .map(String::as_str)
            .filter(|key| !["reason", "retry_in_ms"].contains(key))
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["at_ms", "event", "platform_state", "state"],
            "{event}"
        );
        let state = event["state"].as_str().expect("state is a string");
        if let Some(reason) = object.get("reason") {
            assert!(reason["kind"].is_string(), "reason without a kind: {event}");
        }
        if let Some(delay) = object.get("retry_in_ms") {
            assert!(delay.is_u64(), "retry_in_ms is not an integer: {event}");
            assert!(
                ["retrying", "dormant"].contains(&state),
                "a delay on a state that does not wait to re-dial: {event}"
            );
        }
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

/// The event without its `at_ms` (for comparing whole events).
pub(crate) fn without_at_ms(event: &Value) -> Value {
    let mut event = event.clone();
    if let Value::Object(map) = &mut event {
        map.remove("at_ms");
    }
    event
}

/// The base64url prefix every token minted for [`GW`] starts with.
pub(crate) fn token_prefix() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{GW}:").as_bytes())[..8]
        .to_owned()
}

pub(crate) fn assert_no_credentials(place: &str, text: &str) {
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
