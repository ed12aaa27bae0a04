//! The logic of the cargo-fuzz targets under `fuzz/`, shared with the
//! stable replay test `tests/fuzz_corpus.rs`: each fuzz target includes its
//! file here by path and calls its `run`, so what the fuzzer checks and
//! what CI replays are the same code.

pub mod decoder;
pub mod link;
