//! The operations a case is made of, and how they are generated.

use proptest::prelude::*;

/// One frame inside a received message.
#[derive(Debug, Clone, Copy)]
pub enum Frame {
    Descriptor,
    /// A descriptor missing a required field (a protocol error).
    BadDescriptor,
    /// A result for one of the ids sent so far (pending, settled or
    /// refused), picked by this number.
    Result(u16),
    UnknownResult,
    /// An inbound, with a `bufferId` from a pool of four when `Some`.
    Inbound(Option<u8>),
    Passthrough(Option<u8>),
    GoingIdleAck,
    Garbage,
    NotAnObject,
    UnknownType,
    Blank,
    /// A partial line longer than the frame limit.
    Oversized,
}

#[derive(Debug, Clone, Copy)]
pub enum Failure {
    Http,
    Io,
    Unauthorized4401,
    Expired4401,
    Abnormal1006,
}

#[derive(Debug, Clone, Copy)]
pub enum Close {
    NoFrame,
    Normal1000,
    Abnormal1006,
    Unauthorized4401,
    Expired4401,
}

#[derive(Debug, Clone, Copy)]
pub enum Stale {
    DialSucceeded,
    DialFailed,
    Descriptor,
    Heard,
    Unauthorized4401,
}

#[derive(Debug, Clone)]
pub enum Op {
    AdvanceAndTimeout(u64),
    /// Jump exactly to the next deadline and fire it.
    FireNextTimer,
    DialSucceeds,
    /// The upgrade is accepted and the first descriptor follows at once.
    DialSucceedsAndHandshakes,
    DialFails(Failure),
    /// One message holding these frames; `Some` splits it in two messages
    /// (at this number, modulo the length).
    Receive(Vec<Frame>, Option<u16>),
    Heard,
    SocketClosed(Close),
    /// A new, unique request id, for this platform.
    Send(Option<&'static str>),
    Accept(u8),
    GoIdle,
    GoDormant,
    Hold,
    Release,
    Disconnect(u64),
    FatalAcknowledged,
    Start,
    /// An input naming an older generation (picked by this number).
    StaleInput(Stale, u16),
}

/// What kind of [`Op`] to make; the first kinds are what a failing case
/// shrinks towards.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Heard,
    Advance,
    Fire,
    DialSucceeds,
    Handshakes,
    DialFails,
    Receive,
    SocketClosed,
    Send,
    Accept,
    GoIdle,
    GoDormant,
    Hold,
    Release,
    Disconnect,
    FatalAcknowledged,
    Start,
    Stale,
}

/// The weight of each kind of op.
pub const KINDS: &[(u32, Kind)] = &[
    (2, Kind::Heard),
    (6, Kind::Advance),
    (6, Kind::Fire),
    (6, Kind::DialSucceeds),
    (4, Kind::Handshakes),
    (3, Kind::DialFails),
    (8, Kind::Receive),
    (3, Kind::SocketClosed),
    (5, Kind::Send),
    (2, Kind::Accept),
    (1, Kind::GoIdle),
    (3, Kind::GoDormant),
    (1, Kind::Hold),
    (1, Kind::Release),
    (1, Kind::Disconnect),
    (2, Kind::FatalAcknowledged),
    (1, Kind::Start),
    (3, Kind::Stale),
];

pub const FRAMES: &[(u32, u8)] = &[
    (5, 0),  // descriptor
    (1, 1),  // bad descriptor
    (3, 2),  // result for a sent id
    (1, 3),  // result for an unknown id
    (3, 4),  // inbound
    (1, 5),  // passthrough
    (5, 6),  // going_idle_ack
    (1, 7),  // garbage
    (1, 8),  // not an object
    (1, 9),  // unknown type
    (1, 10), // blank
    (1, 11), // oversized
];

pub const FAILURES: &[(u32, Failure)] = &[
    (1, Failure::Http),
    (1, Failure::Io),
    (2, Failure::Unauthorized4401),
    (1, Failure::Expired4401),
    (1, Failure::Abnormal1006),
];

pub const CLOSES: &[(u32, Close)] = &[
    (1, Close::NoFrame),
    (1, Close::Normal1000),
    (1, Close::Abnormal1006),
    (2, Close::Unauthorized4401),
    (1, Close::Expired4401),
];

pub const STALE: &[(u32, Stale)] = &[
    (1, Stale::DialSucceeded),
    (1, Stale::DialFailed),
    (1, Stale::Descriptor),
    (1, Stale::Heard),
    (1, Stale::Unauthorized4401),
];

pub const PLATFORMS: &[(u32, Option<&str>)] = &[
    (1, None),
    (1, Some("discord")),
    (1, Some("slack")),
    (1, Some("telegram")),
];

pub fn total<T>(table: &[(u32, T)]) -> u64 {
    table.iter().map(|(weight, _)| u64::from(*weight)).sum()
}

/// Picks from `table` by weight; `roll` is reduced modulo the total weight.
pub fn weighted<T: Copy>(table: &[(u32, T)], roll: u64) -> T {
    let mut roll = roll % total(table);
    for (weight, item) in table {
        if roll < u64::from(*weight) {
            return *item;
        }
        roll -= u64::from(*weight);
    }
    unreachable!("roll is below the total weight")
}

/// splitmix64: the details of an op derived from one generated number.
pub struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn buffer(&mut self) -> Option<u8> {
        match self.next() % 5 {
            4 => None,
            n => Some(n as u8),
        }
    }
}

pub fn frame(mix: &mut Mix) -> Frame {
    match weighted(FRAMES, mix.next()) {
        0 => Frame::Descriptor,
        1 => Frame::BadDescriptor,
        2 => Frame::Result(mix.next() as u16),
        3 => Frame::UnknownResult,
        4 => Frame::Inbound(mix.buffer()),
        5 => Frame::Passthrough(mix.buffer()),
        6 => Frame::GoingIdleAck,
        7 => Frame::Garbage,
        8 => Frame::NotAnObject,
        9 => Frame::UnknownType,
        10 => Frame::Blank,
        _ => Frame::Oversized,
    }
}

/// Builds an op from a kind roll and one number for its details.
pub fn decode(kind: u64, detail: u64) -> Op {
    let mut mix = Mix(detail);
    match weighted(KINDS, kind) {
        Kind::Heard => Op::Heard,
        Kind::Advance => Op::AdvanceAndTimeout(match detail % 3 {
            0 => mix.next() % 50,
            1 => 50 + mix.next() % 4_950,
            _ => 5_000 + mix.next() % 65_000,
        }),
        Kind::Fire => Op::FireNextTimer,
        Kind::DialSucceeds => Op::DialSucceeds,
        Kind::Handshakes => Op::DialSucceedsAndHandshakes,
        Kind::DialFails => Op::DialFails(weighted(FAILURES, detail)),
        Kind::Receive => {
            let count = 1 + mix.next() % 3;
            let frames = (0..count).map(|_| frame(&mut mix)).collect();
            let split = (mix.next() % 2 == 1).then(|| mix.next() as u16);
            Op::Receive(frames, split)
        }
        Kind::SocketClosed => Op::SocketClosed(weighted(CLOSES, detail)),
        Kind::Send => Op::Send(weighted(PLATFORMS, detail)),
        Kind::Accept => Op::Accept((detail % 4) as u8),
        Kind::GoIdle => Op::GoIdle,
        Kind::GoDormant => Op::GoDormant,
        Kind::Hold => Op::Hold,
        Kind::Release => Op::Release,
        Kind::Disconnect => Op::Disconnect(detail % 10_000),
        Kind::FatalAcknowledged => Op::FatalAcknowledged,
        Kind::Start => Op::Start,
        Kind::Stale => Op::StaleInput(weighted(STALE, detail), mix.next() as u16),
    }
}

/// One op. Generated from two plain numbers and decoded (proptest's
/// nested unions cost far more to generate than the link costs to run);
/// a failing case still shrinks by dropping ops and by moving each op's
/// kind towards the first of [`KINDS`].
pub fn op_strategy() -> impl Strategy<Value = Op> {
    (0..total(KINDS), any::<u64>()).prop_map(|(kind, detail)| decode(kind, detail))
}

pub fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op_strategy(), 0..150)
}
