//! Lexical helpers for frame decoding: borrowed keys, the `type` tag and a
//! cheap scan for a frame's `type`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// An object key, borrowed from the input when it has no escapes.
pub(super) struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    /// The key text.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an owned string.
    pub(super) fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// The value of a `type` key: a string (borrowed when it has no escapes)
/// or anything else.
pub(super) enum TypeTag<'de> {
    Str(Cow<'de, str>),
    Other,
}

impl<'de> Deserialize<'de> for TypeTag<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TypeTag<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TypeTag::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TypeTag::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TypeTag::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TypeTag::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TypeTag::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TypeTag::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TypeTag::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TypeTag::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TypeTag::Other)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The value of a `"type":"…"` member that closes the line's object
/// (`{…,"type":"inbound"}`), as a connector that sorts its keys writes
/// `inbound` and `outbound_result` frames.
///
/// A constant-time guess that spares [`scan_type`]'s walk over the whole
/// line; like it, only a hint that the parser confirms. It can be wrong
/// for lines with a repeated `type` or for invalid JSON, never silently.
pub(super) fn tail_type(line: &str) -> Option<&str> {
    let rest = line.trim_end().strip_suffix("\"}")?;
    let open = rest.rfind('"')?;
    let value = &rest[open + 1..];
    if value.contains('\\') {
        return None;
    }
    let before = rest[..open]
        .trim_end()
        .strip_suffix(':')?
        .trim_end()
        .strip_suffix("\"type\"")?
        .trim_end();
    matches!(before.as_bytes().last(), Some(b',' | b'{')).then_some(value)
}

/// Finds the value of the first top-level `"type"` key of a JSON object
/// line, when it is a string without escapes.
///
/// A cheap pre-pass so that the parser can decode every key typed even when
/// `type` is not the first key. It only has to be right for valid JSON, and
/// the parser checks its answer anyway.
pub(super) fn scan_type(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut depth = 1usize;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => {
                let end = string_end(b, i + 1)?;
                let text = &b[i + 1..end];
                i = end + 1;
                if depth == 1 {
                    let colon = skip_ws(b, i);
                    if b.get(colon) == Some(&b':') {
                        if text == b"type" {
                            let open = skip_ws(b, colon + 1);
                            if b.get(open) != Some(&b'"') {
                                return None;
                            }
                            let close = string_end(b, open + 1)?;
                            let value = line.get(open + 1..close)?;
                            return (!value.contains('\\')).then_some(value);
                        }
                        i = colon + 1;
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return None;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// The index of the `"` closing the string whose content starts at `i`.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has = |w: u64, c: u8| {
        let x = w ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    loop {
        // Skip eight bytes at a time while none is a quote or a backslash.
        while let Some(chunk) = b.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
            let w = u64::from_le_bytes(chunk);
            if has(w, b'"') | has(w, b'\\') != 0 {
                break;
            }
            i += 8;
        }
        match *b.get(i)? {
            b'"' => return Some(i),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}
