//! The fuzz targets' harnesses on the stable toolchain: the checked-in seed
//! corpus (`fuzz/seeds/<target>/`) replayed through the very code the
//! cargo-fuzz targets run, plus a small seeded sweep of random inputs, so
//! the targets cannot rot and their invariants keep holding.

mod fuzz_harness;

use std::collections::HashSet;
use std::panic::{catch_unwind, UnwindSafe};
use std::path::{Path, PathBuf};

use fuzz_harness::link::{run_ops, Close, Frame, Op, Platform, Setup};
use relay_link::LinkState;

/// Random inputs per harness in the sweep.
const SWEEP: usize = 300;

/// The seed files of `target`, sorted by name.
fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).expect("a readable seed");
            (path, data)
        })
        .collect()
}

/// Runs `f`, naming `what` (the input to replay) when it panics.
fn replay<T>(what: &str, f: impl FnOnce() -> T + UnwindSafe) -> T {
    match catch_unwind(f) {
        Ok(value) => value,
        Err(_) => panic!("the harness failed on {what} (its message is above)"),
    }
}

/// splitmix64, for the sweep's inputs.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn the_decoder_seed_corpus_replays_through_the_fuzz_harness() {
    let seeds = seeds("decoder");
    assert!(seeds.len() >= 5, "only {} decoder seeds", seeds.len());
    for (path, data) in seeds {
        replay(&path.display().to_string(), || {
            fuzz_harness::decoder::run(&data)
        });
    }
}

#[test]
fn the_link_seed_corpus_replays_and_reaches_every_interesting_state() {
    let seeds = seeds("link");
    assert!(seeds.len() >= 5, "only {} link seeds", seeds.len());
    let mut states = HashSet::new();
    let mut settlements = HashSet::new();
    for (path, data) in seeds {
        let reached = replay(&path.display().to_string(), || {
            fuzz_harness::link::run(&data)
        });
        assert!(
            reached.configured && reached.steps > 3,
            "{} does not run the link ({} steps)",
            path.display(),
            reached.steps
        );
        states.extend(reached.states);
        settlements.extend(reached.settlements);
    }
    for state in [
        LinkState::Connecting,
        LinkState::Handshaken,
        LinkState::Retrying,
        LinkState::Closed,
        LinkState::Disabled,
    ] {
        assert!(
            states.contains(&state),
            "no seed reaches {state}: {states:?}"
        );
    }
    for name in ["result", "not_connected", "connection_lost"] {
        assert!(settlements.contains(name), "no seed settles {name}");
    }
}

/// Defaults-like timings (indices into the harness's duration table):
/// outbound timeout 30 s, keepalive 30 s, idle 1 h.
fn slow_setup(dedupe: u8) -> Setup {
    Setup {
        seed: 7,
        timings: [5, 7, 7, 6, 7, 7, 7, 8, 6, 5, 7, 6],
        max_frame: 255,
        dedupe,
        auth: true,
        two_identities: false,
    }
}

/// Issue 8 item 7, through the link harness: A at +40 ms, B at +1,040, B's
/// result, B again at +20,040; the harness fails when the new B times out
/// before its own 30 s (it did at +31,040 before the fix).
#[test]
fn the_link_harness_sees_a_reused_request_id_keep_its_own_timeout() {
    let ops = vec![
        Op::Handshakes,
        Op::Advance(40),
        Op::Send(Platform::Default),
        Op::Advance(1_000),
        Op::Send(Platform::Default),
        Op::Receive(vec![Frame::Result(1)], None),
        Op::Advance(19_000),
        Op::SendSettledId(0),
        Op::Advance(10_000),
        Op::Advance(1_000),
        Op::Advance(1_000),
    ];
    let reached = run_ops(&slow_setup(0), ops);
    assert!(reached.settlements.contains("result") && reached.settlements.contains("timed_out"));
}

/// Issue 8 item 6(a), through the link harness: with room for two ids, b1,
/// b2 and b3 are delivered and none accepted; after a reconnect b1 comes
/// again. The harness fails when it reaches the application twice (it did
/// before the fix).
#[test]
fn the_link_harness_sees_an_unaccepted_delivery_never_redelivered() {
    let ops = vec![
        Op::Handshakes,
        Op::Receive(
            vec![
                Frame::Inbound(Some(1)),
                Frame::Inbound(Some(2)),
                Frame::Inbound(Some(3)),
            ],
            None,
        ),
        Op::Closed(Close::Abnormal),
        Op::FireNextTimer,
        Op::Handshakes,
        Op::Receive(vec![Frame::Inbound(Some(1))], None),
    ];
    let reached = run_ops(&slow_setup(1), ops);
    assert!(reached.states.contains(&LinkState::Retrying));
}

#[test]
fn random_inputs_keep_the_invariants_of_both_harnesses() {
    let mut ran_the_link = 0;
    for case in 0..SWEEP as u64 {
        let len = 16 + (case as usize * 37) % 2_000;
        let data = random_bytes(case, len);
        replay(&format!("decoder sweep case {case}"), || {
            fuzz_harness::decoder::run(&data)
        });
        let reached = replay(&format!("link sweep case {case}"), || {
            fuzz_harness::link::run(&data)
        });
        ran_the_link += usize::from(reached.configured);
    }
    assert!(
        ran_the_link > SWEEP / 4,
        "only {ran_the_link} of {SWEEP} random inputs configured a link"
    );
}
