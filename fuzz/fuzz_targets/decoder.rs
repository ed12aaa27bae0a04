//! The line decoder fed arbitrary bytes split arbitrarily into messages,
//! checked against a reference model (see the harness).
#![no_main]

#[path = "../../tests/fuzz_harness/decoder.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
