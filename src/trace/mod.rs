//! Traces: a link's inputs as JSON Lines, replayable and renderable.
//!
//! A trace is everything a [`Link`] was told, with when: a header line
//! (format version, backoff seed, secret-free configuration) followed by
//! one line per input or timeout, with its offset from the link's start in
//! milliseconds:
//!
//! ```text
//! {"relay_link_trace":1,"seed":7,"config":{"url":"ws://127.0.0.1:9/relay", …}}
//! {"at_ms":0,"input":"start"}
//! {"at_ms":12.5,"input":"dial_succeeded","gen":1}
//! {"at_ms":1012.5,"input":"timeout"}
//! ```
//!
//! Because the core is deterministic, replaying a trace through a fresh
//! link gives exactly the commands the original link gave.
//! [`replay`] renders the story as readable text, one input per entry
//! followed by the commands it produced and the state after it. A trace
//! never holds a secret or a token: the header says only whether auth was
//! configured, and no input carries a credential.

mod render;

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{ConfigError, ConfigSummary};
use crate::{Command, Input, Link};

pub use render::{render_command, render_input};

/// The trace format version written in every header.
pub const TRACE_VERSION: u32 = 1;

/// The first line of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TraceHeader {
    /// Format version ([`TRACE_VERSION`]).
    pub relay_link_trace: u32,
    /// The backoff seed the link was created with.
    pub seed: u64,
    /// The link's configuration, without its secret.
    pub config: ConfigSummary,
}

/// What happened at one point of a trace.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// An input was handled.
    Input(Input),
    /// [`Link::handle_timeout`] was called.
    Timeout,
}

/// One line of a trace after the header.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TraceEntry {
    /// Offset from the link's start.
    pub at: Duration,
    /// What happened.
    pub step: Step,
}

/// A whole trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The header.
    pub header: TraceHeader,
    /// The entries, in the order they were handled.
    pub entries: Vec<TraceEntry>,
}

/// A trace that could not be read or replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A line is malformed.
    #[error("trace line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The header's configuration is invalid.
    #[error("trace header: {0}")]
    Config(#[from] ConfigError),
}

fn line_error(line: usize, message: impl fmt::Display) -> TraceError {
    TraceError::Line {
        line,
        message: message.to_string(),
    }
}

/// Milliseconds (with sub-millisecond decimals) as a JSON number.
fn millis_value(at: Duration) -> Value {
    let nanos = at.as_nanos();
    if nanos.is_multiple_of(1_000_000) {
        Value::from((nanos / 1_000_000) as u64)
    } else {
        Value::from(nanos as f64 / 1_000_000.0)
    }
}

fn parse_millis(value: &Value) -> Option<Duration> {
    if let Some(ms) = value.as_u64() {
        return Some(Duration::from_millis(ms));
    }
    let ms = value.as_f64()?;
    if !(ms.is_finite() && ms >= 0.0) {
        return None;
    }
    Some(Duration::from_nanos((ms * 1_000_000.0).round() as u64))
}

impl TraceEntry {
    /// The entry as one JSON line (without the newline).
    pub fn to_line(&self) -> String {
        let mut object = match &self.step {
            Step::Input(input) => match serde_json::to_value(input) {
                Ok(Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            },
            Step::Timeout => {
                let mut map = serde_json::Map::new();
                map.insert("input".into(), Value::from("timeout"));
                map
            }
        };
        let mut line = serde_json::Map::new();
        line.insert("at_ms".into(), millis_value(self.at));
        line.append(&mut object);
        Value::Object(line).to_string()
    }

    /// Parses one entry line; `number` is used in errors.
    pub fn parse(text: &str, number: usize) -> Result<Self, TraceError> {
        let mut value: Value =
            serde_json::from_str(text).map_err(|e| line_error(number, format!("not JSON: {e}")))?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| line_error(number, "not a JSON object"))?;
        let at = object
            .remove("at_ms")
            .as_ref()
            .and_then(parse_millis)
            .ok_or_else(|| line_error(number, "missing or invalid `at_ms`"))?;
        let step = if object.get("input").and_then(Value::as_str) == Some("timeout") {
            Step::Timeout
        } else {
            Step::Input(
                serde_json::from_value(value)
                    .map_err(|e| line_error(number, format!("invalid input: {e}")))?,
            )
        };
        Ok(Self { at, step })
    }
}

impl Trace {
    /// Starts an empty trace for a link created with `seed` and a config
    /// summarised as `config`.
    pub fn new(seed: u64, config: ConfigSummary) -> Self {
        Self {
            header: TraceHeader {
                relay_link_trace: TRACE_VERSION,
                seed,
                config,
            },
            entries: Vec::new(),
        }
    }

    /// Parses a JSON Lines trace. Blank lines are skipped; errors name the
    /// 1-based line number.
    pub fn parse(text: &str) -> Result<Self, TraceError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, line)| (i + 1, line))
            .filter(|(_, line)| !line.trim().is_empty());
        let (number, first) = lines
            .next()
            .ok_or_else(|| line_error(1, "empty trace: the header line is missing"))?;
        let header: TraceHeader = serde_json::from_str(first)
            .map_err(|e| line_error(number, format!("invalid header: {e}")))?;
        if header.relay_link_trace != TRACE_VERSION {
            return Err(line_error(
                number,
                format!("unsupported trace version {}", header.relay_link_trace),
            ));
        }
        let entries = lines
            .map(|(number, line)| TraceEntry::parse(line, number))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { header, entries })
    }

    /// The header as one JSON line (without the newline).
    pub fn header_line(&self) -> String {
        serde_json::to_string(&self.header).unwrap_or_default()
    }

    /// The whole trace as JSON Lines.
    pub fn to_jsonl(&self) -> String {
        let mut out = self.header_line();
        out.push('\n');
        for entry in &self.entries {
            out.push_str(&entry.to_line());
            out.push('\n');
        }
        out
    }

    /// Runs the trace through a fresh link, calling `observe` after each
    /// entry with the entry, the commands it produced, and the link.
    pub fn run(
        &self,
        mut observe: impl FnMut(&TraceEntry, Vec<Command>, &Link),
    ) -> Result<(), TraceError> {
        let config = self.header.config.to_config()?;
        let origin = Instant::now();
        let mut link = Link::new(config, self.header.seed, origin);
        for entry in &self.entries {
            let now = origin + entry.at;
            match &entry.step {
                Step::Input(input) => link.handle_input(input.clone(), now),
                Step::Timeout => link.handle_timeout(now),
            }
            let commands = link.drain_commands().into_iter().collect();
            observe(entry, commands, &link);
        }
        Ok(())
    }

    /// Every command the trace produces, in order.
    pub fn commands(&self) -> Result<Vec<Command>, TraceError> {
        let mut all = Vec::new();
        self.run(|_, commands, _| all.extend(commands))?;
        Ok(all)
    }
}

/// Replays a trace through a fresh link and renders the story as text.
pub fn replay(trace: &Trace) -> Result<String, TraceError> {
    let mut out = String::new();
    trace.run(|entry, commands, link| render::render_entry(&mut out, entry, &commands, link))?;
    Ok(out)
}

/// Records what a link is told, as a [`Trace`] in memory.
///
/// The shell calls [`record`](Recorder::record) before handing each input to
/// the link; it returns the JSON line to append to a
/// file as it happens.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    trace: Trace,
}

impl Recorder {
    /// A recorder for a link created at `start` with `seed` and `config`.
    pub fn new(start: Instant, seed: u64, config: ConfigSummary) -> Self {
        Self {
            start,
            trace: Trace::new(seed, config),
        }
    }

    /// Records one step at `now` and returns its JSON line.
    pub fn record(&mut self, step: Step, now: Instant) -> String {
        let entry = TraceEntry {
            at: now.saturating_duration_since(self.start),
            step,
        };
        let line = entry.to_line();
        self.trace.entries.push(entry);
        line
    }

    /// The header's JSON line.
    pub fn header_line(&self) -> String {
        self.trace.header_line()
    }

    /// The trace recorded so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }
}
