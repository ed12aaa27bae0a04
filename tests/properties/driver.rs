//! The driver: runs a case against a [`Link`] and records every step.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use proptest::test_runner::TestCaseError;
use relay_link::config::Config;
use relay_link::trace::{render_command, render_input};
use relay_link::{
    Command, DialFailure, Generation, Input, Link, LinkState, PlatformState, RequestId, Stats,
    Timer,
};
use serde_json::{json, Map, Value};

use crate::ops::*;
use crate::support::{self, descriptor, going_idle_ack, inbound, outbound_result, passthrough};

/// A small frame limit, so an oversized partial line is cheap to build.
pub const MAX_FRAME: usize = 4096;
/// The budget of the disconnect that ends every case.
pub const FINAL_BUDGET_MS: u64 = 5_000;

/// What a link looked like between two steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: LinkState,
    pub platform: Option<PlatformState>,
    pub generation: Generation,
    pub was_handshaken: bool,
    pub stats: Stats,
    pub pending: usize,
    pub timeout: Option<(Instant, Timer)>,
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
pub struct Step {
    pub input: Option<Input>,
    /// Made by [`Op::StaleInput`]: names an older generation.
    pub stale: bool,
    pub now: Instant,
    pub before: Snapshot,
    pub after: Snapshot,
    pub commands: Vec<Command>,
}

impl Step {
    /// Whether the link counted this input as stale.
    pub fn counted_stale(&self) -> bool {
        self.after.stats.stale_inputs > self.before.stats.stale_inputs
    }
}

/// A recorded case.
pub struct Recording {
    pub origin: Instant,
    pub steps: Vec<Step>,
    /// The configuration the case ran with.
    pub config: Config,
}

/// Runs ops against a link, answering its latest dial.
pub struct Driver {
    link: Link,
    origin: Instant,
    now: Instant,
    /// The generation of the most recent `Dial` the link emitted.
    current: u64,
    sent: Vec<String>,
    steps: Vec<Step>,
}

impl Driver {
    fn new(config: Config, seed: u64) -> Self {
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
                        error: relay_link::IoFailure::Reset,
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

pub fn buffer_id(n: u8) -> String {
    format!("b{n}")
}

/// The configuration of the ordinary cases: contract defaults, but a small
/// frame limit.
pub fn default_config() -> Config {
    support::config_builder()
        .max_frame_size(MAX_FRAME)
        .build()
        .expect("valid")
}

/// How a case ends after its final disconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Fire timers one by one; a bounded number of wake-ups must settle it.
    FireEachTimer,
    /// As `FireEachTimer`, then, if something is still armed (keepalive
    /// every nanosecond during a drain), jump past the budget at once.
    ThenJumpPastTheBudget,
}

/// Runs one case with the default configuration.
pub fn run(seed: u64, ops: &[Op]) -> Recording {
    run_with(default_config(), seed, ops, Ending::FireEachTimer)
}

/// Runs one case: start, the ops, then a disconnect and every timer left.
pub fn run_with(config: Config, seed: u64, ops: &[Op], ending: Ending) -> Recording {
    let mut driver = Driver::new(config.clone(), seed);
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
    if ending == Ending::ThenJumpPastTheBudget && driver.link.poll_timeout().is_some() {
        driver.now += Duration::from_millis(FINAL_BUDGET_MS);
        driver.timeout();
        for _ in 0..64 {
            if !driver.fire_next_timer() {
                break;
            }
        }
    }
    Recording {
        origin: driver.origin,
        steps: driver.steps,
        config,
    }
}

/// The case as a readable story, for failure messages.
pub fn story(recording: &Recording) -> String {
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
pub fn verify(recording: &Recording, check: crate::checks::Check) -> Result<(), TestCaseError> {
    check(recording).map_err(|why| TestCaseError::fail(format!("{why}\n\n{}", story(recording))))
}

pub fn at_ms(recording: &Recording, step: &Step) -> u128 {
    (step.now - recording.origin).as_millis()
}
