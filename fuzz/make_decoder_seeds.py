#!/usr/bin/env python3
"""Writes the decoder seed corpus (fuzz/seeds/decoder/) from the real frames
received in the recorded and hand-written traces (fixtures/traces/).

Each seed is one connection's received messages in the harness's layout
(tests/fuzz_harness/decoder.rs): a limit byte, a cut count, the cuts as
little-endian u16, then the text. Run from the repository root:
    python3 fuzz/make_decoder_seeds.py
"""
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "seeds" / "decoder"
DEFAULT_LIMIT = 255  # any byte >= 200: the 16 MiB default


def seed(messages, limit=DEFAULT_LIMIT):
    """The messages of one connection, cut where the messages were."""
    text = "".join(messages).encode()
    cuts, at = [], 0
    for message in messages[:-1]:
        at += len(message.encode())
        cuts.append(at)
    cuts = cuts[:15]
    assert all(c < 65536 for c in cuts), "cuts must fit a u16"
    head = bytes([limit, len(cuts)]) + b"".join(struct.pack("<H", c) for c in cuts)
    return head + text


def received(trace):
    """The texts received on the first connection with any, in order."""
    by_gen = {}
    for line in (ROOT / "fixtures" / "traces" / trace).read_text().splitlines()[1:]:
        entry = json.loads(line)
        if entry.get("input") == "received":
            by_gen.setdefault(entry["gen"], []).append(entry["text"])
    return next(iter(by_gen.values()))


SEEDS = {
    "split_and_merged": seed(received("frames_split_and_merged_across_messages_are_reassembled.jsonl")),
    "malformed_lines": seed(received("malformed_lines_are_skipped_and_counted.jsonl")),
    "buffered_inbound": seed(received("recorded_buffered_inbound_redelivered_is_acked_and_delivered_once.jsonl")),
    "passthrough": seed(received("passthrough_forward_is_delivered_with_its_body_decoded.jsonl")),
    "two_identities": seed(received("recorded_clean_handshake_with_two_identities.jsonl")),
    # A real descriptor under a 120-byte limit: rejected as too large.
    "descriptor_over_a_small_limit": seed(received("handshake_completes_on_the_first_descriptor.jsonl"), limit=119),
    # An oversized partial line spread over messages, limit 41 bytes.
    "oversized_partial": seed(['{"type":"going_idle_ack"}\n{"type":"inbound",', '"pad":"xxxxxxxxxxxx', "xxxxxxxxxxxxxxxxxxxx"], limit=40),
    # CRLF endings, blank lines, multibyte text cut inside characters.
    "crlf_blank_multibyte": bytes([DEFAULT_LIMIT, 3]) + struct.pack("<HHH", 3, 40, 47)
    + '\r\n  \n{"type":"inbound","event":{"text":"héllo 🔌 wörld"}}\r\n{"type":"going_idle_ack"}'.encode(),
    # A 26-byte line (its \r counts) under a 26-byte limit, cut in two: accepted.
    "a_line_exactly_at_the_limit": bytes([25, 1]) + struct.pack("<H", 7) + b'{"type":"going_idle_ack"}\r\n{"a"',
    # Invalid UTF-8 and a NUL inside a line.
    "invalid_utf8": bytes([60, 1, 5, 0]) + b'{"type":"x\xff\xfe"}\n\x00\n{"type":"going_idle_ack"}\n',
}

OUT.mkdir(parents=True, exist_ok=True)
for name, data in SEEDS.items():
    (OUT / name).write_bytes(data)
print(f"wrote {len(SEEDS)} seeds to {OUT.relative_to(ROOT)}")
