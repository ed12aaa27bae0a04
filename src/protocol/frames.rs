//! The frames of the relay protocol (contract §3), in both directions.

use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::descriptor::Descriptor;
use super::event::{extra_entries, opt_entry, InboundEvent};
use super::passthrough::PassthroughForward;
use crate::RequestId;

/// A frame the gateway sends to the connector (one per WebSocket message).
///
/// Serialises as an internally tagged object (`{"type":"hello",…}`) with the
/// contract's key spellings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutgoingFrame {
    /// `hello`: announces one fronted identity, right after the socket opens.
    Hello {
        /// `platform` of the identity.
        platform: String,
        /// `botId` of the identity.
        #[serde(rename = "botId")]
        bot_id: String,
        /// The identity's extra `hello` fields
        /// ([`Identity::hello_extras`](crate::config::Identity::hello_extras)),
        /// written after `platform` and `botId`, untouched. A key that
        /// would repeat one of [`HELLO_KEYS`] is never written (a
        /// configuration refuses it at build time). Reading a `hello`
        /// collects its unknown keys here.
        #[serde(flatten, serialize_with = "hello_extra_entries")]
        extra: Map<String, Value>,
    },
    /// `outbound`: asks the connector to act; answered by `outbound_result`.
    Outbound {
        /// `requestId`, unique among pending requests.
        #[serde(rename = "requestId")]
        request_id: RequestId,
        /// `action`: an object with at least `op`.
        action: Map<String, Value>,
        /// `platform`, omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        platform: Option<String>,
        /// `botId`, omitted when `None` (only for a hello'd identity).
        #[serde(rename = "botId", default, skip_serializing_if = "Option::is_none")]
        bot_id: Option<String>,
    },
    /// `interrupt`: fire and forget.
    Interrupt {
        /// `session_key` of the session to interrupt.
        session_key: String,
        /// `reason`, written as `null` when `None`.
        #[serde(default)]
        reason: Option<String>,
    },
    /// `going_idle`: asks the connector to buffer this gateway's traffic.
    GoingIdle,
    /// `inbound_ack`: a buffered delivery was handed to the application.
    InboundAck {
        /// `bufferId` of the delivery.
        #[serde(rename = "bufferId")]
        buffer_id: String,
    },
}

impl OutgoingFrame {
    /// The frame as one line: compact JSON object plus a trailing `'\n'`.
    pub fn to_line(&self) -> String {
        json_line(self)
    }

    /// The wire `type` (`"hello"`, `"outbound"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Outbound { .. } => "outbound",
            Self::Interrupt { .. } => "interrupt",
            Self::GoingIdle => "going_idle",
            Self::InboundAck { .. } => "inbound_ack",
        }
    }
}

/// The keys of a `hello` frame that the contract defines (`type` included):
/// an identity's extra `hello` fields may not use them.
pub const HELLO_KEYS: [&str; 3] = ["type", "platform", "botId"];

/// Writes a `hello`'s extra fields into the frame's map, skipping any that
/// would repeat one of [`HELLO_KEYS`].
fn hello_extra_entries<S: Serializer>(
    extra: &Map<String, Value>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(None)?;
    extra_entries(&mut map, extra, &HELLO_KEYS)?;
    map.end()
}

/// Serialises `value` as compact JSON followed by `'\n'`.
///
/// serde_json escapes control characters inside strings, so the result
/// holds exactly one `'\n'`, at the end.
fn json_line<T: Serialize>(value: &T) -> String {
    // Serialising these types cannot fail: every map key is a string and no
    // impl returns a custom error. Fall back to an empty object regardless.
    let mut line = serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"));
    line.push('\n');
    line
}

/// A frame the connector sends to the gateway.
///
/// Every variant keeps the frame's unknown top-level keys in its `extra`
/// map, and [`IncomingFrame::to_line`] writes them back. Build one with
/// [`parse_line`](super::parse_line).
#[derive(Debug, Clone, PartialEq)]
pub enum IncomingFrame {
    /// `descriptor`: capabilities of one identity; the first completes the handshake.
    Descriptor(DescriptorFrame),
    /// `inbound`: a chat message.
    Inbound(InboundFrame),
    /// `outbound_result`: the answer to an `outbound`.
    OutboundResult(OutboundResultFrame),
    /// `interrupt_inbound`: the user interrupted a session.
    InterruptInbound(InterruptInboundFrame),
    /// `going_idle_ack`: answers `going_idle`.
    GoingIdleAck(GoingIdleAckFrame),
    /// `passthrough_forward`: a raw platform HTTP request.
    PassthroughForward(PassthroughFrame),
}

impl IncomingFrame {
    /// The wire `type` (`"descriptor"`, `"inbound"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Descriptor(_) => "descriptor",
            Self::Inbound(_) => "inbound",
            Self::OutboundResult(_) => "outbound_result",
            Self::InterruptInbound(_) => "interrupt_inbound",
            Self::GoingIdleAck(_) => "going_idle_ack",
            Self::PassthroughForward(_) => "passthrough_forward",
        }
    }

    /// The `bufferId` of a buffered `inbound` or `passthrough_forward`.
    pub fn buffer_id(&self) -> Option<&str> {
        match self {
            Self::Inbound(f) => f.buffer_id.as_deref(),
            Self::PassthroughForward(f) => f.buffer_id.as_deref(),
            _ => None,
        }
    }

    /// The unknown top-level keys of the frame.
    pub fn extra(&self) -> &Map<String, Value> {
        match self {
            Self::Descriptor(f) => &f.extra,
            Self::Inbound(f) => &f.extra,
            Self::OutboundResult(f) => &f.extra,
            Self::InterruptInbound(f) => &f.extra,
            Self::GoingIdleAck(f) => &f.extra,
            Self::PassthroughForward(f) => &f.extra,
        }
    }

    /// Re-serialises the frame as one line (compact JSON plus `'\n'`),
    /// unknown keys included.
    pub fn to_line(&self) -> String {
        json_line(self)
    }
}

impl Serialize for IncomingFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Descriptor(f) => f.serialize(serializer),
            Self::Inbound(f) => f.serialize(serializer),
            Self::OutboundResult(f) => f.serialize(serializer),
            Self::InterruptInbound(f) => f.serialize(serializer),
            Self::GoingIdleAck(f) => f.serialize(serializer),
            Self::PassthroughForward(f) => f.serialize(serializer),
        }
    }
}

/// A `descriptor` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct DescriptorFrame {
    /// `descriptor`, validated and sanitised.
    pub descriptor: Descriptor,
    /// Unknown top-level keys.
    pub extra: Map<String, Value>,
}

/// An `inbound` frame.
///
/// The chat message is kept as the JSON text it arrived as
/// ([`raw_event`](Self::raw_event)): routing a frame needs only its `type`
/// and `bufferId`, so the parser checks that `event` is a JSON object and
/// leaves typing it to [`event`](Self::event), when the application asks.
/// Serialising writes the raw text back as is, unknown keys and all.
///
/// Two frames are equal when their fields are, the event compared as
/// JSON text.
#[derive(Debug, Clone)]
pub struct InboundFrame {
    /// `event`: the chat message as raw JSON (an object when parsed by
    /// [`parse_line`](super::parse_line)).
    pub raw_event: Box<RawValue>,
    /// `bufferId`, present when replayed from the connector's buffer.
    pub buffer_id: Option<String>,
    /// Unknown top-level keys.
    pub extra: Map<String, Value>,
}

impl InboundFrame {
    /// A frame carrying `event`, without `bufferId` or unknown keys.
    pub fn new(event: &InboundEvent) -> Self {
        Self {
            raw_event: event.to_raw_value(),
            buffer_id: None,
            extra: Map::new(),
        }
    }

    /// Types the chat message (parsing [`raw_event`](Self::raw_event) on
    /// every call: keep the result rather than calling it again).
    ///
    /// Fails when `event` is not an object or a known key has a value of
    /// the wrong type (a numeric `text`, say), and on JSON that is valid
    /// text but no Rust value: a lone surrogate escape (`"\ud83d"`, an
    /// emoji cut in half) or a number out of range (`1e999`). The parser
    /// delivers such a frame all the same, since the link itself never
    /// reads the event: [`raw_event`](Self::raw_event) always holds the
    /// event exactly as received.
    pub fn event(&self) -> Result<InboundEvent, serde_json::Error> {
        serde_json::from_str(self.raw_event.get())
    }
}

impl PartialEq for InboundFrame {
    fn eq(&self, other: &Self) -> bool {
        self.raw_event.get() == other.raw_event.get()
            && self.buffer_id == other.buffer_id
            && self.extra == other.extra
    }
}

/// An `outbound_result` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundResultFrame {
    /// `requestId` of the `outbound` it answers.
    pub request_id: RequestId,
    /// `result` (an empty object when missing or `null`).
    pub result: Map<String, Value>,
    /// Unknown top-level keys.
    pub extra: Map<String, Value>,
}

/// An `interrupt_inbound` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptInboundFrame {
    /// `session_key` of the interrupted session.
    pub session_key: String,
    /// `chat_id`; a numeric id on the wire is kept in its decimal text form
    /// (and written back as a string).
    pub chat_id: String,
    /// Unknown top-level keys.
    pub extra: Map<String, Value>,
}

/// A `going_idle_ack` frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GoingIdleAckFrame {
    /// Unknown top-level keys.
    pub extra: Map<String, Value>,
}

/// A `passthrough_forward` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PassthroughFrame {
    /// `forward`: the platform request.
    pub forward: PassthroughForward,
    /// `bufferId`, present when replayed from the connector's buffer.
    pub buffer_id: Option<String>,
    /// Unknown top-level keys.
    pub extra: Map<String, Value>,
}

/// Starts a frame object: writes `"type"`.
fn begin<S: Serializer>(serializer: S, kind: &str) -> Result<S::SerializeMap, S::Error> {
    let mut map = serializer.serialize_map(None)?;
    map.serialize_entry("type", kind)?;
    Ok(map)
}

impl Serialize for DescriptorFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = begin(serializer, "descriptor")?;
        map.serialize_entry("descriptor", &self.descriptor)?;
        extra_entries(&mut map, &self.extra, &["type", "descriptor"])?;
        map.end()
    }
}

impl Serialize for InboundFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = begin(serializer, "inbound")?;
        let raw = self.raw_event.get();
        if raw.contains('\n') {
            // Only whitespace can hold a raw `'\n'` (one in a string is
            // escaped); the frame must stay on one line.
            let flat = RawValue::from_string(raw.replace('\n', " ")).map_err(S::Error::custom)?;
            map.serialize_entry("event", &flat)?;
        } else {
            map.serialize_entry("event", &self.raw_event)?;
        }
        opt_entry(&mut map, "bufferId", &self.buffer_id)?;
        extra_entries(&mut map, &self.extra, &["type", "event", "bufferId"])?;
        map.end()
    }
}

impl Serialize for OutboundResultFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = begin(serializer, "outbound_result")?;
        map.serialize_entry("requestId", &self.request_id)?;
        map.serialize_entry("result", &self.result)?;
        extra_entries(&mut map, &self.extra, &["type", "requestId", "result"])?;
        map.end()
    }
}

impl Serialize for InterruptInboundFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = begin(serializer, "interrupt_inbound")?;
        map.serialize_entry("session_key", &self.session_key)?;
        map.serialize_entry("chat_id", &self.chat_id)?;
        extra_entries(&mut map, &self.extra, &["type", "session_key", "chat_id"])?;
        map.end()
    }
}

impl Serialize for GoingIdleAckFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = begin(serializer, "going_idle_ack")?;
        extra_entries(&mut map, &self.extra, &["type"])?;
        map.end()
    }
}

impl Serialize for PassthroughFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = begin(serializer, "passthrough_forward")?;
        map.serialize_entry("forward", &self.forward)?;
        opt_entry(&mut map, "bufferId", &self.buffer_id)?;
        extra_entries(&mut map, &self.extra, &["type", "forward", "bufferId"])?;
        map.end()
    }
}
