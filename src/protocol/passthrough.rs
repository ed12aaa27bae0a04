//! The raw platform HTTP request carried by a `passthrough_forward` frame.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::event::{extra_entries, opt_entry};
use super::lex::Key;

const KNOWN_KEYS: [&str; 7] = [
    "platform", "botId", "method", "path", "headers", "bodyB64", "profile",
];

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// A platform HTTP request the connector forwards verbatim (`forward` on the wire).
///
/// Wire form: `{platform, botId, method, path, headers: [[name, value], …],
/// bodyB64, profile?}`. `platform`, `botId`, `method` and `path` are
/// required strings. Decoding is lenient elsewhere, as the contract asks:
///
/// * `bodyB64` is decoded with the standard or the URL-safe alphabet,
///   padded or not (ASCII whitespace is ignored); a missing, non-string or
///   undecodable body becomes an empty body.
/// * `headers` entries that are not exactly `[string, string]` are dropped;
///   a non-array `headers` gives no headers.
/// * Unknown keys are kept in [`extra`](Self::extra).
///
/// Serialising writes the wire form back, the body re-encoded with the
/// padded standard alphabet. `Debug` shows the body's length, not its bytes.
#[derive(Clone, PartialEq)]
pub struct PassthroughForward {
    /// `platform` the request was received for.
    pub platform: String,
    /// `botId` of the identity it was received for.
    pub bot_id: String,
    /// `method`: the HTTP method.
    pub method: String,
    /// `path`: the request path (with query, if any).
    pub path: String,
    /// `headers`, in wire order.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
    /// `profile`, an opaque connector value.
    pub profile: Option<Value>,
    /// Keys this crate does not know, kept verbatim.
    pub extra: Map<String, Value>,
}

impl PassthroughForward {
    /// The body as UTF-8 text, or `None` when it is not valid UTF-8.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body encoded as on the wire (`bodyB64`: standard alphabet, padded).
    pub fn body_b64(&self) -> String {
        STANDARD.encode(&self.body)
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for PassthroughForward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassthroughForward")
            .field("platform", &self.platform)
            .field("bot_id", &self.bot_id)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("profile", &self.profile)
            .field("extra", &self.extra)
            .finish()
    }
}

/// Decodes a `bodyB64` leniently; anything undecodable gives an empty body.
pub(super) fn decode_body(b64: &str) -> Vec<u8> {
    if let Ok(body) = STANDARD_LENIENT.decode(b64) {
        return body;
    }
    if let Ok(body) = URL_SAFE_LENIENT.decode(b64) {
        return body;
    }
    if b64.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if !compact.is_empty() && compact.len() < b64.len() {
            return decode_body(&compact);
        }
    }
    Vec::new()
}

/// Keeps the header entries that are exactly `[string, string]`.
fn headers_from(value: Value) -> Vec<(String, String)> {
    let Value::Array(entries) = value else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| match entry {
            Value::Array(pair) => match <[Value; 2]>::try_from(pair) {
                Ok([Value::String(name), Value::String(value)]) => Some((name, value)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

impl Serialize for PassthroughForward {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("platform", &self.platform)?;
        map.serialize_entry("botId", &self.bot_id)?;
        map.serialize_entry("method", &self.method)?;
        map.serialize_entry("path", &self.path)?;
        map.serialize_entry("headers", &HeaderPairs(&self.headers))?;
        map.serialize_entry("bodyB64", &self.body_b64())?;
        opt_entry(&mut map, "profile", &self.profile)?;
        extra_entries(&mut map, &self.extra, &KNOWN_KEYS)?;
        map.end()
    }
}

/// Serialises header tuples as `[[name, value], …]`.
struct HeaderPairs<'a>(&'a [(String, String)]);

impl Serialize for HeaderPairs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(n, v)| [n, v]))
    }
}

/// A `bodyB64` value: decoded when a string, empty otherwise.
struct LenientBody(Vec<u8>);

impl<'de> Deserialize<'de> for LenientBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientBody, E> {
                Ok(LenientBody(decode_body(v)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LenientBody, E> {
                Ok(LenientBody(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LenientBody, E> {
                Ok(LenientBody(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LenientBody, E> {
                Ok(LenientBody(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LenientBody, E> {
                Ok(LenientBody(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientBody, E> {
                Ok(LenientBody(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientBody, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientBody(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LenientBody, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientBody(Vec::new()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for PassthroughForward {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PassthroughForward;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a forward object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut platform, mut bot_id, mut method, mut path) = (None, None, None, None);
                let mut headers = Vec::new();
                let mut body = Vec::new();
                let mut profile = None;
                let mut extra = Map::new();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.as_str() {
                        "platform" => platform = Some(map.next_value()?),
                        "botId" => bot_id = Some(map.next_value()?),
                        "method" => method = Some(map.next_value()?),
                        "path" => path = Some(map.next_value()?),
                        "headers" => headers = headers_from(map.next_value()?),
                        "bodyB64" => body = map.next_value::<LenientBody>()?.0,
                        "profile" => profile = map.next_value()?,
                        _ => {
                            extra.insert(key.into_string(), map.next_value()?);
                        }
                    }
                }
                Ok(PassthroughForward {
                    platform: platform.ok_or_else(|| de::Error::missing_field("platform"))?,
                    bot_id: bot_id.ok_or_else(|| de::Error::missing_field("botId"))?,
                    method: method.ok_or_else(|| de::Error::missing_field("method"))?,
                    path: path.ok_or_else(|| de::Error::missing_field("path"))?,
                    headers,
                    body,
                    profile,
                    extra,
                })
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn forward(extra: Value) -> Value {
        let mut v = json!({
            "platform": "slack",
            "botId": "B1",
            "method": "POST",
            "path": "/slack/events?x=1",
            "headers": [["content-type", "application/json"], ["x-slack-signature", "v0=abc"]],
            "bodyB64": "eyJvayI6dHJ1ZX0=",
        });
        if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
            obj.extend(more);
        }
        v
    }

    fn parse(v: Value) -> PassthroughForward {
        serde_json::from_value(v).expect("valid forward")
    }

    #[test]
    fn a_forward_decodes_its_body_and_headers() {
        let f = parse(forward(json!({})));
        assert_eq!(f.body, br#"{"ok":true}"#);
        assert_eq!(f.body_text(), Some(r#"{"ok":true}"#));
        assert_eq!(f.header("Content-Type"), Some("application/json"));
        assert_eq!(f.headers.len(), 2);
        assert_eq!(
            (f.method.as_str(), f.path.as_str()),
            ("POST", "/slack/events?x=1")
        );
        assert_eq!(f.profile, None);
    }

    #[test]
    fn bad_base64_body_becomes_empty() {
        for body in [
            json!("!!not base64!!"),
            json!(42),
            json!(null),
            json!({"a": 1}),
        ] {
            let f = parse(forward(json!({ "bodyB64": body })));
            assert!(f.body.is_empty(), "{:?}", f);
            assert_eq!(f.body_text(), Some(""));
        }
        let mut missing = forward(json!({}));
        missing.as_object_mut().map(|o| o.remove("bodyB64"));
        assert!(parse(missing).body.is_empty());
    }

    #[test]
    fn unpadded_url_safe_and_wrapped_bodies_decode() {
        assert_eq!(decode_body("aGk"), b"hi");
        assert_eq!(decode_body("-_8="), [0xfb, 0xff]);
        assert_eq!(decode_body("+/8"), [0xfb, 0xff]);
        assert_eq!(decode_body("aGVs\r\nbG8="), b"hello");
        assert_eq!(decode_body(""), b"");
    }

    #[test]
    fn malformed_header_pairs_are_dropped() {
        let headers = json!([
            ["ok", "1"],
            ["too", "many", "items"],
            ["short"],
            ["n", 5],
            "flat",
            null,
            ["also-ok", ""]
        ]);
        let f = parse(forward(json!({ "headers": headers })));
        assert_eq!(
            f.headers,
            [
                ("ok".to_owned(), "1".to_owned()),
                ("also-ok".to_owned(), String::new())
            ]
        );
        assert!(parse(forward(json!({"headers": "x"}))).headers.is_empty());
    }

    #[test]
    fn a_forward_without_method_is_rejected() {
        let mut v = forward(json!({}));
        v.as_object_mut().map(|o| o.remove("method"));
        assert!(serde_json::from_value::<PassthroughForward>(v).is_err());
    }

    #[test]
    fn non_utf8_body_has_no_text() {
        let f = parse(forward(json!({"bodyB64": "//79"})));
        assert_eq!(f.body, [0xff, 0xfe, 0xfd]);
        assert_eq!(f.body_text(), None);
    }

    #[test]
    fn a_forward_serialises_back_with_profile_and_unknown_keys() {
        let v = forward(json!({"profile": {"tier": 2}, "future": [1]}));
        let f = parse(v.clone());
        assert_eq!(f.extra.get("future"), Some(&json!([1])));
        assert_eq!(serde_json::to_value(&f).ok(), Some(v));
    }

    #[test]
    fn debug_shows_the_body_length_not_the_bytes() {
        let f = parse(forward(json!({})));
        let debug = format!("{f:?}");
        assert!(debug.contains("<11 bytes>"), "{debug}");
        assert!(!debug.contains("123, 34"), "{debug}");
    }
}
