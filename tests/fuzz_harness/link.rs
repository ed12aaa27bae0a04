//! Fuzz harness of the sans-IO core: a [`Link`] driven by an arbitrary
//! sequence of inputs and timeouts (injected time), with the core's
//! invariants checked after every step.
//!
//! Shared by the cargo-fuzz target `fuzz/fuzz_targets/link.rs` and the
//! stable replay test `tests/fuzz_corpus.rs` (both include this file by
//! path). The bytes are read with `arbitrary`: a [`Setup`] (seed and
//! configuration), then [`Op`]s until the bytes run out (at most
//! [`MAX_OPS`]). Every run ends with a disconnect and every timer left.
//!
//! Invariants (each failure panics with the last steps of the story):
//! one dial or connection alive at a time and generations increasing; no
//! dial after Revoked, Disabled or Closed, and no way out of them; at most
//! one fatal report, exactly one once revoked; every request written at
//! most once and settled exactly once, `ambiguous` exactly when written
//! without a result, a result only for a written request; a `bufferId`
//! delivered at most once and acked only after the application accepted
//! it; a stale input changes nothing; time handed in never panics; after
//! the final disconnect the link is terminal, idle and owes nothing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use relay_link::config::Config;
use relay_link::protocol::OutgoingFrame;
use relay_link::trace::{render_command, render_input};
use relay_link::{
    Command, DialFailure, Generation, Input, Link, LinkState, RequestId, Settlement, Timer,
};
use serde_json::{json, Map, Value};

/// The most ops one input runs.
pub const MAX_OPS: usize = 400;
/// How many steps of the story a failure shows.
const STORY: usize = 40;
/// The budget of the disconnect that ends every run.
const FINAL_BUDGET: Duration = Duration::from_secs(5);
/// Wake-ups run inside that budget before jumping to its end.
const FINAL_WAKEUPS: usize = 64;

/// Durations a timing may take, extremes included: zero (refused by the
/// builder except for the drain grace), one nanosecond, a timing past the
/// core's century horizon, and `Duration::MAX` (both mean "never").
const DURATIONS: [Duration; 11] = [
    Duration::ZERO,
    Duration::from_nanos(1),
    Duration::from_millis(1),
    Duration::from_millis(20),
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(3_600),
    Duration::from_secs(101 * 365 * 24 * 3_600),
    Duration::MAX,
];

/// The link's seed and configuration, as indices into small tables.
#[derive(Debug, Arbitrary)]
pub struct Setup {
    /// The backoff seed.
    pub seed: u64,
    /// Indices into [`DURATIONS`], one per timing setting, in the order of
    /// [`config`]'s setters (backoff base, backoff max, stable after,
    /// connect, handshake, outbound, ping, idle, going idle, dormant
    /// redial, max hold, drain grace).
    pub timings: [u8; 12],
    /// The frame limit: 64 bytes plus this.
    pub max_frame: u8,
    /// `bufferId`s remembered: this plus one.
    pub dedupe: u8,
    /// Whether upgrades carry a token.
    pub auth: bool,
    /// Whether a second identity (`slack`) is fronted.
    pub two_identities: bool,
}

/// An identity platform a frame or a send may name.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Platform {
    Default,
    Discord,
    Slack,
    Unknown,
}

impl Platform {
    fn name(self) -> Option<&'static str> {
        match self {
            Platform::Default => None,
            Platform::Discord => Some("discord"),
            Platform::Slack => Some("slack"),
            Platform::Unknown => Some("matrix"),
        }
    }
}

/// One frame inside a received message.
#[derive(Debug, Arbitrary)]
pub enum Frame {
    Descriptor(Platform),
    BadDescriptor,
    /// A result for one of the ids sent so far, picked by this number.
    Result(u8),
    UnknownResult,
    Inbound(Option<u8>),
    Passthrough(Option<u8>),
    Interrupt,
    GoingIdleAck,
    Garbage,
    NotAnObject,
    UnknownType,
    Blank,
    /// A partial line longer than the frame limit.
    Oversized,
    /// Any text at all.
    Text(String),
}

/// How a dial fails.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Failure {
    Http(u16),
    Io,
    /// Accepted and closed at once with this code and reason.
    Closed(Close),
}

/// A close code and reason.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Close {
    NoFrame,
    Normal,
    GoingAway,
    Abnormal,
    TooBig,
    Unauthorized,
    Expired,
    /// 4401 with an unexpected reason.
    UnauthorizedOther,
    Other(u16),
}

impl Close {
    fn code_reason(self) -> (Option<u16>, &'static str) {
        match self {
            Close::NoFrame => (None, ""),
            Close::Normal => (Some(1000), "bye"),
            Close::GoingAway => (Some(1001), "going away"),
            Close::Abnormal => (Some(1006), ""),
            Close::TooBig => (Some(1009), "too big"),
            Close::Unauthorized => (Some(4401), "unauthorized"),
            Close::Expired => (Some(4401), "expired"),
            Close::UnauthorizedOther => (Some(4401), " Expired "),
            Close::Other(code) => (Some(code), "other"),
        }
    }
}

/// An input that names an older generation.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Stale {
    DialSucceeded,
    DialFailed,
    Descriptor,
    Heard,
    Closed(Close),
}

/// One thing that happens to the link.
#[derive(Debug, Arbitrary)]
pub enum Op {
    /// Time passes (milliseconds), then due timers fire.
    Advance(u16),
    /// Time passes (seconds), then due timers fire.
    AdvanceLong(u8),
    /// Jump exactly to the next deadline and fire it.
    FireNextTimer,
    DialSucceeds,
    /// Accepted, and a descriptor follows at once.
    Handshakes,
    DialFails(Failure),
    /// One message holding these frames, optionally split in two there.
    Receive(Vec<Frame>, Option<u16>),
    Heard,
    Closed(Close),
    Send(Platform),
    /// Send again with an id that is still pending (must be refused).
    SendPendingId(u8),
    /// Send again with an id that was settled (a new request).
    SendSettledId(u8),
    Accept(u8),
    Interrupt,
    GoIdle,
    GoDormant,
    Hold,
    Release,
    Disconnect(u16),
    /// A disconnect whose budget never runs out.
    DisconnectWithoutLimit,
    FatalAcknowledged,
    Start,
    StaleInput(Stale, u8),
}

/// What a run reached, so a corpus can be checked for coverage.
#[derive(Debug, Default, Clone)]
pub struct Reached {
    /// Every state the link was in after some step.
    pub states: HashSet<LinkState>,
    /// The name of every settlement given.
    pub settlements: HashSet<&'static str>,
    /// Steps run.
    pub steps: usize,
    /// Whether the setup was a valid configuration (else nothing ran).
    pub configured: bool,
}

fn config(setup: &Setup) -> Option<Config> {
    let d = |i: usize| DURATIONS[usize::from(setup.timings[i]) % DURATIONS.len()];
    let mut builder = Config::builder("ws://connector.test")
        .identity("discord", "b1")
        .backoff_base(d(0))
        .backoff_max(d(1).max(d(0)))
        .stable_after(d(2))
        .connect_timeout(d(3))
        .handshake_timeout(d(4))
        .outbound_timeout(d(5))
        .ping_interval(d(6))
        .idle_timeout(d(7).max(d(6).saturating_add(Duration::from_millis(1))))
        .going_idle_timeout(d(8))
        .dormant_redial(d(9))
        .max_hold(d(10))
        .drain_grace(d(11))
        .max_frame_size(64 + usize::from(setup.max_frame))
        .dedupe_capacity(1 + usize::from(setup.dedupe));
    if setup.two_identities {
        builder = builder.identity("slack", "B2");
    }
    if setup.auth {
        builder = builder.gateway_id("gw-1").secret("s3cret");
    }
    builder.build().ok()
}

fn line(frame: Value) -> String {
    format!("{frame}\n")
}

fn descriptor(platform: &str) -> String {
    line(json!({
        "type": "descriptor",
        "descriptor": {
            "contract_version": 1, "platform": platform, "label": platform,
            "max_message_length": 2000, "supports_draft_streaming": false,
            "supports_edit": true, "supports_threads": true,
            "markdown_dialect": "commonmark", "len_unit": "chars"
        }
    }))
}

fn buffer_id(n: u8) -> String {
    format!("b{}", n % 6)
}

/// A request as the checker tracks it.
#[derive(Default)]
struct Request {
    /// When the frame was written.
    written: Option<Instant>,
    settled: bool,
}

/// The driver and the invariants' running state.
struct Run {
    link: Link,
    origin: Instant,
    now: Instant,
    /// The generation of the latest dial.
    current: u64,
    /// The latest dial and whether its socket opened, while alive.
    alive: Option<(Generation, bool)>,
    ended: Option<LinkState>,
    fatals: usize,
    requests: HashMap<RequestId, Request>,
    sent: Vec<RequestId>,
    /// The id of a re-send of a pending request, until it is refused.
    resend: Option<RequestId>,
    delivered: HashSet<String>,
    accepted: HashSet<String>,
    story: VecDeque<String>,
    reached: Reached,
}

impl Run {
    fn gen(&self) -> Generation {
        Generation(self.current)
    }

    fn fail(&self, why: String) -> ! {
        let story: Vec<&str> = self.story.iter().map(String::as_str).collect();
        panic!(
            "invariant broken: {why}\n--- last steps ---\n{}",
            story.join("\n")
        );
    }

    fn at(&self) -> u128 {
        (self.now - self.origin).as_millis()
    }

    fn input(&mut self, input: Input) {
        self.step(Some(input), false);
    }

    fn step(&mut self, input: Option<Input>, stale: bool) {
        let state_before = self.link.state();
        let timeout_before = self.link.poll_timeout();
        let stats_before = self.link.stats();
        let pending_before = self.link.pending_requests();
        match &input {
            Some(input) => self.link.handle_input(input.clone(), self.now),
            None => self.link.handle_timeout(self.now),
        }
        let commands: Vec<Command> = self.link.drain_commands().into();
        let what = input.as_ref().map_or("timeout".into(), render_input);
        self.story.push_back(format!("+{}ms {what}", self.at()));
        for command in &commands {
            self.story
                .push_back(format!("    → {}", render_command(command)));
        }
        while self.story.len() > STORY {
            self.story.pop_front();
        }
        self.reached.steps += 1;
        self.reached.states.insert(self.link.state());
        if stale {
            let mut expected = stats_before;
            expected.stale_inputs += 1;
            let unchanged = commands.is_empty()
                && self.link.state() == state_before
                && self.link.poll_timeout() == timeout_before
                && self.link.pending_requests() == pending_before
                && self.link.stats() == expected;
            if !unchanged {
                self.fail("a stale input changed the link".into());
            }
        }
        let counted_stale = self.link.stats().stale_inputs > stats_before.stale_inputs;
        self.observe_input(input.as_ref(), counted_stale);
        for command in &commands {
            self.observe(command);
        }
        if let Some(ended) = self.ended {
            if !self.link.state().is_terminal() {
                self.fail(format!("left {ended} for {}", self.link.state()));
            }
        }
        if matches!(self.link.state(), LinkState::Revoked | LinkState::Disabled) && self.fatals != 1
        {
            self.fail("revoked without exactly one fatal report".into());
        }
        if let Some(Input::Send { id, .. }) = &input {
            let request = self.requests.get(id);
            if !request.is_some_and(|r| r.written.is_some() || r.settled) {
                self.fail(format!("{id} neither written nor settled at once"));
            }
        }
    }

    /// What the input itself tells the checker.
    fn observe_input(&mut self, input: Option<&Input>, counted: bool) {
        match input {
            Some(Input::DialSucceeded { gen }) if self.alive == Some((*gen, false)) => {
                self.alive = Some((*gen, true));
            }
            Some(Input::DialFailed { gen, .. }) if self.alive == Some((*gen, false)) => {
                self.alive = None;
            }
            Some(Input::SocketClosed { gen, .. })
                if self.alive.map(|a| a.0) == Some(*gen) && !counted =>
            {
                self.alive = None;
            }
            Some(Input::Accepted { buffer_id }) if self.delivered.contains(buffer_id) => {
                self.accepted.insert(buffer_id.clone());
            }
            // A new id, or a settled one reused: a new request.
            Some(Input::Send { id, .. }) if self.resend.as_ref() != Some(id) => {
                self.requests.insert(id.clone(), Request::default());
            }
            _ => {}
        }
    }

    fn observe(&mut self, command: &Command) {
        let at = self.at();
        match command {
            Command::Dial { gen, .. } => {
                if let Some(ended) = self.ended {
                    self.fail(format!("at +{at}ms: dial {gen} after {ended}"));
                }
                if let Some((old, _)) = self.alive {
                    self.fail(format!("at +{at}ms: dial {gen} while {old} is alive"));
                }
                if gen.0 <= self.current {
                    self.fail(format!(
                        "at +{at}ms: dial {gen} after dial {}",
                        self.current
                    ));
                }
                self.alive = Some((*gen, false));
                self.current = gen.0;
            }
            Command::CancelDial { gen } | Command::Close { gen, .. }
                if self.alive.map(|a| a.0) == Some(*gen) =>
            {
                self.alive = None;
            }
            Command::StateChanged(state) if state.is_terminal() => self.ended = Some(*state),
            Command::Fatal(_) => {
                self.fatals += 1;
                if self.fatals > 1 {
                    self.fail(format!("at +{at}ms: a second fatal report"));
                }
                self.ended = Some(LinkState::Revoked);
            }
            Command::Send {
                frame: OutgoingFrame::Outbound { request_id, .. },
                ..
            } => {
                let Some(request) = self.requests.get_mut(request_id) else {
                    self.fail(format!("at +{at}ms: wrote unknown {request_id}"));
                };
                if request.written.is_some() || request.settled {
                    self.fail(format!("at +{at}ms: {request_id} written twice"));
                }
                request.written = Some(self.now);
            }
            Command::Send {
                frame: OutgoingFrame::InboundAck { buffer_id },
                ..
            } if !self.accepted.contains(buffer_id) => {
                self.fail(format!("at +{at}ms: acked {buffer_id} before acceptance"));
            }
            Command::Settle { id, settlement } => self.settle(id, settlement),
            Command::Inbound(frame) => self.deliver(frame.buffer_id.as_deref()),
            Command::Passthrough(frame) => self.deliver(frame.buffer_id.as_deref()),
            _ => {}
        }
    }

    fn settle(&mut self, id: &RequestId, settlement: &Settlement) {
        let at = self.at();
        self.reached.settlements.insert(settlement.name());
        if self.resend.as_ref() == Some(id) {
            // The refusal of a re-sent pending id; the pending request of
            // that id is untouched.
            self.resend = None;
            if settlement.is_ambiguous() || matches!(settlement, Settlement::Result(_)) {
                self.fail(format!(
                    "at +{at}ms: re-sent {id} settled {}",
                    settlement.name()
                ));
            }
            return;
        }
        if *settlement == Settlement::DuplicateId {
            self.fail(format!("at +{at}ms: {id} refused as a duplicate"));
        }
        let timeout = self.link.config().outbound_timeout();
        let now = self.now;
        let Some(request) = self.requests.get_mut(id) else {
            self.fail(format!("at +{at}ms: settled unknown {id}"));
        };
        if request.settled {
            self.fail(format!("at +{at}ms: {id} settled twice"));
        }
        request.settled = true;
        let written_at = request.written;
        let written = written_at.is_some();
        if *settlement == Settlement::TimedOut
            && written_at.is_some_and(|w| now.saturating_duration_since(w) < timeout)
        {
            self.fail(format!(
                "at +{at}ms: {id} timed out before its outbound timeout"
            ));
        }
        let is_result = matches!(settlement, Settlement::Result(_));
        if is_result && !written {
            self.fail(format!("at +{at}ms: {id} got a result, never written"));
        }
        if settlement.is_ambiguous() != (written && !is_result) {
            self.fail(format!(
                "at +{at}ms: {id} settled {} (written: {written})",
                settlement.name()
            ));
        }
    }

    /// A `bufferId` is delivered once. A delivery still awaiting
    /// acceptance is never delivered again; an accepted one may be
    /// forgotten (and so delivered again, to be accepted again) only once
    /// more ids than the dedupe capacity were delivered.
    fn deliver(&mut self, buffer_id: Option<&str>) {
        let Some(id) = buffer_id else {
            return;
        };
        if self.delivered.insert(id.to_owned()) {
            return;
        }
        let at = self.at();
        if !self.accepted.remove(id) {
            self.fail(format!(
                "at +{at}ms: {id} delivered twice before acceptance"
            ));
        }
        if self.delivered.len() <= self.link.config().dedupe_capacity() {
            self.fail(format!("at +{at}ms: {id} delivered twice"));
        }
    }

    fn frame_text(&self, frame: &Frame) -> String {
        match frame {
            Frame::Descriptor(platform) => descriptor(platform.name().unwrap_or("discord")),
            Frame::BadDescriptor => {
                line(json!({"type": "descriptor", "descriptor": {"contract_version": 1}}))
            }
            Frame::Result(pick) if !self.sent.is_empty() => {
                let id = &self.sent[usize::from(*pick) % self.sent.len()];
                line(
                    json!({"type": "outbound_result", "requestId": id.to_string(), "result": {"ok": true}}),
                )
            }
            Frame::Result(_) | Frame::UnknownResult => {
                line(json!({"type": "outbound_result", "requestId": "never-sent", "result": {}}))
            }
            Frame::Inbound(buffer) => {
                let mut frame = json!({"type": "inbound", "event": {"text": "hi"}});
                if let Some(b) = buffer {
                    frame["bufferId"] = Value::from(buffer_id(*b));
                }
                line(frame)
            }
            Frame::Passthrough(buffer) => {
                let mut frame = json!({"type": "passthrough_forward", "forward": {
                    "platform": "slack", "botId": "B2", "method": "POST", "path": "/hook",
                    "headers": [["content-type", "application/json"]], "bodyB64": "e30="
                }});
                if let Some(b) = buffer {
                    frame["bufferId"] = Value::from(buffer_id(*b));
                }
                line(frame)
            }
            Frame::Interrupt => {
                line(json!({"type": "interrupt_inbound", "session_key": "s", "chat_id": "c"}))
            }
            Frame::GoingIdleAck => line(json!({"type": "going_idle_ack"})),
            Frame::Garbage => "{\"type\": \"inbound\", oops\n".into(),
            Frame::NotAnObject => "[1, 2, 3]\n".into(),
            Frame::UnknownType => "{\"type\":\"from_the_future\",\"x\":1}\n".into(),
            Frame::Blank => " \r\n".into(),
            Frame::Oversized => "x".repeat(self.link.config().max_frame_size() + 1),
            Frame::Text(text) => text.clone(),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.step(None, false);
    }

    fn fire_next_timer(&mut self) -> bool {
        match self.link.poll_timeout() {
            Some((at, _)) => {
                self.now = self.now.max(at);
                self.step(None, false);
                true
            }
            None => false,
        }
    }

    fn send(&mut self, id: RequestId, platform: Option<&str>) {
        let mut action = Map::new();
        action.insert("op".into(), Value::from("send"));
        action.insert("text".into(), Value::from("hello"));
        self.input(Input::Send {
            id,
            action,
            platform: platform.map(str::to_owned),
        });
    }

    fn apply(&mut self, op: Op) {
        let gen = self.gen();
        match op {
            Op::Advance(ms) => self.advance(Duration::from_millis(u64::from(ms))),
            Op::AdvanceLong(s) => self.advance(Duration::from_secs(u64::from(s))),
            Op::FireNextTimer => {
                self.fire_next_timer();
            }
            Op::DialSucceeds => self.input(Input::DialSucceeded { gen }),
            Op::Handshakes => {
                self.input(Input::DialSucceeded { gen });
                let text = descriptor("discord");
                self.input(Input::Received { gen, text });
            }
            Op::DialFails(failure) => {
                let failure = match failure {
                    Failure::Http(status) => DialFailure::Http { status },
                    Failure::Io => DialFailure::Io {
                        error: relay_link::IoFailure::Reset,
                        message: "connection reset".into(),
                    },
                    Failure::Closed(close) => {
                        let (code, reason) = close.code_reason();
                        DialFailure::Closed {
                            code: code.unwrap_or(1006),
                            reason: reason.into(),
                        }
                    }
                };
                self.input(Input::DialFailed { gen, failure });
            }
            Op::Receive(frames, split) => {
                let text: String = frames.iter().map(|f| self.frame_text(f)).collect();
                match split {
                    Some(at) => {
                        let mut cut = usize::from(at) % (text.len() + 1);
                        while !text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        let (a, b) = text.split_at(cut);
                        let (a, b) = (a.to_owned(), b.to_owned());
                        self.input(Input::Received { gen, text: a });
                        self.input(Input::Received { gen, text: b });
                    }
                    None => self.input(Input::Received { gen, text }),
                }
            }
            Op::Heard => self.input(Input::Heard { gen }),
            Op::Closed(close) => {
                let (code, reason) = close.code_reason();
                self.input(Input::SocketClosed {
                    gen,
                    code,
                    reason: reason.into(),
                });
            }
            Op::Send(platform) => {
                let id = RequestId::new(format!("r{}", self.sent.len() + 1));
                self.sent.push(id.clone());
                self.send(id, platform.name());
            }
            Op::SendPendingId(pick) => {
                let pending: Vec<RequestId> = self
                    .sent
                    .iter()
                    .filter(|id| self.requests.get(*id).is_some_and(|r| !r.settled))
                    .cloned()
                    .collect();
                if let Some(id) = pending.get(usize::from(pick) % pending.len().max(1)) {
                    let before = self.link.pending_requests();
                    let id = id.clone();
                    self.resend = Some(id.clone());
                    self.send(id.clone(), None);
                    if self.resend.take().is_some() {
                        self.fail(format!("re-sent pending {id} was not refused at once"));
                    }
                    if self.link.pending_requests() != before {
                        self.fail(format!("re-sending pending {id} changed the pending set"));
                    }
                }
            }
            Op::SendSettledId(pick) => {
                let settled: Vec<RequestId> = self
                    .sent
                    .iter()
                    .filter(|id| self.requests.get(*id).is_some_and(|r| r.settled))
                    .cloned()
                    .collect();
                if let Some(id) = settled.get(usize::from(pick) % settled.len().max(1)) {
                    let id = id.clone();
                    self.send(id, None);
                }
            }
            Op::Accept(b) => self.input(Input::Accepted {
                buffer_id: buffer_id(b),
            }),
            Op::Interrupt => self.input(Input::Interrupt {
                session_key: "s".into(),
                reason: None,
            }),
            Op::GoIdle => self.input(Input::GoIdle),
            Op::GoDormant => self.input(Input::GoDormant),
            Op::Hold => self.input(Input::HoldRedial),
            Op::Release => self.input(Input::ReleaseRedial),
            Op::Disconnect(ms) => self.input(Input::Disconnect {
                budget_ms: u64::from(ms),
            }),
            Op::DisconnectWithoutLimit => self.input(Input::Disconnect {
                budget_ms: u64::MAX,
            }),
            Op::FatalAcknowledged => self.input(Input::FatalAcknowledged),
            Op::Start => self.input(Input::Start),
            Op::StaleInput(kind, pick) => {
                if self.current < 2 {
                    return;
                }
                let gen = Generation(1 + u64::from(pick) % (self.current - 1));
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
                    Stale::Closed(close) => {
                        let (code, reason) = close.code_reason();
                        Input::SocketClosed {
                            gen,
                            code,
                            reason: reason.into(),
                        }
                    }
                };
                self.step(Some(input), true);
            }
        }
    }

    /// The final disconnect: the link must end, owing nothing.
    fn finish(&mut self) {
        self.input(Input::Disconnect {
            budget_ms: FINAL_BUDGET.as_millis() as u64,
        });
        // Wake-ups inside the budget, then one at its end: by then the link
        // must have closed (however short its keepalive period).
        let end = self.now + FINAL_BUDGET;
        for _ in 0..FINAL_WAKEUPS {
            match self.link.poll_timeout() {
                Some((at, _)) if at < end => {
                    self.now = self.now.max(at);
                    self.step(None, false);
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
        self.step(None, false);
        let state = self.link.state();
        if !state.is_terminal() || self.link.poll_timeout().is_some() {
            self.fail(format!(
                "did not settle after the final disconnect: {state}, next {:?}",
                self.link.poll_timeout().map(|(_, t): (Instant, Timer)| t)
            ));
        }
        if self.link.pending_requests() != 0 {
            self.fail("requests still pending at the end".into());
        }
        if let Some((id, _)) = self.requests.iter().find(|(_, r)| !r.settled) {
            self.fail(format!("{id} was never settled"));
        }
    }
}

/// Runs one input; panics on a broken invariant. Returns what it reached.
pub fn run(data: &[u8]) -> Reached {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return Reached::default();
    };
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    run_ops(&setup, ops)
}

/// Runs `ops` against a link built from `setup` (the decoded form of an
/// input); panics on a broken invariant.
pub fn run_ops(setup: &Setup, ops: Vec<Op>) -> Reached {
    let Some(config) = config(setup) else {
        return Reached::default();
    };
    let origin = Instant::now();
    let mut run = Run {
        link: Link::new(config, setup.seed, origin),
        origin,
        now: origin,
        current: 0,
        alive: None,
        ended: None,
        fatals: 0,
        requests: HashMap::new(),
        sent: Vec::new(),
        resend: None,
        delivered: HashSet::new(),
        accepted: HashSet::new(),
        story: VecDeque::new(),
        reached: Reached {
            configured: true,
            ..Reached::default()
        },
    };
    run.input(Input::Start);
    for op in ops {
        run.apply(op);
    }
    run.finish();
    run.reached
}
