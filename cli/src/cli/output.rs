//! What the CLI prints: JSON Lines for machines (`--json`), a colored
//! timeline for people. Logs and diagnostics go to stderr, never here.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use relay_link::protocol::{InboundFrame, InterruptInboundFrame, PassthroughFrame};
use relay_link::shell::Event;
use relay_link::{FatalReport, LinkState, PlatformState, RequestId};
use serde_json::{json, Value};

/// Whether stderr gets ANSI colors.
pub(crate) fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const GREY: &str = "\x1b[90m";

/// The `--json` line of an inbound message. The event is printed exactly
/// as it was received (it is JSON text already), so an event that does not
/// parse into a value (a lone surrogate escape, `1e999`) is still shown
/// whole, never as `null`.
pub(crate) fn inbound_line(frame: &InboundFrame) -> String {
    let buffer_id = serde_json::to_string(&frame.buffer_id).unwrap_or_else(|_| "null".into());
    format!(
        "{{\"event\":\"inbound\",\"buffer_id\":{buffer_id},\"message\":{}}}",
        flat(frame.raw_event.get())
    )
}

/// Raw JSON on one line: only whitespace between tokens can hold a line
/// break (one inside a string is escaped), so it becomes a space.
fn flat(raw: &str) -> String {
    raw.replace(['\n', '\r'], " ")
}

/// Prints link events on stdout, as JSON Lines or a human timeline.
pub(crate) struct Printer {
    json: bool,
    color: bool,
    start: Instant,
}

impl Printer {
    /// A printer whose `at_ms` counts from `start`.
    pub(crate) fn new(json: bool, start: Instant) -> Self {
        let color =
            !json && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
        Self { json, color, start }
    }

    fn at_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    fn line(&self, text: String) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    fn json(&self, value: Value) {
        self.line(value.to_string());
    }

    fn human(&self, mark: &str, text: String) {
        let at = self.at_ms();
        let stamp = self.paint(GREY, &format!("{:>4}.{:03}s", at / 1000, at % 1000));
        self.line(format!("{stamp}  {mark} {text}"));
    }

    /// A change of the (state, platform state) pair.
    pub(crate) fn state(&self, state: LinkState, platform: PlatformState) {
        if self.json {
            return self.json(json!({
                "event": "state", "state": state.name(), "platform_state": platform.name(), "at_ms": self.at_ms()
            }));
        }
        let (mark, color) = match (state, platform) {
            (LinkState::Handshaken, _) => ("●", GREEN),
            (LinkState::Revoked | LinkState::Disabled, _) => ("⏻", DIM),
            (LinkState::Closed, _) => ("○", GREY),
            (_, PlatformState::Retrying) => ("↻", YELLOW),
            _ => ("…", CYAN),
        };
        let text = match state {
            LinkState::Disabled => {
                "Relay disabled (opted out \u{2014} recreate the instance to re-enable)".to_owned()
            }
            _ => format!(
                "{:<11} {}",
                state.name(),
                self.paint(GREY, &format!("platform: {platform}"))
            ),
        };
        self.human(&self.paint(color, mark), self.paint(color, &text));
    }

    /// An inbound chat message.
    pub(crate) fn inbound(&self, frame: &InboundFrame) {
        if self.json {
            return self.line(inbound_line(frame));
        }
        let text = match frame.event() {
            Ok(event) => format!("{:?}", event.text.as_deref().unwrap_or("")),
            // Not typable (ill-typed fields, a lone surrogate, a number
            // out of range): shown as received.
            Err(_) => flat(frame.raw_event.get()),
        };
        let buffered = frame
            .buffer_id
            .as_deref()
            .map(|id| format!(" (buffered {id}, acked after delivery)"))
            .unwrap_or_default();
        self.human(
            &self.paint(CYAN, "←"),
            format!("inbound {text}{}", self.paint(GREY, &buffered)),
        );
    }

    /// The settlement of an outbound request.
    pub(crate) fn outbound_result(&self, id: &RequestId, result: &Value) {
        if self.json {
            return self
                .json(json!({"event": "outbound_result", "request_id": id, "result": result}));
        }
        let ok = result.get("success").and_then(Value::as_bool) != Some(false);
        let mark = if ok {
            self.paint(GREEN, "→")
        } else {
            self.paint(YELLOW, "→")
        };
        self.human(&mark, format!("outbound {id} settled: {result}"));
    }

    /// A connector interrupt.
    pub(crate) fn interrupt(&self, frame: &InterruptInboundFrame) {
        if self.json {
            return self.json(json!({"event": "interrupt_inbound", "session_key": frame.session_key, "chat_id": frame.chat_id}));
        }
        self.human(
            &self.paint(YELLOW, "!"),
            format!("interrupt {} in chat {}", frame.session_key, frame.chat_id),
        );
    }

    /// A passthrough forward, body decoded.
    pub(crate) fn passthrough(&self, frame: &PassthroughFrame) {
        let forward = &frame.forward;
        if self.json {
            let mut decoded = json!({
                "platform": forward.platform, "botId": forward.bot_id, "method": forward.method,
                "path": forward.path, "headers": forward.headers, "body_b64": forward.body_b64(),
                "body_text": forward.body_text(), "profile": forward.profile,
            });
            // Unknown forward fields survive (relay contract §3); they
            // never replace a decoded field.
            if let Value::Object(map) = &mut decoded {
                for (key, value) in &forward.extra {
                    map.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
            return self.json(json!({
                "event": "passthrough",
                "buffer_id": frame.buffer_id,
                "forward": decoded,
            }));
        }
        self.human(
            &self.paint(CYAN, "⇐"),
            format!(
                "passthrough {} {} ({} bytes)",
                forward.method,
                forward.path,
                forward.body.len()
            ),
        );
    }

    /// A capability descriptor (human timeline only).
    pub(crate) fn descriptor(&self, platform: &str, label: &str) {
        if !self.json {
            self.human(
                &self.paint(GREY, "·"),
                self.paint(GREY, &format!("descriptor {platform} ({label})")),
            );
        }
    }

    /// The fatal report. A revoked link is an off switch, not an error.
    pub(crate) fn fatal(&self, report: &FatalReport) {
        if self.json {
            return self.json(json!({"event": "fatal", "code": report.code, "retryable": report.retryable, "message": report.message}));
        }
        if report.code == relay_link::command::RELAY_DISABLED_CODE {
            self.human(
                &self.paint(DIM, "⏻"),
                self.paint(DIM, "credential revoked: the link will not reconnect"),
            );
        } else {
            self.human(
                &self.paint(RED, "✖"),
                self.paint(RED, &format!("fatal {}: {}", report.code, report.message)),
            );
        }
    }

    /// Prints one link event; buffered deliveries are accepted once
    /// printed (the CLI's "application" has taken them). Returns true for
    /// the `relay_disabled` report.
    pub(crate) fn event(&self, event: Event) -> bool {
        match event {
            Event::State {
                state, platform, ..
            } => self.state(state, platform),
            Event::Descriptor(d) => self.descriptor(&d.platform, &d.label),
            Event::Inbound { frame, acceptance } => {
                self.inbound(&frame);
                if let Some(acceptance) = acceptance {
                    acceptance.accept();
                }
            }
            Event::Passthrough { frame, acceptance } => {
                self.passthrough(&frame);
                if let Some(acceptance) = acceptance {
                    acceptance.accept();
                }
            }
            Event::InterruptInbound(frame) => self.interrupt(&frame),
            Event::Fatal(report) => {
                self.fatal(&report);
                return report.code == relay_link::command::RELAY_DISABLED_CODE;
            }
        }
        false
    }

    /// A narration line (the demo's story; human mode only).
    pub(crate) fn note(&self, text: &str) {
        if !self.json {
            self.human(" ", self.paint(GREY, &format!("# {text}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use relay_link::protocol::{parse_line, IncomingFrame, LineOutcome};

    use super::inbound_line;

    fn inbound(line: &str) -> relay_link::protocol::InboundFrame {
        match parse_line(line) {
            LineOutcome::Frame(IncomingFrame::Inbound(frame)) => frame,
            other => panic!("not an inbound frame: {other:?}"),
        }
    }

    #[test]
    fn an_event_no_value_can_hold_is_printed_exactly_as_received() {
        let frame = inbound(
            r#"{"type":"inbound","bufferId":"e1","event":{"text":"cut emoji \ud83d","n":1e999}}"#,
        );
        assert!(frame.event().is_err(), "the event cannot be typed");
        assert_eq!(
            inbound_line(&frame),
            r#"{"event":"inbound","buffer_id":"e1","message":{"text":"cut emoji \ud83d","n":1e999}}"#
        );
    }

    #[test]
    fn a_multi_line_event_prints_on_one_line() {
        let frame = inbound("{\"type\":\"inbound\",\"event\":{\r\n\"text\": \"hi\"\n}}");
        let line = inbound_line(&frame);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["message"]["text"], "hi");
        assert_eq!(value["buffer_id"], serde_json::Value::Null);
    }
}
