//! Property tests of the lifecycle core: random interleavings of inputs and
//! timeouts against a [`Link`], each invariant checked as its own property.
//!
//! A case is a list of [`Op`]s. The [driver](run) answers the generation of
//! the most recent `Dial` the link emitted, records every step (the input or
//! timeout, the commands it produced, and a snapshot of the link before and
//! after it) and ends every case with a disconnect, then fires timers until
//! none is left. Each property replays the recording through one check.
//!
//! The number of cases comes from `PROPTEST_CASES` (CI sets 2000).

mod support;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use relay_link::backoff::Backoff;
use relay_link::protocol::OutgoingFrame;
use relay_link::trace::{render_command, render_input};
use relay_link::{
    Command, DialFailure, FatalReport, Generation, Input, Link, LinkState, PlatformState,
    RequestId, Settlement, Stats, Timer,
};
use serde_json::{json, Map, Value};
use support::{descriptor, going_idle_ack, inbound, outbound_result, passthrough};

/// The default ladder (contract §5 rule 9).
const BASE: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(30);
/// The default stable window.
const STABLE: Duration = Duration::from_secs(60);
/// A small frame limit, so an oversized partial line is cheap to build.
const MAX_FRAME: usize = 4096;
/// The budget of the disconnect that ends every case.
const FINAL_BUDGET_MS: u64 = 5_000;

// ----- the operations --------------------------------------------------------

/// One frame inside a received message.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Descriptor,
    /// A descriptor missing a required field (a protocol error).
    BadDescriptor,
    /// A result for one of the ids sent so far (pending, settled or
    /// refused), picked by this number.
    Result(u16),
    UnknownResult,
    /// An inbound, with a `bufferId` from a pool of four when `Some`.
    Inbound(Option<u8>),
    Passthrough(Option<u8>),
    GoingIdleAck,
    Garbage,
    NotAnObject,
    UnknownType,
    Blank,
    /// A partial line longer than the frame limit.
    Oversized,
}

#[derive(Debug, Clone, Copy)]
enum Failure {
    Http,
    Io,
    Unauthorized4401,
    Expired4401,
    Abnormal1006,
}

#[derive(Debug, Clone, Copy)]
enum Close {
    NoFrame,
    Normal1000,
    Abnormal1006,
    Unauthorized4401,
    Expired4401,
}

#[derive(Debug, Clone, Copy)]
enum Stale {
    DialSucceeded,
    DialFailed,
    Descriptor,
    Heard,
    Unauthorized4401,
}

#[derive(Debug, Clone)]
enum Op {
    AdvanceAndTimeout(u64),
    /// Jump exactly to the next deadline and fire it.
    FireNextTimer,
    DialSucceeds,
    /// The upgrade is accepted and the first descriptor follows at once.
    DialSucceedsAndHandshakes,
    DialFails(Failure),
    /// One message holding these frames; `Some` splits it in two messages
    /// (at this number, modulo the length).
    Receive(Vec<Frame>, Option<u16>),
    Heard,
    SocketClosed(Close),
    /// A new, unique request id, for this platform.
    Send(Option<&'static str>),
    Accept(u8),
    GoIdle,
    GoDormant,
    Hold,
    Release,
    Disconnect(u64),
    FatalAcknowledged,
    Start,
    /// An input naming an older generation (picked by this number).
    StaleInput(Stale, u16),
}

/// What kind of [`Op`] to make; the first kinds are what a failing case
/// shrinks towards.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Heard,
    Advance,
    Fire,
    DialSucceeds,
    Handshakes,
    DialFails,
    Receive,
    SocketClosed,
    Send,
    Accept,
    GoIdle,
    GoDormant,
    Hold,
    Release,
    Disconnect,
    FatalAcknowledged,
    Start,
    Stale,
}

/// The weight of each kind of op.
const KINDS: &[(u32, Kind)] = &[
    (2, Kind::Heard),
    (6, Kind::Advance),
    (6, Kind::Fire),
    (6, Kind::DialSucceeds),
    (4, Kind::Handshakes),
    (3, Kind::DialFails),
    (8, Kind::Receive),
    (3, Kind::SocketClosed),
    (5, Kind::Send),
    (2, Kind::Accept),
    (1, Kind::GoIdle),
    (3, Kind::GoDormant),
    (1, Kind::Hold),
    (1, Kind::Release),
    (1, Kind::Disconnect),
    (2, Kind::FatalAcknowledged),
    (1, Kind::Start),
    (3, Kind::Stale),
];

const FRAMES: &[(u32, u8)] = &[
    (5, 0),  // descriptor
    (1, 1),  // bad descriptor
    (3, 2),  // result for a sent id
    (1, 3),  // result for an unknown id
    (3, 4),  // inbound
    (1, 5),  // passthrough
    (5, 6),  // going_idle_ack
    (1, 7),  // garbage
    (1, 8),  // not an object
    (1, 9),  // unknown type
    (1, 10), // blank
    (1, 11), // oversized
];

const FAILURES: &[(u32, Failure)] = &[
    (1, Failure::Http),
    (1, Failure::Io),
    (2, Failure::Unauthorized4401),
    (1, Failure::Expired4401),
    (1, Failure::Abnormal1006),
];

const CLOSES: &[(u32, Close)] = &[
    (1, Close::NoFrame),
    (1, Close::Normal1000),
    (1, Close::Abnormal1006),
    (2, Close::Unauthorized4401),
    (1, Close::Expired4401),
];

const STALE: &[(u32, Stale)] = &[
    (1, Stale::DialSucceeded),
    (1, Stale::DialFailed),
    (1, Stale::Descriptor),
    (1, Stale::Heard),
    (1, Stale::Unauthorized4401),
];

const PLATFORMS: &[(u32, Option<&str>)] = &[
    (1, None),
    (1, Some("discord")),
    (1, Some("slack")),
    (1, Some("telegram")),
];

fn total<T>(table: &[(u32, T)]) -> u64 {
    table.iter().map(|(weight, _)| u64::from(*weight)).sum()
}

/// Picks from `table` by weight; `roll` is reduced modulo the total weight.
fn weighted<T: Copy>(table: &[(u32, T)], roll: u64) -> T {
    let mut roll = roll % total(table);
    for (weight, item) in table {
        if roll < u64::from(*weight) {
            return *item;
        }
        roll -= u64::from(*weight);
    }
    unreachable!("roll is below the total weight")
}

/// splitmix64: the details of an op derived from one generated number.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn buffer(&mut self) -> Option<u8> {
        match self.next() % 5 {
            4 => None,
            n => Some(n as u8),
        }
    }
}

fn frame(mix: &mut Mix) -> Frame {
    match weighted(FRAMES, mix.next()) {
        0 => Frame::Descriptor,
        1 => Frame::BadDescriptor,
        2 => Frame::Result(mix.next() as u16),
        3 => Frame::UnknownResult,
        4 => Frame::Inbound(mix.buffer()),
        5 => Frame::Passthrough(mix.buffer()),
        6 => Frame::GoingIdleAck,
        7 => Frame::Garbage,
        8 => Frame::NotAnObject,
        9 => Frame::UnknownType,
        10 => Frame::Blank,
        _ => Frame::Oversized,
    }
}

/// Builds an op from a kind roll and one number for its details.
fn decode(kind: u64, detail: u64) -> Op {
    let mut mix = Mix(detail);
    match weighted(KINDS, kind) {
        Kind::Heard => Op::Heard,
        Kind::Advance => Op::AdvanceAndTimeout(match detail % 3 {
            0 => mix.next() % 50,
            1 => 50 + mix.next() % 4_950,
            _ => 5_000 + mix.next() % 65_000,
        }),
        Kind::Fire => Op::FireNextTimer,
        Kind::DialSucceeds => Op::DialSucceeds,
        Kind::Handshakes => Op::DialSucceedsAndHandshakes,
        Kind::DialFails => Op::DialFails(weighted(FAILURES, detail)),
        Kind::Receive => {
            let count = 1 + mix.next() % 3;
            let frames = (0..count).map(|_| frame(&mut mix)).collect();
            let split = (mix.next() % 2 == 1).then(|| mix.next() as u16);
            Op::Receive(frames, split)
        }
        Kind::SocketClosed => Op::SocketClosed(weighted(CLOSES, detail)),
        Kind::Send => Op::Send(weighted(PLATFORMS, detail)),
        Kind::Accept => Op::Accept((detail % 4) as u8),
        Kind::GoIdle => Op::GoIdle,
        Kind::GoDormant => Op::GoDormant,
        Kind::Hold => Op::Hold,
        Kind::Release => Op::Release,
        Kind::Disconnect => Op::Disconnect(detail % 10_000),
        Kind::FatalAcknowledged => Op::FatalAcknowledged,
        Kind::Start => Op::Start,
        Kind::Stale => Op::StaleInput(weighted(STALE, detail), mix.next() as u16),
    }
}

/// One op. Generated from two plain numbers and decoded (proptest's
/// nested unions cost far more to generate than the link costs to run);
/// a failing case still shrinks by dropping ops and by moving each op's
/// kind towards the first of [`KINDS`].
fn op_strategy() -> impl Strategy<Value = Op> {
    (0..total(KINDS), any::<u64>()).prop_map(|(kind, detail)| decode(kind, detail))
}

fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op_strategy(), 0..150)
}

// ----- the driver ------------------------------------------------------------

/// What a link looked like between two steps.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    state: LinkState,
    platform: Option<PlatformState>,
    generation: Generation,
    was_handshaken: bool,
    stats: Stats,
    pending: usize,
    timeout: Option<(Instant, Timer)>,
}

impl Snapshot {
    fn of(link: &Link) -> Self {
        Self {
            state: link.state(),
            platform: link.platform_state(),
            generation: link.generation(),
            was_handshaken: link.was_handshaken(),
            stats: link.stats(),
            pending: link.pending_requests(),
            timeout: link.poll_timeout(),
        }
    }
}

/// One step: an input (or a timeout when `None`) and what it did.
#[derive(Debug)]
struct Step {
    input: Option<Input>,
    /// Made by [`Op::StaleInput`]: names an older generation.
    stale: bool,
    now: Instant,
    before: Snapshot,
    after: Snapshot,
    commands: Vec<Command>,
}

impl Step {
    /// Whether the link counted this input as stale.
    fn counted_stale(&self) -> bool {
        self.after.stats.stale_inputs > self.before.stats.stale_inputs
    }
}

/// A recorded case.
struct Recording {
    origin: Instant,
    steps: Vec<Step>,
}

struct Driver {
    link: Link,
    origin: Instant,
    now: Instant,
    /// The generation of the most recent `Dial` the link emitted.
    current: u64,
    sent: Vec<String>,
    steps: Vec<Step>,
}

impl Driver {
    fn new(seed: u64) -> Self {
        let config = support::config_builder()
            .max_frame_size(MAX_FRAME)
            .build()
            .expect("valid");
        let origin = Instant::now();
        Self {
            link: Link::new(config, seed, origin),
            origin,
            now: origin,
            current: 0,
            sent: Vec::new(),
            steps: Vec::new(),
        }
    }

    fn gen(&self) -> Generation {
        Generation(self.current)
    }

    fn step(&mut self, input: Option<Input>, stale: bool) {
        let before = Snapshot::of(&self.link);
        match &input {
            Some(input) => self.link.handle_input(input.clone(), self.now),
            None => self.link.handle_timeout(self.now),
        }
        let commands: Vec<Command> = self.link.drain_commands().into();
        for command in &commands {
            if let Command::Dial { gen, .. } = command {
                self.current = gen.0;
            }
        }
        self.steps.push(Step {
            input,
            stale,
            now: self.now,
            before,
            after: Snapshot::of(&self.link),
            commands,
        });
    }

    fn input(&mut self, input: Input) {
        self.step(Some(input), false);
    }

    fn timeout(&mut self) {
        self.step(None, false);
    }

    fn fire_next_timer(&mut self) -> bool {
        match self.link.poll_timeout() {
            Some((at, _)) => {
                self.now = self.now.max(at);
                self.timeout();
                true
            }
            None => false,
        }
    }

    fn frame_text(&self, frame: &Frame) -> String {
        match frame {
            Frame::Descriptor => descriptor("discord"),
            Frame::BadDescriptor => {
                "{\"type\":\"descriptor\",\"descriptor\":{\"contract_version\":1}}\n".into()
            }
            Frame::Result(pick) if !self.sent.is_empty() => outbound_result(
                &self.sent[usize::from(*pick) % self.sent.len()],
                json!({"ok": true}),
            ),
            Frame::Result(_) | Frame::UnknownResult => {
                outbound_result("never-sent", json!({"ok": true}))
            }
            Frame::Inbound(buffer) => inbound("hi", buffer.map(buffer_id).as_deref()),
            Frame::Passthrough(buffer) => passthrough("/hook", buffer.map(buffer_id).as_deref()),
            Frame::GoingIdleAck => going_idle_ack(),
            Frame::Garbage => "{\"type\": \"inbound\", oops\n".into(),
            Frame::NotAnObject => "[1, 2, 3]\n".into(),
            Frame::UnknownType => "{\"type\":\"from_the_future\",\"x\":1}\n".into(),
            Frame::Blank => "  \n".into(),
            Frame::Oversized => "x".repeat(MAX_FRAME + 10),
        }
    }

    fn apply(&mut self, op: &Op) {
        let gen = self.gen();
        match op {
            Op::AdvanceAndTimeout(ms) => {
                self.now += Duration::from_millis(*ms);
                self.timeout();
            }
            Op::FireNextTimer => {
                self.fire_next_timer();
            }
            Op::DialSucceeds => self.input(Input::DialSucceeded { gen }),
            Op::DialSucceedsAndHandshakes => {
                self.input(Input::DialSucceeded { gen });
                self.input(Input::Received {
                    gen,
                    text: descriptor("discord"),
                });
            }
            Op::DialFails(kind) => {
                let failure = match kind {
                    Failure::Http => DialFailure::Http { status: 503 },
                    Failure::Io => DialFailure::Io {
                        message: "connection reset".into(),
                    },
                    Failure::Unauthorized4401 => DialFailure::Closed {
                        code: 4401,
                        reason: "unauthorized".into(),
                    },
                    Failure::Expired4401 => DialFailure::Closed {
                        code: 4401,
                        reason: "expired".into(),
                    },
                    Failure::Abnormal1006 => DialFailure::Closed {
                        code: 1006,
                        reason: String::new(),
                    },
                };
                self.input(Input::DialFailed { gen, failure });
            }
            Op::Receive(frames, split) => {
                let text: String = frames.iter().map(|f| self.frame_text(f)).collect();
                match split {
                    Some(at) => {
                        // Frames are ASCII, so every byte is a char boundary.
                        let (a, b) = text.split_at(usize::from(*at) % (text.len() + 1));
                        let (a, b) = (a.to_owned(), b.to_owned());
                        self.input(Input::Received { gen, text: a });
                        self.input(Input::Received { gen, text: b });
                    }
                    None => self.input(Input::Received { gen, text }),
                }
            }
            Op::Heard => self.input(Input::Heard { gen }),
            Op::SocketClosed(close) => {
                let (code, reason) = match close {
                    Close::NoFrame => (None, ""),
                    Close::Normal1000 => (Some(1000), "bye"),
                    Close::Abnormal1006 => (Some(1006), ""),
                    Close::Unauthorized4401 => (Some(4401), "unauthorized"),
                    Close::Expired4401 => (Some(4401), "expired"),
                };
                self.input(Input::SocketClosed {
                    gen,
                    code,
                    reason: reason.into(),
                });
            }
            Op::Send(platform) => {
                let id = format!("r{}", self.sent.len() + 1);
                self.sent.push(id.clone());
                let mut action = Map::new();
                action.insert("op".into(), Value::from("send"));
                self.input(Input::Send {
                    id: RequestId::new(id),
                    action,
                    platform: platform.map(str::to_owned),
                });
            }
            Op::Accept(buffer) => self.input(Input::Accepted {
                buffer_id: buffer_id(*buffer),
            }),
            Op::GoIdle => self.input(Input::GoIdle),
            Op::GoDormant => self.input(Input::GoDormant),
            Op::Hold => self.input(Input::HoldRedial),
            Op::Release => self.input(Input::ReleaseRedial),
            Op::Disconnect(budget_ms) => self.input(Input::Disconnect {
                budget_ms: *budget_ms,
            }),
            Op::FatalAcknowledged => self.input(Input::FatalAcknowledged),
            Op::Start => self.input(Input::Start),
            Op::StaleInput(kind, pick) => {
                if self.current < 2 {
                    return;
                }
                let gen = Generation(1 + u64::from(*pick) % (self.current - 1));
                let input = match kind {
                    Stale::DialSucceeded => Input::DialSucceeded { gen },
                    Stale::DialFailed => Input::DialFailed {
                        gen,
                        failure: DialFailure::Http { status: 502 },
                    },
                    Stale::Descriptor => Input::Received {
                        gen,
                        text: descriptor("discord"),
                    },
                    Stale::Heard => Input::Heard { gen },
                    Stale::Unauthorized4401 => Input::SocketClosed {
                        gen,
                        code: Some(4401),
                        reason: "unauthorized".into(),
                    },
                };
                self.step(Some(input), true);
            }
        }
    }
}

fn buffer_id(n: u8) -> String {
    format!("b{n}")
}

/// Runs one case: start, the ops, then a disconnect and every timer left.
fn run(seed: u64, ops: &[Op]) -> Recording {
    let mut driver = Driver::new(seed);
    driver.input(Input::Start);
    for op in ops {
        driver.apply(op);
    }
    driver.input(Input::Disconnect {
        budget_ms: FINAL_BUDGET_MS,
    });
    // Everything must settle: a bounded number of wake-ups empties the table.
    for _ in 0..64 {
        if !driver.fire_next_timer() {
            break;
        }
    }
    Recording {
        origin: driver.origin,
        steps: driver.steps,
    }
}

/// The case as a readable story, for failure messages.
fn story(recording: &Recording) -> String {
    let mut out = String::new();
    for step in &recording.steps {
        let at = (step.now - recording.origin).as_millis();
        let what = match &step.input {
            Some(input) if step.stale => format!("{} (stale op)", render_input(input)),
            Some(input) => render_input(input),
            None => "timeout".into(),
        };
        let _ = writeln!(out, "+{at}ms  {what}");
        for command in &step.commands {
            let _ = writeln!(out, "          → {}", render_command(command));
        }
        let _ = writeln!(
            out,
            "          = {} · {}",
            step.after.state,
            step.after.platform.map_or("-", |p| p.name())
        );
    }
    out
}

/// Runs `check` over a recording; a failure carries the whole story.
fn verify(
    recording: &Recording,
    check: fn(&Recording) -> Result<(), String>,
) -> Result<(), TestCaseError> {
    check(recording).map_err(|why| TestCaseError::fail(format!("{why}\n\n{}", story(recording))))
}

fn at_ms(recording: &Recording, step: &Step) -> u128 {
    (step.now - recording.origin).as_millis()
}

// ----- the invariants --------------------------------------------------------

/// Rule 8: a `Dial` while the previous dial or connection is still alive
/// (not answered by `DialFailed`/`SocketClosed`, nor cancelled or closed by
/// the core) is a violation; generations strictly increase.
fn check_one_dial_in_flight(recording: &Recording) -> Result<(), String> {
    // The latest dial, and whether its socket opened.
    let mut alive: Option<(Generation, bool)> = None;
    let mut last = Generation(0);
    for step in &recording.steps {
        match &step.input {
            Some(Input::DialSucceeded { gen }) if alive == Some((*gen, false)) => {
                alive = Some((*gen, true));
            }
            Some(Input::DialFailed { gen, .. }) if alive == Some((*gen, false)) => alive = None,
            Some(Input::SocketClosed { gen, .. }) if alive.map(|a| a.0) == Some(*gen) => {
                alive = None;
            }
            _ => {}
        }
        for command in &step.commands {
            match command {
                Command::Dial { gen, .. } => {
                    if let Some((old, _)) = alive {
                        return Err(format!(
                            "at +{}ms: dial {gen} while {old} is still alive",
                            at_ms(recording, step)
                        ));
                    }
                    if *gen <= last {
                        return Err(format!("dial {gen} after dial {last}"));
                    }
                    alive = Some((*gen, false));
                    last = *gen;
                }
                Command::CancelDial { gen } | Command::Close { gen, .. }
                    if alive.map(|a| a.0) == Some(*gen) =>
                {
                    alive = None;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Rules 11 and §5 Disconnect: once Revoked, Disabled or Closed, the link
/// never dials again and never leaves the terminal states.
fn check_no_dial_after_terminal(recording: &Recording) -> Result<(), String> {
    let mut ended: Option<LinkState> = None;
    for step in &recording.steps {
        for command in &step.commands {
            match command {
                Command::StateChanged(state) if state.is_terminal() => ended = Some(*state),
                Command::StateChanged(state) if ended.is_some() => {
                    return Err(format!(
                        "at +{}ms: left {:?} for {state}",
                        at_ms(recording, step),
                        ended
                    ));
                }
                Command::Fatal(_) => ended = Some(LinkState::Revoked),
                Command::Dial { gen, .. } if ended.is_some() => {
                    return Err(format!(
                        "at +{}ms: dial {gen} after the link became {:?}",
                        at_ms(recording, step),
                        ended
                    ));
                }
                _ => {}
            }
        }
        if ended.is_some() && !step.after.state.is_terminal() {
            return Err(format!("the link left {ended:?} for {}", step.after.state));
        }
    }
    Ok(())
}

/// §5 Requests: every request is settled exactly once, at once when it is
/// not written; `ambiguous` exactly when it was written and no result came.
fn check_requests_settle_once(recording: &Recording) -> Result<(), String> {
    #[derive(Default)]
    struct Request {
        written: bool,
        settled: bool,
    }
    let mut requests: HashMap<RequestId, Request> = HashMap::new();
    for step in &recording.steps {
        let at = at_ms(recording, step);
        let sent = match &step.input {
            Some(Input::Send { id, .. }) => {
                if requests.insert(id.clone(), Request::default()).is_some() {
                    return Err(format!("the driver reused id {id}"));
                }
                Some(id)
            }
            _ => None,
        };
        for command in &step.commands {
            match command {
                Command::Send {
                    frame: OutgoingFrame::Outbound { request_id, .. },
                    ..
                } => {
                    let request = requests
                        .get_mut(request_id)
                        .ok_or_else(|| format!("at +{at}ms: wrote unknown {request_id}"))?;
                    if request.written || request.settled {
                        return Err(format!("at +{at}ms: {request_id} written again"));
                    }
                    request.written = true;
                }
                Command::Settle { id, settlement } => {
                    let request = requests
                        .get_mut(id)
                        .ok_or_else(|| format!("at +{at}ms: settled unknown {id}"))?;
                    if request.settled {
                        return Err(format!("at +{at}ms: {id} settled twice"));
                    }
                    request.settled = true;
                    let is_result = matches!(settlement, Settlement::Result(_));
                    if is_result && !request.written {
                        return Err(format!(
                            "at +{at}ms: {id} got a result but was never written"
                        ));
                    }
                    if *settlement == Settlement::DuplicateId {
                        return Err(format!("at +{at}ms: unique id {id} refused as duplicate"));
                    }
                    let ambiguous = request.written && !is_result;
                    if settlement.is_ambiguous() != ambiguous {
                        return Err(format!(
                            "at +{at}ms: {id} settled {} (written: {})",
                            settlement.name(),
                            request.written
                        ));
                    }
                    let json_ambiguous =
                        settlement.to_json().get("ambiguous") == Some(&json!(true));
                    if json_ambiguous != ambiguous {
                        return Err(format!("at +{at}ms: {id}: {}", settlement.to_json()));
                    }
                }
                _ => {}
            }
        }
        // A send never waits for a reconnect: written or settled at once.
        if let Some(id) = sent {
            let request = &requests[id];
            if !request.written && !request.settled {
                return Err(format!("at +{at}ms: {id} neither written nor settled"));
            }
        }
    }
    if let Some((id, _)) = requests.iter().find(|(_, r)| !r.settled) {
        return Err(format!("{id} was never settled"));
    }
    Ok(())
}

/// Rule 11: at most one fatal report, the `relay_disabled` one, and exactly
/// one when the link was revoked.
fn check_at_most_one_fatal(recording: &Recording) -> Result<(), String> {
    let mut fatals = 0;
    let mut revoked = false;
    for step in &recording.steps {
        for command in &step.commands {
            if let Command::Fatal(report) = command {
                fatals += 1;
                if *report != FatalReport::relay_disabled() || report.retryable {
                    return Err(format!("unexpected report {report:?}"));
                }
            }
        }
        if fatals > 1 {
            return Err(format!(
                "at +{}ms: a second fatal report",
                at_ms(recording, step)
            ));
        }
        revoked |= matches!(step.after.state, LinkState::Revoked | LinkState::Disabled);
        if revoked && fatals != 1 {
            return Err("revoked without a fatal report".into());
        }
    }
    Ok(())
}

/// Rule 8: an input naming an older generation gives no command, changes no
/// state and no timer, and is counted.
fn check_stale_inputs_change_nothing(recording: &Recording) -> Result<(), String> {
    for step in recording.steps.iter().filter(|s| s.stale) {
        let at = at_ms(recording, step);
        if !step.commands.is_empty() {
            let commands: Vec<String> = step.commands.iter().map(render_command).collect();
            return Err(format!("at +{at}ms: a stale input gave {commands:?}"));
        }
        let mut expected = step.before.clone();
        expected.stats.stale_inputs += 1;
        if step.after != expected {
            return Err(format!(
                "at +{at}ms: a stale input changed the link:\n before {:?}\n after  {:?}",
                step.before, step.after
            ));
        }
    }
    Ok(())
}

/// `d = min(base · 2^(n−1), cap)`, computed independently of the crate.
fn ladder_ceiling(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exponent = attempt.max(1) - 1;
    if exponent >= 64 {
        return cap;
    }
    let d = base.as_nanos().saturating_mul(1u128 << exponent);
    if d >= cap.as_nanos() {
        cap
    } else {
        Duration::from_nanos(d as u64)
    }
}

/// Rule 9: right after entering Retrying, the armed backoff lies in
/// [base/2, cap], and in [d/2, d] for the attempt a model of the ladder
/// counts (climbing on every backoff, reset only when the connection that
/// was lost had stayed handshaken for the stable window).
fn check_backoff_within_ladder(recording: &Recording) -> Result<(), String> {
    /// The model: the attempt counter and the handshaken connection.
    struct Ladder {
        attempts: u32,
        handshaken: Option<(Generation, Instant)>,
    }
    impl Ladder {
        fn lose(&mut self, gen: Generation, now: Instant) {
            if let Some((live, at)) = self.handshaken {
                if live == gen {
                    if now.saturating_duration_since(at) >= STABLE {
                        self.attempts = 0;
                    }
                    self.handshaken = None;
                }
            }
        }
    }
    let mut ladder = Ladder {
        attempts: 0,
        handshaken: None,
    };
    for step in &recording.steps {
        let at = at_ms(recording, step);
        if let Some(Input::SocketClosed { gen, .. }) = &step.input {
            if !step.counted_stale() {
                ladder.lose(*gen, step.now);
            }
        }
        for command in &step.commands {
            match command {
                Command::Descriptor { gen, .. } if ladder.handshaken.map(|h| h.0) != Some(*gen) => {
                    ladder.handshaken = Some((*gen, step.now));
                }
                Command::Close { gen, .. } => ladder.lose(*gen, step.now),
                Command::StateChanged(LinkState::Retrying) => {
                    ladder.attempts += 1;
                    let Some((deadline, Timer::Backoff)) = step.after.timeout else {
                        continue;
                    };
                    if step.after.state != LinkState::Retrying {
                        continue;
                    }
                    let delay = deadline - step.now;
                    if delay < BASE / 2 || delay > CAP {
                        return Err(format!(
                            "at +{at}ms: backoff {delay:?} outside [{:?}, {CAP:?}]",
                            BASE / 2
                        ));
                    }
                    let n = ladder.attempts;
                    let d = ladder_ceiling(BASE, CAP, n);
                    if delay < d / 2 || delay > d {
                        return Err(format!(
                            "at +{at}ms: attempt {n}: backoff {delay:?} outside [{:?}, {d:?}]",
                            d / 2
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// §5 Buffered delivery: a `bufferId` reaches the application at most once
/// per link.
fn check_buffer_delivered_once(recording: &Recording) -> Result<(), String> {
    let mut delivered = HashSet::new();
    for step in &recording.steps {
        for command in &step.commands {
            let buffer = match command {
                Command::Inbound(frame) => frame.buffer_id.as_deref(),
                Command::Passthrough(frame) => frame.buffer_id.as_deref(),
                _ => None,
            };
            if let Some(id) = buffer {
                if !delivered.insert(id.to_owned()) {
                    return Err(format!(
                        "at +{}ms: {id} delivered twice",
                        at_ms(recording, step)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// §5 Buffered delivery: `inbound_ack` only for a delivery the application
/// accepted.
fn check_ack_after_acceptance(recording: &Recording) -> Result<(), String> {
    let mut delivered = HashSet::new();
    let mut accepted = HashSet::new();
    for step in &recording.steps {
        if let Some(Input::Accepted { buffer_id }) = &step.input {
            if delivered.contains(buffer_id) {
                accepted.insert(buffer_id.clone());
            }
        }
        for command in &step.commands {
            match command {
                Command::Inbound(frame) => delivered.extend(frame.buffer_id.clone()),
                Command::Passthrough(frame) => delivered.extend(frame.buffer_id.clone()),
                Command::Send {
                    frame: OutgoingFrame::InboundAck { buffer_id },
                    ..
                } if !accepted.contains(buffer_id) => {
                    return Err(format!(
                        "at +{}ms: acked {buffer_id} before the application accepted it",
                        at_ms(recording, step)
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Rule 12: consecutive `PlatformState` reports differ, and so do
/// consecutive `StateChanged` reports.
fn check_reported_only_on_change(recording: &Recording) -> Result<(), String> {
    let mut platform = None;
    let mut state = None;
    for step in &recording.steps {
        for command in &step.commands {
            match command {
                Command::PlatformState(p) => {
                    if platform == Some(*p) {
                        return Err(format!(
                            "at +{}ms: platform({p}) reported twice in a row",
                            at_ms(recording, step)
                        ));
                    }
                    platform = Some(*p);
                }
                Command::StateChanged(s) => {
                    if state == Some(*s) {
                        return Err(format!(
                            "at +{}ms: state({s}) reported twice in a row",
                            at_ms(recording, step)
                        ));
                    }
                    state = Some(*s);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Rule 12: every change is reported (the last report always names the
/// current state), and the platform state follows the lifecycle state.
fn check_every_change_is_reported(recording: &Recording) -> Result<(), String> {
    let mut platform = None;
    let mut state = None;
    let mut retried = false;
    for step in &recording.steps {
        let at = at_ms(recording, step);
        for command in &step.commands {
            match command {
                Command::PlatformState(p) => platform = Some(*p),
                Command::StateChanged(s) => state = Some(*s),
                _ => {}
            }
        }
        let current = step.after.state;
        if current != LinkState::Unstarted && state != Some(current) {
            return Err(format!("at +{at}ms: in {current}, last reported {state:?}"));
        }
        if platform != step.after.platform {
            return Err(format!(
                "at +{at}ms: platform {:?}, last reported {platform:?}",
                step.after.platform
            ));
        }
        let Some(p) = step.after.platform else {
            continue;
        };
        let fits = match current {
            LinkState::Unstarted => false,
            LinkState::Connecting if !retried => {
                matches!(p, PlatformState::Connecting | PlatformState::Retrying)
            }
            LinkState::Connecting | LinkState::Retrying | LinkState::Dormant | LinkState::Held => {
                p == PlatformState::Retrying
            }
            LinkState::Handshaken => p == PlatformState::Connected,
            LinkState::Revoked | LinkState::Disabled => p == PlatformState::Disabled,
            LinkState::Closed => p == PlatformState::Disconnected,
        };
        if !fits {
            return Err(format!("at +{at}ms: {current} shown as {p}"));
        }
        retried |= p == PlatformState::Retrying;
    }
    Ok(())
}

/// How a connection or dial ended, as the strike rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// 4401 with any reason but `expired`.
    Unauthorized,
    /// 4401 `expired`.
    Expired,
    /// Anything else, including every close the core decides on.
    Other,
}

fn ending(code: Option<u16>, reason: &str) -> Ending {
    match code {
        Some(4401) if reason.trim() == "expired" => Ending::Expired,
        Some(4401) => Ending::Unauthorized,
        _ => Ending::Other,
    }
}

/// Rules 3–7, against an independent model of the strikes: a 4401 before
/// any handshake or an `expired` one is an ordinary drop (no fatal report,
/// no immediate re-dial); the first 4401 after a handshake re-dials at once
/// (or parks the re-dial while the application holds re-dials); only the
/// next auth outcome after it (a 4401 on the connection accepted while
/// armed, or a refusal) revokes. A judged connection that closes without a
/// 4401 ends the judgement, and so does an `expired` close of it (its
/// credential was accepted; only the token aged out). A non-auth failure
/// keeps the judgement armed.
fn check_strike_rules(recording: &Recording) -> Result<(), String> {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Judgement {
        Clear,
        Armed,
        Judging(Generation),
    }
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Verdict {
        Drop,
        Provisional,
        Revoked,
    }
    fn judge(
        judgement: &mut Judgement,
        gen: Generation,
        end: Ending,
        was_handshaken: bool,
    ) -> Verdict {
        match (end, *judgement) {
            (Ending::Unauthorized, _) if !was_handshaken => Verdict::Drop,
            (Ending::Unauthorized, Judgement::Armed) => Verdict::Revoked,
            (Ending::Unauthorized, Judgement::Judging(g)) if g == gen => Verdict::Revoked,
            (Ending::Unauthorized, _) => {
                *judgement = Judgement::Armed;
                Verdict::Provisional
            }
            (Ending::Other | Ending::Expired, Judgement::Judging(g)) if g == gen => {
                *judgement = Judgement::Clear;
                Verdict::Drop
            }
            _ => Verdict::Drop,
        }
    }
    let mut was_handshaken = false;
    let mut judgement = Judgement::Clear;
    for step in &recording.steps {
        if step.before.state.is_terminal() {
            break;
        }
        let at = at_ms(recording, step);
        let mut verdict = None;
        // A loss the shell reported (the link took it as news).
        if !step.counted_stale() && step.after.state != LinkState::Closed {
            match &step.input {
                Some(Input::SocketClosed { gen, code, reason }) => {
                    verdict = Some(judge(
                        &mut judgement,
                        *gen,
                        ending(*code, reason),
                        was_handshaken,
                    ));
                }
                Some(Input::DialFailed { gen, failure }) => {
                    let end = match failure {
                        DialFailure::Closed { code, reason } => ending(Some(*code), reason),
                        DialFailure::Http { .. } | DialFailure::Io { .. } => Ending::Other,
                    };
                    verdict = Some(judge(&mut judgement, *gen, end, was_handshaken));
                }
                _ => {}
            }
        }
        for command in &step.commands {
            match command {
                Command::Descriptor { gen, .. } => {
                    was_handshaken = true;
                    if judgement == Judgement::Armed {
                        judgement = Judgement::Judging(*gen);
                    }
                }
                // A close the core decided on (timeouts, protocol errors,
                // dormancy): never an auth outcome.
                Command::Close { gen, .. } | Command::CancelDial { gen }
                    if step.after.state != LinkState::Closed =>
                {
                    verdict = Some(judge(&mut judgement, *gen, Ending::Other, was_handshaken));
                }
                _ => {}
            }
        }
        let fatal = step.commands.iter().any(|c| matches!(c, Command::Fatal(_)));
        let dialed = step
            .commands
            .iter()
            .any(|c| matches!(c, Command::Dial { .. }));
        let ok = match verdict {
            None => !fatal,
            Some(Verdict::Drop) => !fatal && !dialed,
            Some(Verdict::Provisional) => !fatal && (dialed || step.after.state == LinkState::Held),
            Some(Verdict::Revoked) => fatal && !dialed,
        };
        if !ok {
            return Err(format!(
                "at +{at}ms: expected {verdict:?} (was handshaken: {was_handshaken}, \
                 judgement now {judgement:?}), got fatal: {fatal}, dial: {dialed}, state {}",
                step.after.state
            ));
        }
    }
    Ok(())
}

/// §5 Disconnect: the link is closed (or already terminal) by the end of
/// every disconnect's budget: right after a disconnect its next wake-up is
/// within the budget, and any wake-up at or past the budget finds it
/// terminal. A later disconnect with a smaller budget binds too.
fn check_disconnect_within_budget(recording: &Recording) -> Result<(), String> {
    let mut deadline: Option<Instant> = None;
    for step in &recording.steps {
        let at = at_ms(recording, step);
        if let Some(Input::Disconnect { budget_ms }) = &step.input {
            let budget_end = step.now + Duration::from_millis(*budget_ms);
            let end = deadline.map_or(budget_end, |d| d.min(budget_end));
            deadline = Some(end);
            if !step.after.state.is_terminal() {
                match step.after.timeout {
                    Some((wake, _)) if wake <= end => {}
                    Some((wake, timer)) => {
                        return Err(format!(
                            "at +{at}ms: disconnecting (budget ends at +{}ms), next wake-up: {timer} at +{}ms",
                            (end - recording.origin).as_millis(),
                            (wake - recording.origin).as_millis()
                        ))
                    }
                    None => return Err(format!("at +{at}ms: disconnecting with no wake-up")),
                }
            }
        }
        if let Some(end) = deadline {
            if step.input.is_none() && step.now >= end && !step.after.state.is_terminal() {
                return Err(format!(
                    "at +{at}ms: still {} after the disconnect budget",
                    step.after.state
                ));
            }
        }
    }
    Ok(())
}

/// After the disconnect that ends every case, and its timers, nothing is
/// left: the link is terminal, no timer is armed, no request is pending.
fn check_everything_settles(recording: &Recording) -> Result<(), String> {
    let last = recording.steps.last().ok_or("no step")?;
    if !last.after.state.is_terminal() || last.after.timeout.is_some() || last.after.pending != 0 {
        return Err(format!("the case did not settle: {:?}", last.after));
    }
    Ok(())
}

// ----- the properties ----------------------------------------------------------

proptest! {
    #[test]
    fn never_more_than_one_dial_in_flight(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_one_dial_in_flight)?;
    }

    #[test]
    fn no_dial_after_revoked_disabled_or_closed(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_no_dial_after_terminal)?;
    }

    #[test]
    fn every_request_settles_exactly_once_and_ambiguous_iff_written_without_result(
        seed: u64,
        ops in ops_strategy(),
    ) {
        verify(&run(seed, &ops), check_requests_settle_once)?;
    }

    #[test]
    fn at_most_one_fatal_report(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_at_most_one_fatal)?;
    }

    #[test]
    fn stale_generation_inputs_change_nothing(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_stale_inputs_change_nothing)?;
    }

    #[test]
    fn every_backoff_delay_is_within_its_ladder_bounds(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_backoff_within_ladder)?;
    }

    #[test]
    fn a_buffer_id_is_delivered_at_most_once(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_buffer_delivered_once)?;
    }

    #[test]
    fn a_buffered_delivery_is_acked_only_after_acceptance(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_ack_after_acceptance)?;
    }

    #[test]
    fn platform_state_is_reported_only_on_a_change(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_reported_only_on_change)?;
    }

    #[test]
    fn every_state_change_is_reported_and_the_platform_state_follows_it(
        seed: u64,
        ops in ops_strategy(),
    ) {
        verify(&run(seed, &ops), check_every_change_is_reported)?;
    }

    #[test]
    fn revocation_follows_the_strike_rules(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_strike_rules)?;
    }

    #[test]
    fn a_disconnect_settles_everything(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_everything_settles)?;
    }

    #[test]
    fn a_disconnect_closes_within_its_budget(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_disconnect_within_budget)?;
    }

    /// Rule 9, on the ladder itself: every delay lies in [d/2, d] with
    /// d = min(base · 2^(n−1), cap) for attempt n, whatever the seed, the
    /// base, the cap and where a reset happens.
    #[test]
    fn every_ladder_delay_is_within_half_the_ceiling_and_the_ceiling(
        seed: u64,
        base_us in 1u64..5_000_000,
        factor in 1u32..100,
        draws in 1usize..80,
        reset_at in proptest::option::of(0usize..80),
        probe: u32,
    ) {
        let base = Duration::from_micros(base_us);
        let cap = base * factor;
        let mut ladder = Backoff::new(base, cap, seed);
        let mut attempt = 0u32;
        for i in 0..draws {
            if reset_at == Some(i) {
                ladder.reset();
                attempt = 0;
            }
            attempt += 1;
            let delay = ladder.next_delay();
            prop_assert_eq!(ladder.attempts(), attempt);
            let d = ladder_ceiling(base, cap, attempt);
            prop_assert_eq!(ladder.ceiling(attempt), d);
            prop_assert!(d <= cap);
            prop_assert!(
                delay * 2 >= d && delay <= d,
                "attempt {}: {:?} outside [{:?}, {:?}]", attempt, delay, d / 2, d
            );
        }
        prop_assert_eq!(ladder.ceiling(probe), ladder_ceiling(base, cap, probe));
    }
}

/// The driver itself: typical cases really reach the interesting states
/// and settlements, so the properties above are not vacuous.
#[test]
fn the_driver_reaches_every_interesting_state() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (any::<u64>(), ops_strategy());
    // In how many cases each state was reached.
    let mut reached: HashMap<LinkState, usize> = HashMap::new();
    let mut settled = HashSet::new();
    let (mut backoffs, mut stale) = (0, 0);
    for _ in 0..300 {
        let (seed, ops) = strategy.new_tree(&mut runner).expect("a case").current();
        let recording = run(seed, &ops);
        let mut here = HashSet::new();
        for step in &recording.steps {
            here.insert(step.after.state);
            stale += usize::from(step.stale);
            for command in &step.commands {
                match command {
                    Command::Settle { settlement, .. } => {
                        settled.insert(settlement.name());
                    }
                    Command::StateChanged(LinkState::Retrying) => backoffs += 1,
                    _ => {}
                }
            }
        }
        for state in here {
            *reached.entry(state).or_default() += 1;
        }
    }
    for state in [
        LinkState::Connecting,
        LinkState::Handshaken,
        LinkState::Retrying,
        LinkState::Dormant,
        LinkState::Held,
        LinkState::Revoked,
        LinkState::Disabled,
        LinkState::Closed,
    ] {
        let cases = reached.get(&state).copied().unwrap_or(0);
        assert!(
            cases >= 3,
            "{state} reached in {cases} of 300 cases: {reached:?}"
        );
    }
    for name in [
        "result",
        "timed_out",
        "connection_lost",
        "not_connected",
        "closed",
        "closed_ambiguous",
    ] {
        assert!(settled.contains(name), "never settled as {name}");
    }
    assert!(backoffs > 100, "{backoffs} backoffs");
    assert!(stale > 100, "{stale} stale inputs");
}
