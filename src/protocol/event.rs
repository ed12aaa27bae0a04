//! The normalised chat message carried by an `inbound` frame.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use super::lex::Key;

/// An identifier that the wire may carry as a string or as a number
/// (message, chat, user, thread and scope ids).
///
/// It keeps the form it arrived in, so re-serialising writes the same JSON;
/// [`WireId::as_text`] gives the text form either way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WireId {
    /// A JSON string id.
    Text(String),
    /// A JSON number id.
    Number(Number),
}

impl WireId {
    /// The id as text (a number in its JSON decimal form).
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Self::Text(s) => Cow::Borrowed(s),
            Self::Number(n) => Cow::Owned(n.to_string()),
        }
    }
}

impl fmt::Display for WireId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(s) => f.write_str(s),
            Self::Number(n) => fmt::Display::fmt(n, f),
        }
    }
}

impl From<&str> for WireId {
    fn from(id: &str) -> Self {
        Self::Text(id.to_owned())
    }
}

impl From<String> for WireId {
    fn from(id: String) -> Self {
        Self::Text(id)
    }
}

impl From<i64> for WireId {
    fn from(id: i64) -> Self {
        Self::Number(id.into())
    }
}

impl Serialize for WireId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(s) => serializer.serialize_str(s),
            Self::Number(n) => n.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WireId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or number id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireId, E> {
                Ok(WireId::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<WireId, E> {
                Ok(WireId::Text(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireId, E> {
                Ok(WireId::Number(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireId, E> {
                Ok(WireId::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WireId, E> {
                Number::from_f64(v)
                    .map(WireId::Number)
                    .ok_or_else(|| E::custom("non-finite id"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The `source` of an [`InboundEvent`]: where the message came from.
///
/// Every field is optional; unknown keys are kept in [`extra`](Self::extra).
/// A known key holding `null` reads as `None` (and is omitted when written).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Source {
    /// `platform` (`"discord"`, `"slack"`, …).
    pub platform: Option<String>,
    /// `chat_id`: the channel, group or DM.
    pub chat_id: Option<WireId>,
    /// `chat_type` (`"dm"`, `"group"`, …).
    pub chat_type: Option<String>,
    /// `user_id`: the author.
    pub user_id: Option<WireId>,
    /// `user_name`: the author's display name.
    pub user_name: Option<String>,
    /// `thread_id`, when the message is in a thread.
    pub thread_id: Option<WireId>,
    /// `scope_id`: the connector's session scope.
    pub scope_id: Option<WireId>,
    /// Keys this crate does not know, kept verbatim.
    pub extra: Map<String, Value>,
}

const SOURCE_KEYS: [&str; 7] = [
    "platform",
    "chat_id",
    "chat_type",
    "user_id",
    "user_name",
    "thread_id",
    "scope_id",
];

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        opt_entry(&mut map, "platform", &self.platform)?;
        opt_entry(&mut map, "chat_id", &self.chat_id)?;
        opt_entry(&mut map, "chat_type", &self.chat_type)?;
        opt_entry(&mut map, "user_id", &self.user_id)?;
        opt_entry(&mut map, "user_name", &self.user_name)?;
        opt_entry(&mut map, "thread_id", &self.thread_id)?;
        opt_entry(&mut map, "scope_id", &self.scope_id)?;
        extra_entries(&mut map, &self.extra, &SOURCE_KEYS)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Source;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a source object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Source, A::Error> {
                let mut s = Source::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.as_str() {
                        "platform" => s.platform = map.next_value()?,
                        "chat_id" => s.chat_id = map.next_value()?,
                        "chat_type" => s.chat_type = map.next_value()?,
                        "user_id" => s.user_id = map.next_value()?,
                        "user_name" => s.user_name = map.next_value()?,
                        "thread_id" => s.thread_id = map.next_value()?,
                        "scope_id" => s.scope_id = map.next_value()?,
                        _ => {
                            s.extra.insert(key.into_string(), map.next_value()?);
                        }
                    }
                }
                Ok(s)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// The normalised chat message of an `inbound` frame (`event` on the wire).
///
/// Every known field is optional so a sparse event still parses; a known
/// field of the wrong type (e.g. a numeric `text`) makes the frame invalid.
/// Ids accept strings and numbers ([`WireId`]). `null` reads as absent.
/// Unknown keys are kept in [`extra`](Self::extra) and written back after the
/// known fields; absent known fields and an empty `media_urls` are omitted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InboundEvent {
    /// `text`: the message text.
    pub text: Option<String>,
    /// `message_type` (`"text"`, `"photo"`, …).
    pub message_type: Option<String>,
    /// `message_id`: the platform's id of the message.
    pub message_id: Option<WireId>,
    /// `source`: where the message came from.
    pub source: Option<Source>,
    /// `media_urls`: attached media (empty when absent).
    pub media_urls: Vec<String>,
    /// Keys this crate does not know, kept verbatim.
    pub extra: Map<String, Value>,
}

impl InboundEvent {
    /// The event as compact JSON text, as [`InboundFrame::raw_event`]
    /// holds it.
    ///
    /// [`InboundFrame::raw_event`]: super::InboundFrame::raw_event
    pub fn to_raw_value(&self) -> Box<RawValue> {
        // Cannot fail: every key is a string and no impl returns a custom
        // error. Fall back to `null` regardless.
        serde_json::value::to_raw_value(self).unwrap_or_else(|_| RawValue::NULL.to_owned())
    }
}

const EVENT_KEYS: [&str; 5] = ["text", "message_type", "message_id", "source", "media_urls"];

impl Serialize for InboundEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        opt_entry(&mut map, "text", &self.text)?;
        opt_entry(&mut map, "message_type", &self.message_type)?;
        opt_entry(&mut map, "message_id", &self.message_id)?;
        opt_entry(&mut map, "source", &self.source)?;
        if !self.media_urls.is_empty() {
            map.serialize_entry("media_urls", &self.media_urls)?;
        }
        extra_entries(&mut map, &self.extra, &EVENT_KEYS)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for InboundEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InboundEvent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InboundEvent, A::Error> {
                let mut e = InboundEvent::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.as_str() {
                        "text" => e.text = map.next_value()?,
                        "message_type" => e.message_type = map.next_value()?,
                        "message_id" => e.message_id = map.next_value()?,
                        "source" => e.source = map.next_value()?,
                        "media_urls" => {
                            e.media_urls =
                                map.next_value::<Option<Vec<String>>>()?.unwrap_or_default()
                        }
                        _ => {
                            e.extra.insert(key.into_string(), map.next_value()?);
                        }
                    }
                }
                Ok(e)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Writes `key: value` when `value` is `Some`.
pub(super) fn opt_entry<M: SerializeMap, T: Serialize>(
    map: &mut M,
    key: &str,
    value: &Option<T>,
) -> Result<(), M::Error> {
    match value {
        Some(v) => map.serialize_entry(key, v),
        None => Ok(()),
    }
}

/// Writes the `extra` entries, skipping any that would repeat a known key.
pub(super) fn extra_entries<M: SerializeMap>(
    map: &mut M,
    extra: &Map<String, Value>,
    known: &[&str],
) -> Result<(), M::Error> {
    for (k, v) in extra {
        if !known.contains(&k.as_str()) {
            map.serialize_entry(k, v)?;
        }
    }
    Ok(())
}
