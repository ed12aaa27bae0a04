//! Fuzz harness of the line decoder ([`LineDecoder`]): arbitrary bytes,
//! split arbitrarily into WebSocket messages, against a reference model.
//!
//! Shared by the cargo-fuzz target `fuzz/fuzz_targets/decoder.rs` and the
//! stable replay test `tests/fuzz_corpus.rs` (both include this file by
//! path), so the target cannot rot.
//!
//! The input layout (so seeds can be written by hand):
//!
//! | bytes | meaning |
//! |---|---|
//! | `0` | the frame limit: `1 + b` bytes when `b < 200`, else the 16 MiB default |
//! | `1` | `n`, the number of cuts (`b % 16`) |
//! | `2 .. 2 + 2n` | each cut, a little-endian `u16` taken modulo the text length + 1 |
//! | the rest | the text (invalid UTF-8 replaced by U+FFFD) |
//!
//! Cuts are sorted and moved down to a char boundary; the text between
//! consecutive cuts is one message.

use relay_link::decoder::{FrameTooLarge, LineDecoder, DEFAULT_MAX_FRAME_SIZE};
use relay_link::protocol::{parse_line, LineOutcome};

/// What the model expects one push to do.
#[derive(Debug, PartialEq)]
struct Expected {
    outcomes: Vec<LineOutcome>,
    result: Result<(), FrameTooLarge>,
    buffered: usize,
}

/// A line-by-line reference of the decoder's contract: complete lines
/// (without `'\n'`, a trailing `'\r'` stripped, blank ones skipped) are
/// parsed in order; any line, complete or partial, longer than the limit
/// fails the push, drops the rest of that message and empties the buffer.
struct Model {
    buf: String,
    limit: usize,
}

impl Model {
    fn push(&mut self, chunk: &str) -> Expected {
        let mut outcomes = Vec::new();
        let mut parts = chunk.split('\n').peekable();
        while let Some(part) = parts.next() {
            let complete = parts.peek().is_some();
            let len = self.buf.len() + part.len();
            if len > self.limit {
                self.buf.clear();
                return Expected {
                    outcomes,
                    result: Err(FrameTooLarge {
                        buffered: len,
                        limit: self.limit,
                    }),
                    buffered: 0,
                };
            }
            self.buf.push_str(part);
            if complete {
                let line = std::mem::take(&mut self.buf);
                let line = line.strip_suffix('\r').unwrap_or(&line);
                match parse_line(line) {
                    LineOutcome::Blank => {}
                    outcome => outcomes.push(outcome),
                }
            }
        }
        Expected {
            outcomes,
            result: Ok(()),
            buffered: self.buf.len(),
        }
    }
}

/// The decoded input: the limit, the text and the messages it is cut into.
struct Case {
    limit: usize,
    text: String,
    cuts: Vec<usize>,
}

fn case(data: &[u8]) -> Case {
    let limit = match data.first() {
        Some(&b) if b < 200 => 1 + usize::from(b),
        _ => DEFAULT_MAX_FRAME_SIZE,
    };
    let count = data.get(1).map_or(0, |&b| usize::from(b % 16));
    let body = data.get(2..).unwrap_or_default();
    let cut_bytes = body.len().min(2 * count);
    let (raw_cuts, text) = body.split_at(cut_bytes);
    let text = String::from_utf8_lossy(text).into_owned();
    let mut cuts: Vec<usize> = raw_cuts
        .chunks_exact(2)
        .map(|pair| {
            let mut cut = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            cut
        })
        .collect();
    cuts.sort_unstable();
    Case { limit, text, cuts }
}

/// Runs one input; panics (with the case) on any deviation from the model.
pub fn run(data: &[u8]) {
    let Case { limit, text, cuts } = case(data);
    let mut decoder = LineDecoder::new(limit);
    assert_eq!(decoder.max_frame_size(), limit);
    let mut model = Model {
        buf: String::new(),
        limit,
    };
    let mut all = Vec::new();
    let mut failed = false;
    let mut start = 0;
    for end in cuts.iter().copied().chain([text.len()]) {
        let chunk = &text[start..end];
        start = end;
        let mut out = Vec::new();
        let result = decoder.push(chunk, &mut out);
        let got = Expected {
            outcomes: out,
            result,
            buffered: decoder.buffered(),
        };
        let expected = model.push(chunk);
        assert_eq!(
            got, expected,
            "limit {limit}, message {chunk:?} of {text:?} cut at {cuts:?}"
        );
        // Sanity: never more lines than line ends, never more buffered
        // than the limit allows.
        assert!(got.outcomes.len() <= chunk.matches('\n').count() + 1);
        assert!(decoder.buffered() <= limit);
        failed |= got.result.is_err();
        all.extend(got.outcomes);
    }
    if failed {
        return;
    }
    // Without an oversized line, how the text was cut changes nothing: the
    // whole text in one message decodes to the same lines, and the pending
    // partial line is exactly what follows the last line end.
    let mut whole = LineDecoder::new(limit);
    let mut out = Vec::new();
    assert_eq!(whole.push(&text, &mut out), Ok(()));
    assert_eq!(out, all, "one message vs cut at {cuts:?}: {text:?}");
    let tail = text.rfind('\n').map_or(text.len(), |i| text.len() - i - 1);
    assert_eq!(decoder.buffered(), tail);
    assert_eq!(whole.buffered(), tail);
    decoder.reset();
    assert_eq!(decoder.buffered(), 0);
}
