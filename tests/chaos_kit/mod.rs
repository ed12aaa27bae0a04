//! The parts of the chaos soak (`tests/chaos.rs`): what the application
//! saw ([`Log`]), the application's event reader ([`read_events`]), the
//! steady stream of sends ([`send_steadily`]) and the connector's chaos
//! script ([`Chaos`]). Every random choice comes from the soak's seed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use relay_link::shell::{Acceptance, Event, Events, RelayLink};
use relay_link::testing::{default_descriptor, Connector};
use relay_link::LinkState;
use serde_json::{json, Value};
use smol::stream::StreamExt as _;
use smol::Task;

use crate::loopback::{action, sleep, within, GW};

/// The link's frame limit in the soak (huge frames stay cheap).
pub const MAX_FRAME: usize = 1024 * 1024;
/// The link's outbound timeout in the soak.
pub const OUTBOUND_TIMEOUT: Duration = Duration::from_millis(1_500);

/// Close codes the connector may close a served connection with (every
/// code a close frame may carry, from each range; 4401 only as `expired`
/// here, its `unauthorized` strike is scripted apart).
const CLOSE_CODES: &[(u16, &str)] = &[
    (1000, "bye"),
    (1001, "going away"),
    (1002, "protocol error"),
    (1003, "unsupported"),
    (1007, "bad data"),
    (1008, "policy"),
    (1009, "too big"),
    (1010, "extension"),
    (1011, "internal error"),
    (1012, "restart"),
    (1013, "try again later"),
    (1014, "bad gateway"),
    (3000, "registered"),
    (4000, "private"),
    (4401, "expired"),
    (4999, "private"),
];

/// HTTP statuses an upgrade may be rejected with.
const HTTP_STATUSES: &[u16] = &[401, 403, 404, 429, 500, 502, 503];

/// How long after a disruption the link may still be learning of it (a
/// frame written meanwhile goes to a connection that is already doomed).
const AFTERMATH: Duration = Duration::from_secs(1);

/// When each disruption (drop, close, stall, oversized frame) may affect
/// the link: from when it was made to a while after it ended.
pub type Disruptions = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// One send, as the application saw it.
#[derive(Debug)]
pub struct SendRecord {
    /// The `marker` in its action (echoed back in a result).
    pub marker: u64,
    /// When it was sent.
    pub sent_at: Instant,
    /// Its settlement, and when it came.
    pub outcome: Option<(Value, Instant)>,
}

/// Whether a disruption's window overlaps `from..=to`.
pub fn disrupted(disruptions: &Disruptions, from: Instant, to: Instant) -> bool {
    let windows = disruptions.lock().unwrap_or_else(|e| e.into_inner());
    windows
        .iter()
        .any(|(start, end)| *start <= to && *end >= from)
}

/// Everything the application saw, shared by its tasks.
#[derive(Debug, Default)]
pub struct Log {
    /// Every send, by request id.
    pub sends: HashMap<String, SendRecord>,
    /// Every `bufferId` delivered to the application.
    pub delivered: HashSet<String>,
    /// Every `bufferId` the application accepted (before its `accept`).
    pub accepted: HashSet<String>,
    /// Every state change.
    pub states: Vec<LinkState>,
    /// Fatal reports.
    pub fatals: usize,
    /// Whether the event stream ended.
    pub ended: bool,
    /// Broken expectations, in order.
    pub failures: Vec<String>,
}

/// The shared [`Log`].
pub type SharedLog = Arc<Mutex<Log>>;

/// Locks the log (a panicked holder does not poison it).
pub fn lock(log: &SharedLog) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// The application: reads every event, records it, and accepts each
/// buffered delivery at once, later, or never, at random. Now and then it
/// stops reading for a while (the bounded event queue fills up).
pub async fn read_events(mut events: Events, log: SharedLog, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x00a9_9a99);
    while let Some(event) = events.next().await {
        if rng.u8(0..100) < 3 {
            sleep(Duration::from_millis(rng.u64(100..1_000))).await;
        }
        let delivery = match event {
            Event::Inbound { frame, acceptance } => Some((frame.buffer_id.clone(), acceptance)),
            Event::Passthrough { frame, acceptance } => Some((frame.buffer_id.clone(), acceptance)),
            Event::State { state, .. } => {
                lock(&log).states.push(state);
                None
            }
            Event::Fatal(_) => {
                lock(&log).fatals += 1;
                None
            }
            _ => None,
        };
        if let Some((Some(id), acceptance)) = delivery {
            deliver(&log, id, acceptance, &mut rng);
        }
    }
    lock(&log).ended = true;
}

fn deliver(log: &SharedLog, id: String, acceptance: Option<Acceptance>, rng: &mut fastrand::Rng) {
    let mut log_now = lock(log);
    if !log_now.delivered.insert(id.clone()) {
        log_now.failures.push(format!("{id} was delivered twice"));
    }
    let Some(acceptance) = acceptance else {
        log_now
            .failures
            .push(format!("{id} came without an acceptance handle"));
        return;
    };
    match rng.u8(0..10) {
        0..=6 => {
            log_now.accepted.insert(id);
            acceptance.accept();
        }
        7..=8 => {
            drop(log_now);
            let later = Duration::from_millis(rng.u64(20..600));
            let log = Arc::clone(log);
            smol::spawn(async move {
                sleep(later).await;
                lock(&log).accepted.insert(id);
                acceptance.accept();
            })
            .detach();
        }
        // Never accepted: it must never be acked.
        _ => drop(acceptance),
    }
}

/// Sends a steady stream of actions until `stop`; returns the tasks that
/// wait for their settlements (each bounded: a hang is a failure).
pub async fn send_steadily(
    link: RelayLink,
    log: SharedLog,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> Vec<Task<()>> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5e4d);
    let mut waiters = Vec::new();
    let mut marker = 0;
    while !stop.load(Ordering::Relaxed) {
        sleep(Duration::from_millis(rng.u64(5..60))).await;
        marker += 1;
        let platform = [None, Some("discord"), Some("slack"), Some("matrix")][rng.usize(0..4)];
        let pending = link.request(action("send", json!({ "marker": marker })), platform);
        let id = pending.id().to_string();
        lock(&log).sends.insert(
            id.clone(),
            SendRecord {
                marker,
                sent_at: Instant::now(),
                outcome: None,
            },
        );
        let log = Arc::clone(&log);
        waiters.push(smol::spawn(async move {
            let limit = OUTBOUND_TIMEOUT + Duration::from_secs(10);
            let settled = within(limit, pending.settled()).await;
            let mut log = lock(&log);
            match settled {
                Some(settled) => {
                    // The checks read the contract's result objects.
                    let value = settled.map_or_else(|e| e.to_json(), Value::Object);
                    if let Some(record) = log.sends.get_mut(&id) {
                        record.outcome = Some((value, Instant::now()));
                    }
                }
                None => log
                    .failures
                    .push(format!("send {id} was not settled within {limit:?}")),
            }
        }));
    }
    waiters
}

/// The connector's side of the chaos: per dial and per connection, at
/// random.
pub struct Chaos {
    pub connector: Connector,
    rng: fastrand::Rng,
    /// The disruptive things done (drops, closes, stalls, oversized
    /// frames): a request the connector never saw may be settled ambiguous
    /// only across one of these.
    pub disruptions: Disruptions,
    dials_seen: usize,
    /// The one post-handshake 4401 `unauthorized` strike was made.
    struck: bool,
    stall_until: Option<Instant>,
    late_descriptor_at: Option<Instant>,
    /// How many times each kind of chaos happened.
    pub counts: HashMap<&'static str, usize>,
}

impl Chaos {
    pub fn new(connector: Connector, seed: u64) -> Self {
        Self {
            connector,
            rng: fastrand::Rng::with_seed(seed),
            disruptions: Arc::default(),
            dials_seen: 0,
            struck: false,
            stall_until: None,
            late_descriptor_at: None,
            counts: HashMap::new(),
        }
    }

    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }

    /// Records a disruption lasting `lasting` from now.
    fn disrupt_for(&mut self, what: &'static str, lasting: Duration) {
        let now = Instant::now();
        self.disruptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((now, now + lasting + AFTERMATH));
        self.count(what);
    }

    fn disrupt(&mut self, what: &'static str) {
        self.disrupt_for(what, Duration::ZERO);
    }

    /// The fate of the very first dial: half the time a cold-start 4401
    /// (an ordinary drop before any handshake).
    pub fn first_dial(&mut self) {
        if self.rng.bool() {
            self.connector.refuse_next(GW, 1, 4401, "unauthorized");
            self.count("cold start 4401");
        }
    }

    /// One step of chaos, `handshaken` telling whether the link says it is.
    pub fn tick(&mut self, handshaken: bool) {
        let c = self.connector.clone();
        let now = Instant::now();
        if self.stall_until.is_some_and(|at| at <= now) {
            self.stall_until = None;
            c.stall(GW, false);
        }
        if self.late_descriptor_at.is_some_and(|at| at <= now) {
            self.late_descriptor_at = None;
            let descriptor =
                json!({"type": "descriptor", "descriptor": default_descriptor("discord")});
            c.send_frame(GW, descriptor);
            self.count("late descriptor");
        }
        let dials = c.seen().dials.len();
        if dials != self.dials_seen {
            self.dials_seen = dials;
            self.roll_next_dial();
        }
        if c.seen().open_connections(GW) > 0 && self.stall_until.is_none() {
            self.act(handshaken);
        }
    }

    /// Scripts the next dial and the connection it may open.
    fn roll_next_dial(&mut self) {
        let c = self.connector.clone();
        let r = &mut self.rng;
        let (reject, refuse) = (r.u8(0..100), r.u8(0..100));
        let withhold = r.u8(0..100) < 10;
        let (split, merge, binary) = (r.u8(0..5) == 0, r.u8(0..5) == 0, r.u8(0..7) == 0);
        let delay = match r.u8(0..20) {
            0..=2 => Some(Duration::from_millis(r.u64(20..400))),
            3 => Some(OUTBOUND_TIMEOUT + Duration::from_millis(r.u64(100..600))),
            _ => None,
        };
        let duplicate = r.u8(0..7) == 0;
        let status = HTTP_STATUSES[r.usize(0..HTTP_STATUSES.len())];
        let (code, reason) = CLOSE_CODES[r.usize(0..CLOSE_CODES.len())];
        let late = r.bool();
        let late_by = Duration::from_millis(r.u64(100..900));
        if reject < 10 {
            c.reject_http(GW, 1, status);
            self.count("http rejection");
        } else if refuse < 8 {
            c.refuse_next(GW, 1, code, reason);
            self.count("refused upgrade");
        }
        c.withhold_descriptor(GW, withhold);
        if withhold {
            self.count("withheld descriptor");
            if late {
                self.late_descriptor_at = Some(Instant::now() + late_by);
            }
        }
        c.split_frames(GW, split);
        c.merge_frames(GW, merge);
        c.binary_frames(GW, binary);
        c.delay_results(GW, delay);
        c.duplicate_results(GW, duplicate);
        if delay.is_some() {
            self.count("late results");
        }
        if duplicate {
            self.count("duplicate results");
        }
    }

    /// Something happens on the open connection (often nothing).
    fn act(&mut self, handshaken: bool) {
        let c = self.connector.clone();
        let roll = self.rng.u16(0..1000);
        match roll {
            0..=299 => {
                c.push_inbound(GW, json!({"text": format!("chaos {roll}")}));
                self.count("inbound");
            }
            300..=339 => {
                c.push_passthrough(
                    GW,
                    json!({"platform": "slack", "botId": "B2", "method": "POST", "path": "/hook",
                           "headers": [], "bodyB64": "e30="}),
                );
                self.count("passthrough");
            }
            340..=349 => {
                let text = "h".repeat(self.rng.usize(MAX_FRAME / 2..MAX_FRAME - 4096));
                c.push_inbound(GW, json!({ "text": text }));
                self.count("huge inbound");
            }
            350..=389 => {
                c.send_garbage(GW);
                self.count("garbage lines");
            }
            390..=419 => {
                let line =
                    json!({"type": "inbound", "event": {"text": "bin \u{1f50c}"}}).to_string();
                let mut bytes = line.into_bytes();
                bytes.push(b'\n');
                if self.rng.bool() {
                    // Invalid UTF-8 turns into U+FFFD: a malformed line.
                    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
                }
                c.send_binary(GW, &bytes);
                self.count("binary message");
            }
            420..=459 => {
                let id = format!("unknown-{}", self.rng.u32(..));
                c.send_frame(
                    GW,
                    json!({"type": "outbound_result", "requestId": id, "result": {"success": true}}),
                );
                self.count("unknown result");
            }
            460..=464 => {
                c.send_oversized_partial(GW, MAX_FRAME + 1);
                self.disrupt("oversized partial frame");
            }
            465..=469 => {
                let line = format!(
                    "{{\"type\":\"inbound\",\"pad\":\"{}\"}}\n",
                    "o".repeat(MAX_FRAME)
                );
                c.send_raw(GW, &line);
                self.disrupt("oversized single message");
            }
            470..=479 => {
                c.stall(GW, true);
                let lasting = Duration::from_millis(self.rng.u64(100..2_000));
                self.stall_until = Some(Instant::now() + lasting);
                self.disrupt_for("stall", lasting);
            }
            480..=489 => {
                c.drop_connections(GW);
                self.disrupt("abort");
            }
            490..=504 => {
                let (code, reason) = CLOSE_CODES[self.rng.usize(0..CLOSE_CODES.len())];
                c.close_with(GW, code, reason);
                self.disrupt("close");
            }
            505..=507 if handshaken && !self.struck => {
                // The one provisional strike: never another 4401
                // `unauthorized`, so the judgement cannot revoke.
                self.struck = true;
                c.close_with(GW, 4401, "unauthorized");
                self.disrupt("4401 unauthorized strike");
            }
            508..=511 => {
                c.expire_token(GW);
                self.disrupt("4401 expired");
            }
            _ => {}
        }
    }

    /// Ends every script: the next connection is served plainly.
    pub fn calm(&mut self) {
        let c = &self.connector;
        self.stall_until = None;
        self.late_descriptor_at = None;
        c.stall(GW, false);
        c.reject_http(GW, 0, 0);
        c.refuse_next(GW, 0, 0, "");
        c.withhold_descriptor(GW, false);
        c.split_frames(GW, false);
        c.merge_frames(GW, false);
        c.binary_frames(GW, false);
        c.delay_results(GW, None);
        c.duplicate_results(GW, false);
    }
}
