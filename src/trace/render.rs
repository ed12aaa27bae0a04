//! Renders inputs, commands and trace entries as readable text, so a
//! snapshot diff reads like a story:
//!
//! ```text
//! +1.500s  socket_closed{gen:2, 4401, "unauthorized"}
//!          → dial{gen:3, fresh_token}
//!          = connecting · retrying · next connect@+11.500s
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::input::DialFailure;
use crate::protocol::OutgoingFrame;
use crate::{Command, Input, Link, Settlement};

use super::{Step, TraceEntry};

/// Longest received text shown before it is cut with `…`.
const MAX_TEXT: usize = 96;

fn seconds(at: Duration) -> String {
    format!("+{}.{:03}s", at.as_secs(), at.subsec_millis())
}

fn quoted(text: &str) -> String {
    let escaped = serde_json::to_string(text).unwrap_or_default();
    if escaped.chars().count() <= MAX_TEXT {
        return escaped;
    }
    let cut: String = escaped.chars().take(MAX_TEXT - 1).collect();
    format!("{cut}…\"")
}

fn op_of(action: &serde_json::Map<String, Value>) -> &str {
    action.get("op").and_then(Value::as_str).unwrap_or("?")
}

/// Renders one input in one line.
pub fn render_input(input: &Input) -> String {
    match input {
        Input::Start => "start".into(),
        Input::DialSucceeded { gen } => format!("dial_succeeded{{gen:{gen}}}"),
        Input::DialFailed { gen, failure } => match failure {
            DialFailure::Http { status } => format!("dial_failed{{gen:{gen}, http {status}}}"),
            DialFailure::Io { error, message } if error.is_other() => {
                format!("dial_failed{{gen:{gen}, io {}}}", quoted(message))
            }
            DialFailure::Io { error, message } => {
                format!("dial_failed{{gen:{gen}, io {error} {}}}", quoted(message))
            }
            DialFailure::Closed { code, reason } => {
                format!(
                    "dial_failed{{gen:{gen}, closed {code}, {}}}",
                    quoted(reason)
                )
            }
        },
        Input::Received { gen, text } => format!("received{{gen:{gen}, {}}}", quoted(text)),
        Input::Heard { gen } => format!("heard{{gen:{gen}}}"),
        Input::TooLarge { gen } => format!("too_large{{gen:{gen}}}"),
        Input::SocketClosed { gen, code, reason } => match code {
            Some(code) => format!("socket_closed{{gen:{gen}, {code}, {}}}", quoted(reason)),
            None => format!("socket_closed{{gen:{gen}, no close frame}}"),
        },
        Input::Send {
            id,
            action,
            platform,
        } => match platform {
            Some(platform) => format!("send{{{id}, op:{}, platform:{platform}}}", op_of(action)),
            None => format!("send{{{id}, op:{}}}", op_of(action)),
        },
        Input::Interrupt { session_key, .. } => format!("interrupt{{{session_key}}}"),
        Input::GoIdle => "go_idle".into(),
        Input::GoDormant => "go_dormant".into(),
        Input::HoldRedial => "hold_redial".into(),
        Input::ReleaseRedial => "release_redial".into(),
        Input::Accepted { buffer_id } => format!("accepted{{{buffer_id}}}"),
        Input::Disconnect { budget_ms } => format!("disconnect{{budget:{budget_ms}ms}}"),
        Input::FatalAcknowledged => "fatal_acknowledged".into(),
    }
}

fn render_frame(frame: &OutgoingFrame) -> String {
    match frame {
        OutgoingFrame::Hello {
            platform, bot_id, ..
        } => format!("hello({platform}:{bot_id})"),
        OutgoingFrame::Outbound {
            request_id,
            action,
            platform,
            bot_id,
        } => {
            let mut out = format!("outbound({request_id}, op:{}", op_of(action));
            if let Some(platform) = platform {
                let _ = write!(out, ", platform:{platform}");
            }
            if let Some(bot_id) = bot_id {
                let _ = write!(out, ", botId:{bot_id}");
            }
            out.push(')');
            out
        }
        OutgoingFrame::Interrupt { session_key, .. } => format!("interrupt({session_key})"),
        OutgoingFrame::GoingIdle => "going_idle".into(),
        OutgoingFrame::InboundAck { buffer_id } => format!("inbound_ack({buffer_id})"),
    }
}

fn buffer(id: &Option<String>) -> &str {
    id.as_deref().unwrap_or("-")
}

/// Renders one command in one line.
pub fn render_command(command: &Command) -> String {
    match command {
        Command::Dial { gen, auth: true } => format!("dial{{gen:{gen}, fresh_token}}"),
        Command::Dial { gen, auth: false } => format!("dial{{gen:{gen}, no_auth}}"),
        Command::CancelDial { gen } => format!("cancel_dial{{gen:{gen}}}"),
        Command::Send { gen, frame } => format!("send{{gen:{gen}, {}}}", render_frame(frame)),
        Command::Ping { gen } => format!("ping{{gen:{gen}}}"),
        Command::Close { gen, code, reason } => {
            format!("close{{gen:{gen}, {code}, {}}}", quoted(reason))
        }
        Command::Descriptor { gen, descriptor } => {
            format!("descriptor{{gen:{gen}, {}}}", descriptor.platform)
        }
        Command::Inbound(frame) => {
            let text = match frame.event() {
                Ok(event) => quoted(event.text.as_deref().unwrap_or("")),
                Err(_) => "invalid_event".to_owned(),
            };
            format!("inbound{{buffer:{}, {text}}}", buffer(&frame.buffer_id))
        }
        Command::Passthrough(frame) => format!(
            "passthrough{{buffer:{}, {} {}}}",
            buffer(&frame.buffer_id),
            frame.forward.method,
            frame.forward.path
        ),
        Command::InterruptInbound(frame) => format!(
            "interrupt_inbound{{{}, chat:{}}}",
            frame.session_key, frame.chat_id
        ),
        Command::IdleOutcome { acked: true } => "idle_outcome{acked}".into(),
        Command::IdleOutcome { acked: false } => "idle_outcome{not_acked}".into(),
        Command::Settle { id, settlement } => match settlement {
            Settlement::Result(result) => {
                format!("settle{{{id}, result {}}}", Value::Object(result.clone()))
            }
            other => format!("settle{{{id}, {}}}", other.name()),
        },
        Command::Fatal(report) => format!(
            "fatal{{{}, retryable:{}, {}}}",
            report.code,
            report.retryable,
            quoted(report.message)
        ),
        Command::StateChanged(state) => format!("state({state})"),
        Command::PlatformState(platform) => format!("platform({platform})"),
    }
}

/// Renders one trace entry: the input, its commands, the state after it.
pub(crate) fn render_entry(
    out: &mut String,
    entry: &TraceEntry,
    commands: &[Command],
    link: &Link,
) {
    let input = match &entry.step {
        Step::Input(input) => render_input(input),
        Step::Timeout => "timeout".into(),
    };
    let _ = writeln!(out, "{:>9}  {input}", seconds(entry.at));
    for command in commands {
        let _ = writeln!(out, "           → {}", render_command(command));
    }
    let platform = link.platform_state().map_or("-", |p| p.name());
    let timer = match link.poll_timeout() {
        Some((at, timer)) => format!(
            " · next {timer}@{}",
            seconds(at.saturating_duration_since(link.start()))
        ),
        None => String::new(),
    };
    let _ = writeln!(out, "           = {} · {platform}{timer}", link.state());
}
