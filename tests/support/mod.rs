//! A tiny scenario kit for driving a [`Link`] by hand, in the style of
//! mozilla's happy-eyeballs tests: an injected clock, inputs in, and the
//! commands that came out compared one by one as their one-line text form.
//!
//! ```ignore
//! let mut h = Harness::started(config());
//! h.expect("dial{gen:1, fresh_token}")
//!     .expect("state(connecting)")
//!     .expect("platform(connecting)")
//!     .expect_idle();
//! ```

// Each test binary uses a different part of the kit.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use relay_link::config::{Config, ConfigBuilder};
use relay_link::trace::render_command;
use relay_link::{Command, DialFailure, Generation, Input, IoFailure, Link, Timer};
use serde_json::{json, Map, Value};

/// The seed every harness uses unless told otherwise.
pub const SEED: u64 = 7;

/// The configuration most scenarios use: auth on, fronting `discord:b1` and
/// `slack:B2`, every timing at its contract default.
pub fn config() -> Config {
    config_builder()
        .build()
        .expect("the test configuration is valid")
}

/// The builder behind [`config`], to change a setting or two.
pub fn config_builder() -> ConfigBuilder {
    Config::builder("ws://connector.test")
        .gateway_id("gw-1")
        .secret("s3cret")
        .identity("discord", "b1")
        .identity("slack", "B2")
}

/// A [`Link`] with a clock the test advances by hand.
pub struct Harness {
    /// The link under test.
    pub link: Link,
    /// Time zero, created once.
    pub origin: Instant,
    /// The current time.
    pub now: Instant,
}

impl Harness {
    /// An unstarted link built from `config`, seeded with [`SEED`].
    pub fn new(config: Config) -> Self {
        Self::with_seed(config, SEED)
    }

    /// An unstarted link built from `config` and `seed`.
    pub fn with_seed(config: Config, seed: u64) -> Self {
        let origin = Instant::now();
        Self {
            link: Link::new(config, seed, origin),
            origin,
            now: origin,
        }
    }

    /// A link that was just given [`Input::Start`] (its commands are queued).
    pub fn started(config: Config) -> Self {
        let mut h = Self::new(config);
        h.input(Input::Start);
        h
    }

    /// Milliseconds since the origin.
    pub fn elapsed_ms(&self) -> u64 {
        (self.now - self.origin).as_millis() as u64
    }

    /// Moves the clock forward by `ms` without firing anything. Panics when
    /// that would silently skip over a timer deadline (fire it first).
    pub fn advance(&mut self, ms: u64) -> &mut Self {
        let to = self.now + Duration::from_millis(ms);
        if let Some((at, timer)) = self.link.poll_timeout() {
            assert!(
                at >= to,
                "advance({ms}) at +{}ms would skip the {timer} timer due at +{}ms",
                self.elapsed_ms(),
                (at - self.origin).as_millis()
            );
        }
        self.now = to;
        self
    }

    /// Jumps to the next timer deadline (if it is in the future) and calls
    /// `handle_timeout`. Returns the timer that was due.
    pub fn fire_due_timers(&mut self) -> Timer {
        let (at, timer) = self.link.poll_timeout().expect("a timer is armed");
        if at > self.now {
            self.now = at;
        }
        self.link.handle_timeout(self.now);
        timer
    }

    /// The next timer as `(timer, milliseconds from now)`.
    pub fn next_timer(&self) -> Option<(Timer, u64)> {
        self.link.poll_timeout().map(|(at, timer)| {
            (
                timer,
                (at.saturating_duration_since(self.now)).as_millis() as u64,
            )
        })
    }

    /// Feeds one input at the current time.
    pub fn input(&mut self, input: Input) -> &mut Self {
        self.link.handle_input(input, self.now);
        self
    }

    /// Pops the next command and compares its rendered text with `text`;
    /// on a mismatch, panics listing every command that was left.
    #[track_caller]
    pub fn expect(&mut self, text: &str) -> &mut Self {
        match self.link.poll_command() {
            Some(command) if render_command(&command) == text => self,
            first => {
                let mut left: Vec<String> = first.iter().map(render_command).collect();
                left.extend(self.link.drain_commands().iter().map(render_command));
                panic!(
                    "at +{}ms expected `{text}`, the remaining commands were:\n{}",
                    self.elapsed_ms(),
                    if left.is_empty() {
                        "  (none)".to_owned()
                    } else {
                        left.iter().map(|c| format!("  {c}\n")).collect()
                    }
                );
            }
        }
    }

    /// Pops the next command, which must match `pick`, and returns it.
    #[track_caller]
    pub fn expect_command<T>(&mut self, pick: impl FnOnce(&Command) -> Option<T>) -> T {
        let command = self.link.poll_command().expect("a command is queued");
        pick(&command)
            .unwrap_or_else(|| panic!("unexpected command `{}`", render_command(&command)))
    }

    /// Asserts that no command is left.
    #[track_caller]
    pub fn expect_idle(&mut self) -> &mut Self {
        let left: Vec<String> = self
            .link
            .drain_commands()
            .iter()
            .map(render_command)
            .collect();
        assert!(
            left.is_empty(),
            "at +{}ms expected no command, got:\n{}",
            self.elapsed_ms(),
            left.iter().map(|c| format!("  {c}\n")).collect::<String>()
        );
        self
    }

    /// Drains and renders every queued command.
    pub fn drain(&mut self) -> Vec<String> {
        self.link
            .drain_commands()
            .iter()
            .map(render_command)
            .collect()
    }

    // ----- common exchanges -------------------------------------------------

    /// Starts the link and brings connection 1 to its handshake, checking
    /// the commands on the way.
    pub fn handshaken(config: Config) -> Self {
        let mut h = Self::started(config);
        h.expect("dial{gen:1, fresh_token}")
            .expect("state(connecting)")
            .expect("platform(connecting)")
            .expect_idle();
        h.advance(20).open(1).advance(20).handshake(1);
        h
    }

    /// The upgrade of dial `gen` is accepted: one hello per identity.
    pub fn open(&mut self, gen: u64) -> &mut Self {
        self.input(dial_succeeded(gen))
            .expect(&format!("send{{gen:{gen}, hello(discord:b1)}}"))
            .expect(&format!("send{{gen:{gen}, hello(slack:B2)}}"))
            .expect_idle()
    }

    /// The first descriptor of connection `gen` arrives; the link reports
    /// the descriptor, then whatever state change it causes (left queued).
    pub fn handshake(&mut self, gen: u64) -> &mut Self {
        self.input(received(gen, &descriptor("discord")))
            .expect(&format!("descriptor{{gen:{gen}, discord}}"))
    }
}

// ----- inputs -----------------------------------------------------------------

/// `DialSucceeded` for `gen`.
pub fn dial_succeeded(gen: u64) -> Input {
    Input::DialSucceeded {
        gen: Generation(gen),
    }
}

/// `DialFailed` for `gen` with an HTTP status.
pub fn dial_failed_http(gen: u64, status: u16) -> Input {
    Input::DialFailed {
        gen: Generation(gen),
        failure: DialFailure::Http { status },
    }
}

/// `DialFailed` for `gen`: the connector accepted and closed at once.
pub fn dial_refused(gen: u64, code: u16, reason: &str) -> Input {
    Input::DialFailed {
        gen: Generation(gen),
        failure: DialFailure::Closed {
            code,
            reason: reason.to_owned(),
        },
    }
}

/// `DialFailed` for `gen` with an IO error.
pub fn dial_failed_io(gen: u64) -> Input {
    Input::DialFailed {
        gen: Generation(gen),
        failure: DialFailure::Io {
            error: IoFailure::Refused,
            message: "connection refused".to_owned(),
        },
    }
}

/// A message of wire text on connection `gen`.
pub fn received(gen: u64, text: &str) -> Input {
    Input::Received {
        gen: Generation(gen),
        text: text.to_owned(),
    }
}

/// A ping or pong heard on connection `gen`.
pub fn heard(gen: u64) -> Input {
    Input::Heard {
        gen: Generation(gen),
    }
}

/// Connection `gen` closed with a close frame.
pub fn closed(gen: u64, code: u16, reason: &str) -> Input {
    Input::SocketClosed {
        gen: Generation(gen),
        code: Some(code),
        reason: reason.to_owned(),
    }
}

/// Connection `gen` ended without a close frame (EOF, IO error).
pub fn dropped(gen: u64) -> Input {
    Input::SocketClosed {
        gen: Generation(gen),
        code: None,
        reason: String::new(),
    }
}

/// The application sends `{"op": "send"}` as request `id`.
pub fn send(id: &str, platform: Option<&str>) -> Input {
    let mut action = Map::new();
    action.insert("op".into(), Value::from("send"));
    Input::Send {
        id: id.into(),
        action,
        platform: platform.map(str::to_owned),
    }
}

/// The application accepted buffered delivery `buffer_id`.
pub fn accepted(buffer_id: &str) -> Input {
    Input::Accepted {
        buffer_id: buffer_id.to_owned(),
    }
}

// ----- frames, as wire text (each ends with its `\n`) -------------------------

fn line(frame: Value) -> String {
    format!("{frame}\n")
}

/// A valid `descriptor` frame for `platform`.
pub fn descriptor(platform: &str) -> String {
    line(json!({
        "type": "descriptor",
        "descriptor": {
            "contract_version": 1,
            "platform": platform,
            "label": platform,
            "max_message_length": 2000,
            "supports_draft_streaming": false,
            "supports_edit": true,
            "supports_threads": true,
            "markdown_dialect": "commonmark",
            "len_unit": "chars"
        }
    }))
}

/// An `outbound_result` answering `request_id`.
pub fn outbound_result(request_id: &str, result: Value) -> String {
    line(json!({"type": "outbound_result", "requestId": request_id, "result": result}))
}

/// An `inbound` chat message, replayed from the buffer when `buffer_id` is set.
pub fn inbound(text: &str, buffer_id: Option<&str>) -> String {
    let mut frame = json!({
        "type": "inbound",
        "event": {
            "text": text,
            "message_type": "text",
            "message_id": "m1",
            "source": {"platform": "discord", "chat_id": "c1", "chat_type": "dm", "user_id": "u1"}
        }
    });
    if let Some(id) = buffer_id {
        frame["bufferId"] = Value::from(id);
    }
    line(frame)
}

/// A `passthrough_forward`, replayed from the buffer when `buffer_id` is set.
pub fn passthrough(path: &str, buffer_id: Option<&str>) -> String {
    let mut frame = json!({
        "type": "passthrough_forward",
        "forward": {
            "platform": "slack", "botId": "B2", "method": "POST", "path": path,
            "headers": [["content-type", "application/json"]], "bodyB64": "e30="
        }
    });
    if let Some(id) = buffer_id {
        frame["bufferId"] = Value::from(id);
    }
    line(frame)
}

/// A `going_idle_ack`.
pub fn going_idle_ack() -> String {
    line(json!({"type": "going_idle_ack"}))
}
