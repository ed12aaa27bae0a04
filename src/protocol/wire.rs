//! One-pass decoding of an incoming frame.
//!
//! The visitor reads `type` and every known field straight into its typed
//! form, except an `inbound`'s `event`, which is captured as raw JSON text
//! (typed on demand by `InboundFrame::event`); unknown keys go to `extra`
//! as [`Value`]s. When `type` is not the first key, the caller's hint
//! ([`tail_type`](super::lex::tail_type) or
//! [`scan_type`](super::lex::scan_type)) names the kind up front; without
//! a hint, keys before `type` are held as raw JSON until `type` is known,
//! then converted. A frame whose `type` is unknown is skipped without
//! building anything.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::descriptor::{Descriptor, DescriptorError};
use super::event::WireId;
use super::frames::{
    DescriptorFrame, GoingIdleAckFrame, InboundFrame, IncomingFrame, InterruptInboundFrame,
    OutboundResultFrame, PassthroughFrame,
};
use super::lex::{Key, TypeTag};
use super::passthrough::PassthroughForward;
use super::{LineOutcome, MalformedLine};
use crate::RequestId;

/// The known incoming frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Descriptor,
    Inbound,
    OutboundResult,
    InterruptInbound,
    GoingIdleAck,
    PassthroughForward,
}

impl Kind {
    /// The kind named by a wire `type`, if known.
    pub(super) fn from_type(t: &str) -> Option<Self> {
        Some(match t {
            "descriptor" => Self::Descriptor,
            "inbound" => Self::Inbound,
            "outbound_result" => Self::OutboundResult,
            "interrupt_inbound" => Self::InterruptInbound,
            "going_idle_ack" => Self::GoingIdleAck,
            "passthrough_forward" => Self::PassthroughForward,
            _ => return None,
        })
    }

    /// The outcome for a frame of this kind with missing or invalid fields.
    pub(super) fn invalid(self) -> LineOutcome {
        LineOutcome::Malformed(MalformedLine::InvalidFields {
            kind: self.as_str(),
        })
    }

    /// The wire `type`.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Descriptor => "descriptor",
            Self::Inbound => "inbound",
            Self::OutboundResult => "outbound_result",
            Self::InterruptInbound => "interrupt_inbound",
            Self::GoingIdleAck => "going_idle_ack",
            Self::PassthroughForward => "passthrough_forward",
        }
    }
}

/// Per-parse state shared between [`FrameSeed`] and its caller.
#[derive(Debug, Default)]
pub(super) struct Ctx {
    /// The frame's kind, recorded as soon as it is known so that the caller
    /// can name it when a field fails to decode.
    pub(super) kind: Option<Kind>,
    /// The kind the caller guessed (`tail_type` or `scan_type`); when set,
    /// keys are decoded typed from the first one on.
    pub(super) hint: Option<Kind>,
    /// Whether the parser's own `type` confirmed the hint. A hinted parse
    /// that fails before that proves nothing: the caller parses again
    /// without a hint.
    pub(super) hint_confirmed: bool,
    /// The result, set when the value was fully read. Kept here rather
    /// than returned so that the (large) outcome is not moved through every
    /// layer of the deserializer.
    pub(super) outcome: Option<LineOutcome>,
}

/// Decodes one frame.
pub(super) struct FrameSeed<'a> {
    pub(super) ctx: &'a mut Ctx,
}

impl<'de> DeserializeSeed<'de> for FrameSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Where the visitor stands with respect to `type`.
enum Mode<'de> {
    /// `type` not seen yet: keys are held back as raw JSON (borrowed from
    /// the line, so a held value is copied only once typed).
    Pending(Vec<(String, &'de RawValue)>),
    Known(Kind),
    Unknown(Option<String>),
}

impl FrameSeed<'_> {
    fn not_an_object<E>(self) -> Result<(), E> {
        self.ctx.outcome = Some(LineOutcome::Malformed(MalformedLine::NotAnObject));
        Ok(())
    }
}

impl<'de> Visitor<'de> for FrameSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a frame object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut acc = Fields::default();
        let hint = self.ctx.hint;
        self.ctx.kind = hint;
        let mut mode = hint.map_or(Mode::Pending(Vec::new()), Mode::Known);
        let mut type_seen = false;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.as_str() == "type" {
                if type_seen {
                    // A repeated `type` is ignored: the first one decides.
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                type_seen = true;
                let kind = match map.next_value::<TypeTag<'de>>()? {
                    TypeTag::Str(t) => Kind::from_type(&t).ok_or_else(|| Some(t.into_owned())),
                    TypeTag::Other => Err(None),
                };
                if let Some(hint) = hint {
                    if kind != Ok(hint) {
                        return Err(de::Error::custom("frame type differs from the scanned one"));
                    }
                    self.ctx.hint_confirmed = true;
                    continue;
                }
                let held = std::mem::replace(&mut mode, Mode::Unknown(None));
                match kind {
                    Ok(kind) => {
                        self.ctx.kind = Some(kind);
                        if let Mode::Pending(held) = held {
                            for (k, v) in held {
                                acc.store(kind, &k, FromRaw(v)).map_err(de::Error::custom)?;
                            }
                        }
                        mode = Mode::Known(kind);
                    }
                    Err(t) => mode = Mode::Unknown(t),
                }
                continue;
            }
            match &mut mode {
                Mode::Pending(held) => held.push((key.into_string(), map.next_value()?)),
                Mode::Known(kind) => acc.store(*kind, key.as_str(), FromMap(&mut map))?,
                Mode::Unknown(_) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if hint.is_some() && !type_seen {
            return Err(de::Error::custom("scanned frame type not found"));
        }
        self.ctx.outcome = Some(match mode {
            Mode::Pending(_) => LineOutcome::Ignored { kind: None },
            Mode::Unknown(kind) => LineOutcome::Ignored { kind },
            Mode::Known(kind) => acc.finish(kind),
        });
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_an_object()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_an_object()
    }
}

/// A source for one field value: the map being read, or a held-back raw value.
trait ValueSource<'de> {
    type Error: de::Error;
    fn take<T: Deserialize<'de>>(self) -> Result<T, Self::Error>;
    fn take_value(self) -> Result<Value, Self::Error>;
}

struct FromMap<'a, A>(&'a mut A);

impl<'de, A: MapAccess<'de>> ValueSource<'de> for FromMap<'_, A> {
    type Error = A::Error;
    fn take<T: Deserialize<'de>>(self) -> Result<T, A::Error> {
        self.0.next_value()
    }
    fn take_value(self) -> Result<Value, A::Error> {
        self.0.next_value()
    }
}

struct FromRaw<'de>(&'de RawValue);

impl<'de> ValueSource<'de> for FromRaw<'de> {
    type Error = serde_json::Error;
    fn take<T: Deserialize<'de>>(self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
    fn take_value(self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

/// The fields read so far, for whichever kind the frame turns out to be.
#[derive(Default)]
struct Fields {
    descriptor: Option<Value>,
    event: Option<Box<RawValue>>,
    buffer_id: Option<String>,
    request_id: Option<RequestId>,
    result: Option<Map<String, Value>>,
    session_key: Option<String>,
    chat_id: Option<String>,
    forward: Option<PassthroughForward>,
    extra: Map<String, Value>,
}

impl Fields {
    /// Reads the value of `key` for a frame of `kind`: typed when the key
    /// belongs to that kind, verbatim into `extra` otherwise.
    fn store<'de, S: ValueSource<'de>>(
        &mut self,
        kind: Kind,
        key: &str,
        src: S,
    ) -> Result<(), S::Error> {
        use Kind as K;
        match (kind, key) {
            (K::Descriptor, "descriptor") => self.descriptor = Some(src.take_value()?),
            (K::Inbound, "event") => self.event = Some(src.take()?),
            (K::Inbound | K::PassthroughForward, "bufferId") => self.buffer_id = src.take()?,
            (K::OutboundResult, "requestId") => self.request_id = Some(src.take()?),
            (K::OutboundResult, "result") => self.result = src.take()?,
            (K::InterruptInbound, "session_key") => self.session_key = Some(src.take()?),
            (K::InterruptInbound, "chat_id") => {
                self.chat_id = Some(match src.take::<WireId>()? {
                    WireId::Text(s) => s,
                    WireId::Number(n) => n.to_string(),
                })
            }
            (K::PassthroughForward, "forward") => self.forward = Some(src.take()?),
            _ => {
                self.extra.insert(key.to_owned(), src.take_value()?);
            }
        }
        Ok(())
    }

    /// Builds the frame, or says which required field is missing.
    fn finish(self, kind: Kind) -> LineOutcome {
        let extra = self.extra;
        let frame = match kind {
            Kind::Descriptor => {
                let Some(value) = self.descriptor else {
                    return LineOutcome::ProtocolError(DescriptorError::Missing {
                        field: "descriptor",
                    });
                };
                match Descriptor::from_value(&value) {
                    Ok(descriptor) => {
                        IncomingFrame::Descriptor(DescriptorFrame { descriptor, extra })
                    }
                    Err(e) => return LineOutcome::ProtocolError(e),
                }
            }
            // The event is typed on demand (`InboundFrame::event`); here it
            // only has to be an object.
            Kind::Inbound => match self.event {
                Some(raw_event) if raw_event.get().starts_with('{') => {
                    IncomingFrame::Inbound(InboundFrame {
                        raw_event,
                        buffer_id: self.buffer_id,
                        extra,
                    })
                }
                _ => return kind.invalid(),
            },
            Kind::OutboundResult => match self.request_id {
                Some(request_id) => IncomingFrame::OutboundResult(OutboundResultFrame {
                    request_id,
                    result: self.result.unwrap_or_default(),
                    extra,
                }),
                None => return kind.invalid(),
            },
            Kind::InterruptInbound => match (self.session_key, self.chat_id) {
                (Some(session_key), Some(chat_id)) => {
                    IncomingFrame::InterruptInbound(InterruptInboundFrame {
                        session_key,
                        chat_id,
                        extra,
                    })
                }
                _ => return kind.invalid(),
            },
            Kind::GoingIdleAck => IncomingFrame::GoingIdleAck(GoingIdleAckFrame { extra }),
            Kind::PassthroughForward => match self.forward {
                Some(forward) => IncomingFrame::PassthroughForward(PassthroughFrame {
                    forward,
                    buffer_id: self.buffer_id,
                    extra,
                }),
                None => return kind.invalid(),
            },
        };
        LineOutcome::Frame(frame)
    }
}
