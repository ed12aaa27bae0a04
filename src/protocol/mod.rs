//! The relay wire protocol (contract §2–§3): frames in both directions and
//! the parsing of one received line.
//!
//! Outgoing frames are [`OutgoingFrame`]s, written with
//! [`OutgoingFrame::to_line`]. A received line goes through [`parse_line`],
//! which never panics and sorts it into a [`LineOutcome`]. Unknown keys, at
//! the top level and inside events, forwards and descriptors, are kept and
//! written back by the `to_line` / `Serialize` of the typed frames.
//!
//! ```
//! use relay_link::protocol::{parse_line, IncomingFrame, LineOutcome};
//!
//! let line = r#"{"type":"outbound_result","requestId":"r1","result":{"success":true},"trace":"x"}"#;
//! let LineOutcome::Frame(IncomingFrame::OutboundResult(frame)) = parse_line(line) else {
//!     panic!("an outbound_result");
//! };
//! assert_eq!(frame.result["success"], true);
//! // The unknown key survives a parse and a re-serialisation.
//! assert!(IncomingFrame::OutboundResult(frame).to_line().contains(r#""trace":"x""#));
//!
//! // Unknown types are ignored, not errors: connectors can add frames.
//! assert!(matches!(parse_line(r#"{"type":"future_frame"}"#), LineOutcome::Ignored { .. }));
//! ```

mod descriptor;
mod event;
mod frames;
mod lex;
mod passthrough;
mod wire;

use serde::de::{DeserializeSeed, IgnoredAny};
use serde_json::error::Category;

pub use descriptor::{
    Descriptor, DescriptorError, LenUnit, DEFAULT_EMOJI, DEFAULT_MAX_MESSAGE_LENGTH,
    LEGACY_SUPPORTED_OPS,
};
pub use event::{InboundEvent, Source, WireId};
pub use frames::{
    DescriptorFrame, GoingIdleAckFrame, InboundFrame, IncomingFrame, InterruptInboundFrame,
    OutboundResultFrame, OutgoingFrame, PassthroughFrame, HELLO_KEYS,
};
pub use passthrough::PassthroughForward;

/// What one complete received line (without its `'\n'`) turned out to be.
// `Frame` is the common case; boxing it would only add an allocation per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LineOutcome {
    /// Empty or whitespace-only: skipped, not counted.
    Blank,
    /// A well-formed frame of a known type.
    Frame(IncomingFrame),
    /// Not JSON, JSON but not an object, or a known type with missing or
    /// invalid fields: skipped and counted; the connection stays up.
    Malformed(MalformedLine),
    /// An object whose `type` is unknown (`Some`) or missing / not a string
    /// (`None`): ignored for forward compatibility.
    Ignored {
        /// The unknown `type`, when it was a string.
        kind: Option<String>,
    },
    /// A `descriptor` frame whose descriptor is absent or lacks a valid
    /// required field: a protocol error on the connection.
    ProtocolError(DescriptorError),
}

/// Why a line was malformed. The reason never quotes the line's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedLine {
    /// The line is not valid JSON (or has trailing garbage).
    #[error("line is not valid JSON")]
    NotJson,
    /// The line is JSON but not an object.
    #[error("line is JSON but not an object")]
    NotAnObject,
    /// A frame of a known type has missing or invalid fields.
    #[error("`{kind}` frame has missing or invalid fields")]
    InvalidFields {
        /// The frame's `type`.
        kind: &'static str,
    },
}

/// Parses one complete line (without its `'\n'`; a trailing `'\r'` is
/// harmless) in a single pass over the JSON.
///
/// Rules, by precedence: blank → [`LineOutcome::Blank`]; invalid JSON or a
/// non-object → [`LineOutcome::Malformed`]; unknown or missing `type` →
/// [`LineOutcome::Ignored`]; a bad `descriptor` →
/// [`LineOutcome::ProtocolError`]; a known type with missing or wrongly typed
/// fields → [`MalformedLine::InvalidFields`]. When `type` appears more than
/// once the first one decides.
pub fn parse_line(line: &str) -> LineOutcome {
    if line.trim().is_empty() {
        return LineOutcome::Blank;
    }
    // Most frames start with their `type`, and sorted keys put it last;
    // the scan is for the others.
    let hint = if line.starts_with("{\"type\":") {
        None
    } else {
        lex::tail_type(line)
            .or_else(|| lex::scan_type(line))
            .and_then(wire::Kind::from_type)
    };
    let mut ctx = wire::Ctx {
        hint,
        ..wire::Ctx::default()
    };
    let mut parsed = parse_with(line, &mut ctx);
    if parsed.is_err() && hint.is_some() && !ctx.hint_confirmed {
        ctx = wire::Ctx::default();
        parsed = parse_with(line, &mut ctx);
    }
    match (parsed, ctx.outcome, ctx.kind) {
        (Ok(()), Some(outcome), _) => outcome,
        // A field failed to decode; the line may still be broken JSON
        // further on, which takes precedence.
        (Err(e), _, Some(kind))
            if e.classify() == Category::Data
                && serde_json::from_str::<IgnoredAny>(line).is_ok() =>
        {
            kind.invalid()
        }
        _ => LineOutcome::Malformed(MalformedLine::NotJson),
    }
}

/// Runs the frame visitor over the whole line (trailing garbage is an error).
fn parse_with(line: &str, ctx: &mut wire::Ctx) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(line);
    wire::FrameSeed { ctx }.deserialize(&mut de)?;
    de.end()
}

#[cfg(test)]
mod tests;
