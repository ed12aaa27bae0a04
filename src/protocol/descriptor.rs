//! The capability descriptor a connector sends for each fronted identity
//! (contract §3).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// `max_message_length` used when the connector sends a non-positive or
/// non-integer value.
pub const DEFAULT_MAX_MESSAGE_LENGTH: usize = 4096;

/// `emoji` used when the descriptor has none.
pub const DEFAULT_EMOJI: &str = "🔌";

/// `supported_ops` used when the descriptor lists no usable operation.
pub const LEGACY_SUPPORTED_OPS: [&str; 4] = ["send", "edit", "typing", "follow_up"];

/// Every key [`Descriptor`] reads; anything else lands in [`Descriptor::extra`].
const KNOWN_KEYS: [&str; 16] = [
    "contract_version",
    "platform",
    "label",
    "max_message_length",
    "supports_draft_streaming",
    "supports_edit",
    "supports_threads",
    "markdown_dialect",
    "len_unit",
    "emoji",
    "platform_hint",
    "pii_safe",
    "supports_context",
    "supports_inchannel_continuable",
    "supports_block_formatting",
    "supported_ops",
];

/// The unit a platform measures message length in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LenUnit {
    /// Unicode scalar values (`"chars"`).
    Chars,
    /// UTF-16 code units (`"utf16"`).
    Utf16,
}

impl LenUnit {
    /// The wire spelling: `"chars"` or `"utf16"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chars => "chars",
            Self::Utf16 => "utf16",
        }
    }
}

/// Why a descriptor was rejected.
///
/// A rejected descriptor is a protocol error on its connection, never a
/// crash. The error names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The descriptor is not a JSON object.
    #[error("descriptor is not a JSON object")]
    NotAnObject,
    /// A required field is absent (`descriptor` itself when the frame has none).
    #[error("descriptor field `{field}` is missing")]
    Missing {
        /// The wire name of the field.
        field: &'static str,
    },
    /// A required field has a value of the wrong type or an unknown variant.
    #[error("descriptor field `{field}` is invalid: expected {expected}")]
    Invalid {
        /// The wire name of the field.
        field: &'static str,
        /// What the field should hold.
        expected: &'static str,
    },
}

/// The capability descriptor of one fronted identity (contract §3).
///
/// Build it with [`Descriptor::from_value`] (or serde's `Deserialize`, which
/// applies the same rules):
///
/// * Required: `contract_version` (integer), `platform`, `label`,
///   `markdown_dialect` (strings), `supports_draft_streaming`,
///   `supports_edit`, `supports_threads` (booleans), `len_unit`
///   (`"chars"`/`"utf16"`) and `max_message_length`. A missing key or a
///   value of the wrong type is a [`DescriptorError`].
/// * `max_message_length` must be present, but any value that is not a
///   positive integer (`0`, `-5`, `12.5`, `"x"`, `null`) becomes
///   [`DEFAULT_MAX_MESSAGE_LENGTH`].
/// * Optional keys fall back to their default when absent, `null` or of the
///   wrong type: `emoji` ([`DEFAULT_EMOJI`]), `platform_hint` (`""`), the
///   `pii_safe` / `supports_*` flags (`false`).
/// * `supported_ops` keeps its non-empty string entries; when none remain it
///   is [`LEGACY_SUPPORTED_OPS`].
/// * Unknown keys are kept in [`extra`](Self::extra).
///
/// Serialising writes every field (sanitised values) followed by `extra`.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    /// `contract_version`: the descriptor contract revision (currently 1).
    pub contract_version: i64,
    /// `platform`: the platform this identity lives on (`"discord"`, …).
    pub platform: String,
    /// `label`: a human-readable name for the identity.
    pub label: String,
    /// `max_message_length`: the longest message the platform accepts, in [`len_unit`](Self::len_unit).
    pub max_message_length: usize,
    /// `supports_draft_streaming`: whether drafts can be streamed.
    pub supports_draft_streaming: bool,
    /// `supports_edit`: whether sent messages can be edited.
    pub supports_edit: bool,
    /// `supports_threads`: whether the platform has threads.
    pub supports_threads: bool,
    /// `markdown_dialect`: the markup flavour the platform renders.
    pub markdown_dialect: String,
    /// `len_unit`: how [`max_message_length`](Self::max_message_length) is measured.
    pub len_unit: LenUnit,
    /// `emoji`: an icon for the platform (default [`DEFAULT_EMOJI`]).
    pub emoji: String,
    /// `platform_hint`: free-form guidance for the application (default `""`).
    pub platform_hint: String,
    /// `pii_safe` (default `false`).
    pub pii_safe: bool,
    /// `supports_context` (default `false`).
    pub supports_context: bool,
    /// `supports_inchannel_continuable` (default `false`).
    pub supports_inchannel_continuable: bool,
    /// `supports_block_formatting` (default `false`).
    pub supports_block_formatting: bool,
    /// `supported_ops`: the `action.op`s the connector accepts for this identity.
    pub supported_ops: Vec<String>,
    /// Keys this crate does not know, kept verbatim for the embedder.
    pub extra: Map<String, Value>,
}

impl Descriptor {
    /// Validates and sanitises a descriptor object (see the type docs for the rules).
    pub fn from_value(value: &Value) -> Result<Self, DescriptorError> {
        let obj = value.as_object().ok_or(DescriptorError::NotAnObject)?;
        let max_message_length = obj
            .get("max_message_length")
            .ok_or(DescriptorError::Missing {
                field: "max_message_length",
            })?
            .as_u64()
            .filter(|&n| n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_MESSAGE_LENGTH);
        let len_unit = match required(obj, "len_unit")?.as_str() {
            Some("chars") => LenUnit::Chars,
            Some("utf16") => LenUnit::Utf16,
            _ => {
                return Err(DescriptorError::Invalid {
                    field: "len_unit",
                    expected: "\"chars\" or \"utf16\"",
                })
            }
        };
        let mut supported_ops: Vec<String> = obj
            .get("supported_ops")
            .and_then(Value::as_array)
            .map(|ops| {
                ops.iter()
                    .filter_map(Value::as_str)
                    .filter(|op| !op.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if supported_ops.is_empty() {
            supported_ops = LEGACY_SUPPORTED_OPS.map(str::to_owned).to_vec();
        }
        Ok(Self {
            contract_version: required(obj, "contract_version")?.as_i64().ok_or(
                DescriptorError::Invalid {
                    field: "contract_version",
                    expected: "an integer",
                },
            )?,
            platform: required_str(obj, "platform")?,
            label: required_str(obj, "label")?,
            max_message_length,
            supports_draft_streaming: required_bool(obj, "supports_draft_streaming")?,
            supports_edit: required_bool(obj, "supports_edit")?,
            supports_threads: required_bool(obj, "supports_threads")?,
            markdown_dialect: required_str(obj, "markdown_dialect")?,
            len_unit,
            emoji: optional_str(obj, "emoji")
                .unwrap_or(DEFAULT_EMOJI)
                .to_owned(),
            platform_hint: optional_str(obj, "platform_hint")
                .unwrap_or_default()
                .to_owned(),
            pii_safe: optional_bool(obj, "pii_safe"),
            supports_context: optional_bool(obj, "supports_context"),
            supports_inchannel_continuable: optional_bool(obj, "supports_inchannel_continuable"),
            supports_block_formatting: optional_bool(obj, "supports_block_formatting"),
            supported_ops,
            extra: obj
                .iter()
                .filter(|(k, _)| !KNOWN_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// The descriptor as a JSON object: every field, then [`extra`](Self::extra).
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("contract_version".into(), self.contract_version.into());
        obj.insert("platform".into(), self.platform.clone().into());
        obj.insert("label".into(), self.label.clone().into());
        obj.insert("max_message_length".into(), self.max_message_length.into());
        obj.insert(
            "supports_draft_streaming".into(),
            self.supports_draft_streaming.into(),
        );
        obj.insert("supports_edit".into(), self.supports_edit.into());
        obj.insert("supports_threads".into(), self.supports_threads.into());
        obj.insert(
            "markdown_dialect".into(),
            self.markdown_dialect.clone().into(),
        );
        obj.insert("len_unit".into(), self.len_unit.as_str().into());
        obj.insert("emoji".into(), self.emoji.clone().into());
        obj.insert("platform_hint".into(), self.platform_hint.clone().into());
        obj.insert("pii_safe".into(), self.pii_safe.into());
        obj.insert("supports_context".into(), self.supports_context.into());
        obj.insert(
            "supports_inchannel_continuable".into(),
            self.supports_inchannel_continuable.into(),
        );
        obj.insert(
            "supports_block_formatting".into(),
            self.supports_block_formatting.into(),
        );
        obj.insert("supported_ops".into(), self.supported_ops.clone().into());
        for (k, v) in &self.extra {
            if !KNOWN_KEYS.contains(&k.as_str()) {
                obj.insert(k.clone(), v.clone());
            }
        }
        Value::Object(obj)
    }

    /// Whether `op` (an `action.op`) is in [`supported_ops`](Self::supported_ops).
    pub fn supports_op(&self, op: &str) -> bool {
        self.supported_ops.iter().any(|o| o == op)
    }
}

impl Serialize for Descriptor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Descriptor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(&value).map_err(serde::de::Error::custom)
    }
}

fn required<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a Value, DescriptorError> {
    obj.get(field).ok_or(DescriptorError::Missing { field })
}

fn required_str(obj: &Map<String, Value>, field: &'static str) -> Result<String, DescriptorError> {
    required(obj, field)?
        .as_str()
        .map(str::to_owned)
        .ok_or(DescriptorError::Invalid {
            field,
            expected: "a string",
        })
}

fn required_bool(obj: &Map<String, Value>, field: &'static str) -> Result<bool, DescriptorError> {
    required(obj, field)?
        .as_bool()
        .ok_or(DescriptorError::Invalid {
            field,
            expected: "a boolean",
        })
}

fn optional_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    obj.get(field).and_then(Value::as_str)
}

fn optional_bool(obj: &Map<String, Value>, field: &str) -> bool {
    obj.get(field).and_then(Value::as_bool).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full() -> Value {
        json!({
            "contract_version": 1,
            "platform": "discord",
            "label": "Discord",
            "max_message_length": 2000,
            "supports_draft_streaming": true,
            "supports_edit": true,
            "supports_threads": false,
            "markdown_dialect": "discord",
            "len_unit": "chars",
        })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = full();
        v[key] = value;
        v
    }

    fn without(key: &str) -> Value {
        let mut v = full();
        v.as_object_mut().map(|o| o.remove(key));
        v
    }

    #[test]
    fn a_complete_descriptor_parses_with_defaults_for_optional_fields() {
        let d = Descriptor::from_value(&full()).expect("valid");
        assert_eq!(d.contract_version, 1);
        assert_eq!(d.platform, "discord");
        assert_eq!(d.max_message_length, 2000);
        assert!(d.supports_edit && !d.supports_threads);
        assert_eq!(d.len_unit, LenUnit::Chars);
        assert_eq!(d.emoji, "🔌");
        assert_eq!(d.platform_hint, "");
        assert!(!d.pii_safe && !d.supports_context && !d.supports_block_formatting);
        assert_eq!(d.supported_ops, ["send", "edit", "typing", "follow_up"]);
        assert!(d.extra.is_empty());
    }

    #[test]
    fn descriptor_with_zero_max_message_length_gets_4096() {
        for bad in [json!(0), json!(-5), json!(12.5), json!("x"), Value::Null] {
            let d = Descriptor::from_value(&with("max_message_length", bad.clone()));
            assert_eq!(d.map(|d| d.max_message_length), Ok(4096), "{bad}");
        }
    }

    #[test]
    fn descriptor_missing_max_message_length_is_a_protocol_error() {
        assert_eq!(
            Descriptor::from_value(&without("max_message_length")),
            Err(DescriptorError::Missing {
                field: "max_message_length"
            })
        );
    }

    #[test]
    fn descriptor_missing_label_is_a_protocol_error() {
        let err = Descriptor::from_value(&without("label")).unwrap_err();
        assert_eq!(err, DescriptorError::Missing { field: "label" });
        assert_eq!(err.to_string(), "descriptor field `label` is missing");
    }

    #[test]
    fn every_required_field_is_checked() {
        for field in [
            "contract_version",
            "platform",
            "label",
            "supports_draft_streaming",
            "supports_edit",
            "supports_threads",
            "markdown_dialect",
            "len_unit",
        ] {
            assert_eq!(
                Descriptor::from_value(&without(field)),
                Err(DescriptorError::Missing { field })
            );
            assert!(matches!(
                Descriptor::from_value(&with(field, json!([]))),
                Err(DescriptorError::Invalid { field: f, .. }) if f == field
            ));
        }
    }

    #[test]
    fn unknown_len_unit_is_a_protocol_error() {
        assert!(matches!(
            Descriptor::from_value(&with("len_unit", json!("bytes"))),
            Err(DescriptorError::Invalid {
                field: "len_unit",
                ..
            })
        ));
        let d = Descriptor::from_value(&with("len_unit", json!("utf16")));
        assert_eq!(d.map(|d| d.len_unit), Ok(LenUnit::Utf16));
    }

    #[test]
    fn non_object_descriptor_is_a_protocol_error() {
        assert_eq!(
            Descriptor::from_value(&json!("discord")),
            Err(DescriptorError::NotAnObject)
        );
    }

    #[test]
    fn empty_supported_ops_fall_back_to_the_legacy_set() {
        for ops in [json!([]), json!(["", 3, null]), json!("send")] {
            let d = Descriptor::from_value(&with("supported_ops", ops)).expect("valid");
            assert_eq!(d.supported_ops, LEGACY_SUPPORTED_OPS);
        }
    }

    #[test]
    fn supported_ops_drop_non_string_and_empty_entries() {
        let d = Descriptor::from_value(&with("supported_ops", json!(["send", "", 7, "react"])))
            .expect("valid");
        assert_eq!(d.supported_ops, ["send", "react"]);
        assert!(d.supports_op("react") && !d.supports_op("edit"));
    }

    #[test]
    fn optional_fields_are_read_when_present() {
        let mut v = full();
        v["emoji"] = json!("💬");
        v["platform_hint"] = json!("be brief");
        v["pii_safe"] = json!(true);
        v["supports_block_formatting"] = json!(true);
        let d = Descriptor::from_value(&v).expect("valid");
        assert_eq!(
            (d.emoji.as_str(), d.platform_hint.as_str()),
            ("💬", "be brief")
        );
        assert!(d.pii_safe && d.supports_block_formatting && !d.supports_context);
    }

    #[test]
    fn unknown_descriptor_keys_are_kept() {
        let v = with("future_flag", json!({"nested": [1, 2]}));
        let d = Descriptor::from_value(&v).expect("valid");
        assert_eq!(d.extra.get("future_flag"), Some(&json!({"nested": [1, 2]})));
        let back = d.to_value();
        assert_eq!(back["future_flag"], json!({"nested": [1, 2]}));
        assert_eq!(Descriptor::from_value(&back), Ok(d));
    }

    #[test]
    fn serialising_writes_sanitised_values_and_every_field() {
        let d = Descriptor::from_value(&with("max_message_length", json!(-1))).expect("valid");
        let v = serde_json::to_value(&d).expect("serialises");
        assert_eq!(v["max_message_length"], json!(4096));
        assert_eq!(v["emoji"], json!("🔌"));
        assert_eq!(v["len_unit"], json!("chars"));
        assert_eq!(v.as_object().map(Map::len), Some(KNOWN_KEYS.len()));
        let again: Descriptor = serde_json::from_value(v).expect("deserialises");
        assert_eq!(again, d);
    }
}
