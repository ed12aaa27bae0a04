//! What the CLI prints: JSON Lines for machines (`--json`), a colored
//! timeline for people. Logs and diagnostics go to stderr, never here.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use relay_link::protocol::{InboundFrame, InterruptInboundFrame, PassthroughFrame};
use relay_link::shell::{Event, StateChange};
use relay_link::{Cause, FatalReport, LinkState, PlatformState, RequestId};
use serde_json::{json, Map, Value};

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
/// whole, never as `null`. Its keys are in the order of the other lines'
/// (alphabetical, as `serde_json` writes them).
pub(crate) fn inbound_line(frame: &InboundFrame, at_ms: u64) -> String {
    let buffer_id = serde_json::to_string(&frame.buffer_id).unwrap_or_else(|_| "null".into());
    format!(
        "{{\"at_ms\":{at_ms},\"buffer_id\":{buffer_id},\"event\":\"inbound\",\"message\":{}}}",
        flat(frame.raw_event.get())
    )
}

/// One `--json` line: the event's own fields, with `event` and `at_ms`.
/// Every line but `inbound` ([`inbound_line`]) goes through here, so every
/// line carries `at_ms`.
pub(crate) fn json_line(event: &str, at_ms: u64, fields: Value) -> Value {
    let mut line = match fields {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    line.insert("event".into(), event.into());
    line.insert("at_ms".into(), at_ms.into());
    Value::Object(line)
}

/// One state change as `connect` prints it: the state, the platform
/// state, and why (the link's [`Cause`] and, while it waits to re-dial,
/// the delay until the next dial).
#[derive(Debug, Clone)]
pub(crate) struct StateLine {
    /// The lifecycle state.
    pub(crate) state: LinkState,
    /// The platform state.
    pub(crate) platform: PlatformState,
    /// Why the last connection or dial ended (`None` while handshaken and
    /// before anything went wrong).
    pub(crate) cause: Option<Cause>,
    /// While retrying or dormant, the delay until the next dial.
    pub(crate) retry_in: Option<Duration>,
}

impl StateLine {
    /// The `--json` fields besides `event` and `at_ms`: `reason` (the
    /// cause's serde form) and `retry_in_ms` only when there is one, so a
    /// line without them is byte for byte what earlier versions printed.
    pub(crate) fn json_fields(&self) -> Value {
        let mut fields =
            json!({"state": self.state.name(), "platform_state": self.platform.name()});
        if let Value::Object(map) = &mut fields {
            if let Some(reason) = self
                .cause
                .as_ref()
                .and_then(|c| serde_json::to_value(c).ok())
            {
                map.insert("reason".into(), reason);
            }
            if let Some(delay) = self.retry_in {
                let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                map.insert("retry_in_ms".into(), ms.into());
            }
        }
        fields
    }

    /// The timeline's mark and its color.
    fn mark(&self) -> (&'static str, &'static str) {
        match (self.state, self.platform) {
            (LinkState::Handshaken, _) => ("●", GREEN),
            (LinkState::Revoked | LinkState::Disabled, _) => ("⏻", DIM),
            (LinkState::Closed, _) => ("○", GREY),
            (_, PlatformState::Retrying) => ("↻", YELLOW),
            _ => ("…", CYAN),
        }
    }

    /// The timeline's text after the mark: the state, the delay and the
    /// cause (`retrying in 1.2 s: connection refused (127.0.0.1:8799)`),
    /// then the platform state, painted by `paint`. `previous` is the
    /// cause of the line before: a connecting line names its cause only
    /// when that line did not (a re-dial at once after a first 4401), as
    /// `connecting after …`; a handshaken line has none.
    fn human_text(&self, previous: Option<&Cause>, paint: impl Fn(&str, &str) -> String) -> String {
        let because = match (self.state, self.cause.as_ref()) {
            (LinkState::Handshaken, _) | (_, None) => String::new(),
            (LinkState::Connecting, Some(cause)) if previous == Some(cause) => String::new(),
            (LinkState::Connecting, Some(cause)) => format!(" after {cause}"),
            (_, Some(cause)) => format!(": {cause}"),
        };
        match self.state {
            LinkState::Disabled => format!(
                "Relay disabled (opted out \u{2014} recreate the instance to re-enable){because}"
            ),
            _ if because.is_empty() && self.retry_in.is_none() => format!(
                "{:<11} {}",
                self.state.name(),
                paint(GREY, &format!("platform: {}", self.platform))
            ),
            _ => {
                let delay = self
                    .retry_in
                    .map(|delay| format!(" in {}", relay_link::cause::human(delay)))
                    .unwrap_or_default();
                format!(
                    "{}{delay}{because}  {}",
                    self.state.name(),
                    paint(GREY, &format!("\u{b7} platform: {}", self.platform))
                )
            }
        }
    }
}

impl From<StateChange> for StateLine {
    fn from(change: StateChange) -> Self {
        Self {
            state: change.state,
            platform: change.platform,
            cause: change.cause,
            retry_in: change.retry_in,
        }
    }
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
    /// The cause of the last state line (the timeline names a connecting
    /// line's cause only when it is news).
    last_cause: RefCell<Option<Cause>>,
    /// What `at_ms` and the timeline's clock count from: the process's
    /// start ([`super::started`]).
    start: Instant,
}

impl Printer {
    /// A printer whose `at_ms` counts from the process's start.
    pub(crate) fn new(json: bool) -> Self {
        let color =
            !json && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
        Self {
            json,
            color,
            last_cause: RefCell::new(None),
            start: super::started(),
        }
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

    fn json(&self, event: &str, fields: Value) {
        self.line(json_line(event, self.at_ms(), fields).to_string());
    }

    fn human(&self, mark: &str, text: String) {
        let at = self.at_ms();
        let stamp = self.paint(GREY, &format!("{:>4}.{:03}s", at / 1000, at % 1000));
        self.line(format!("{stamp}  {mark} {text}"));
    }

    /// A change of the (state, platform state) pair.
    pub(crate) fn state(&self, line: StateLine) {
        if self.json {
            return self.json("state", line.json_fields());
        }
        let (mark, color) = line.mark();
        let text = line.human_text(self.last_cause.borrow().as_ref(), |color, text| {
            self.paint(color, text)
        });
        self.last_cause.replace(line.cause.clone());
        self.human(&self.paint(color, mark), self.paint(color, &text));
    }

    /// An inbound chat message.
    pub(crate) fn inbound(&self, frame: &InboundFrame) {
        if self.json {
            return self.line(inbound_line(frame, self.at_ms()));
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
            return self.json(
                "outbound_result",
                json!({"request_id": id, "result": result}),
            );
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
            return self.json(
                "interrupt_inbound",
                json!({"session_key": frame.session_key, "chat_id": frame.chat_id}),
            );
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
            return self.json(
                "passthrough",
                json!({"buffer_id": frame.buffer_id, "forward": decoded}),
            );
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
            return self.json(
                "fatal",
                json!({"code": report.code, "retryable": report.retryable, "message": report.message}),
            );
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
            Event::State { .. } => {
                if let Some(change) = event.state_change() {
                    self.state(change.into());
                }
            }
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
            // Events of a newer library version: nothing to print.
            _ => {}
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
    use std::time::Duration;

    use relay_link::protocol::{parse_line, IncomingFrame, LineOutcome};
    use relay_link::{Cause, LinkState, PlatformState};
    use serde_json::json;

    use super::{inbound_line, json_line, StateLine};

    fn line(state: LinkState, platform: PlatformState, cause: Option<Cause>) -> StateLine {
        StateLine {
            state,
            platform,
            cause,
            retry_in: None,
        }
    }

    /// A cause whose serde form is known without building a variant the
    /// library marks `#[non_exhaustive]`.
    fn closed(code: u16, reason: &str) -> Cause {
        serde_json::from_value(json!({"kind": "closed", "code": code, "reason": reason}))
            .expect("a closed cause")
    }

    /// No colors (the painter `human_text` takes).
    fn plain(_color: &str, text: &str) -> String {
        text.to_owned()
    }

    #[test]
    fn a_state_line_without_a_cause_is_byte_for_byte_the_old_line() {
        let fields = line(LinkState::Connecting, PlatformState::Connecting, None).json_fields();
        assert_eq!(
            json_line("state", 12, fields).to_string(),
            r#"{"at_ms":12,"event":"state","platform_state":"connecting","state":"connecting"}"#
        );
    }

    #[test]
    fn a_retry_line_carries_the_reason_and_the_delay_in_whole_milliseconds() {
        let mut retrying = line(
            LinkState::Retrying,
            PlatformState::Retrying,
            Some(closed(4401, "expired")),
        );
        retrying.retry_in = Some(Duration::from_micros(1_234_900));
        let fields = retrying.json_fields();
        assert_eq!(
            fields,
            json!({"state": "retrying", "platform_state": "retrying", "retry_in_ms": 1234,
                   "reason": {"kind": "closed", "code": 4401, "reason": "expired"}})
        );
        assert_eq!(
            retrying.human_text(None, plain),
            "retrying in 1.2 s: closed 4401 expired  \u{b7} platform: retrying"
        );
    }

    #[test]
    fn a_connecting_line_names_its_cause_only_when_the_line_before_did_not() {
        let strike = closed(4401, "unauthorized");
        let connecting = line(
            LinkState::Connecting,
            PlatformState::Retrying,
            Some(strike.clone()),
        );
        assert_eq!(
            connecting.human_text(None, plain),
            "connecting after closed 4401 unauthorized  \u{b7} platform: retrying"
        );
        assert_eq!(
            connecting.human_text(Some(&strike), plain),
            "connecting  platform: retrying"
        );
    }

    #[test]
    fn the_disabled_line_ends_with_its_cause() {
        let revoked: Cause = serde_json::from_value(
            json!({"kind": "revoked", "code": 4401, "reason": "unauthorized"}),
        )
        .expect("a revoked cause");
        let disabled = line(LinkState::Disabled, PlatformState::Disabled, Some(revoked));
        assert_eq!(
            disabled.human_text(None, plain),
            "Relay disabled (opted out \u{2014} recreate the instance to re-enable): \
             credential revoked (4401 unauthorized)"
        );
    }

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
            inbound_line(&frame, 42),
            r#"{"at_ms":42,"buffer_id":"e1","event":"inbound","message":{"text":"cut emoji \ud83d","n":1e999}}"#
        );
    }

    #[test]
    fn a_multi_line_event_prints_on_one_line() {
        let frame = inbound("{\"type\":\"inbound\",\"event\":{\r\n\"text\": \"hi\"\n}}");
        let line = inbound_line(&frame, 7);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["message"]["text"], "hi");
        assert_eq!(value["buffer_id"], serde_json::Value::Null);
        assert_eq!(value["at_ms"], 7);
    }

    #[test]
    fn a_json_line_carries_its_event_and_at_ms_and_keeps_the_fields() {
        let line = json_line("state", 1500, json!({"state": "connecting", "event": "x"}));
        assert_eq!(line["state"], "connecting");
        assert_eq!(line["at_ms"], 1500);
        assert_eq!(line["event"], "state", "a field never renames the event");
    }
}
