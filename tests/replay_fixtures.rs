//! Replays every trace under `fixtures/traces/` through a fresh link and
//! snapshots the rendered story (one snapshot per fixture).

use std::path::Path;

use relay_link::trace::{replay, Trace};

/// Every committed fixture: 47 hand-written (one per contract rule and
/// bullet) and 14 `recorded_*.jsonl` real sessions
/// (`cargo run --example record_fixtures`).
const MIN_FIXTURES: usize = 61;

#[test]
fn every_fixture_replays_to_its_reviewed_story() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/traces");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/traces exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= MIN_FIXTURES,
        "expected at least {MIN_FIXTURES} fixtures, found {}",
        paths.len()
    );
    for path in paths {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(&path).expect("fixture is readable");
        let trace = Trace::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let story = replay(&trace).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::with_settings!({ snapshot_path => "../fixtures/snapshots", prepend_module_to_snapshot => false, omit_expression => true, description => path.file_name().and_then(|s| s.to_str()).unwrap_or_default() }, {
            insta::assert_snapshot!(name, story);
        });
    }
}
