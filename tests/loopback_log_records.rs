//! The bearer token never reaches a `log` record, even at `trace` level
//! where tungstenite logs each upgrade request it writes (its own binary:
//! it installs the process's `log` logger).

mod loopback;

use std::sync::Mutex;

use log::{LevelFilter, Log, Metadata, Record};
use loopback::*;

/// Every record, as `target: message`.
struct Capture(Mutex<Vec<String>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let line = format!("{}: {}", record.target(), record.args());
        self.0.lock().expect("the capture").push(line);
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn the_bearer_token_never_reaches_a_log_record_even_at_trace_level() {
    log::set_logger(&CAPTURE).expect("the only logger");
    log::set_max_level(LevelFilter::Trace);
    run(async {
        let mut online = online(|c| c).await;
        online.connector.drop_connections(GW);
        online
            .watch
            .until_state(relay_link::LinkState::Retrying)
            .await;
        online
            .watch
            .until_state(relay_link::LinkState::Handshaken)
            .await;
    });
    let lines = CAPTURE.0.lock().expect("the capture");
    // The capture does see tungstenite's request trace: the check below
    // looks where the token used to be.
    let requests: Vec<&String> = lines.iter().filter(|l| l.contains("GET /relay")).collect();
    assert!(requests.len() >= 2, "one request per dial: {requests:?}");
    for line in lines.iter() {
        let lower = line.to_lowercase();
        assert!(
            !lower.contains("bearer") && !lower.contains("authorization"),
            "a log record carries the credential: {line}"
        );
    }
}
