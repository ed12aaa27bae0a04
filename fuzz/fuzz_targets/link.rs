//! The sans-IO `Link` driven by arbitrary input sequences with injected
//! time, its invariants checked after every step (see the harness).
#![no_main]

#[path = "../../tests/fuzz_harness/link.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let reached = harness::run(data);
    // A configured link always ran at least its start and final disconnect.
    assert!(!reached.configured || reached.steps >= 2);
});
