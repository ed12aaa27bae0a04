//! What the rendered stories of `fixtures/traces/` cannot show: counters,
//! decoded bodies, and invariants that must hold in every fixture.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use relay_link::trace::{Step, Trace};
use relay_link::{Command, Input, LinkState, Stats};

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/traces")
}

fn load(name: &str) -> Trace {
    let path = traces_dir().join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    Trace::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn all_fixtures() -> Vec<(String, Trace)> {
    let mut paths: Vec<_> = std::fs::read_dir(traces_dir())
        .expect("fixtures/traces exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name.clone(), load(&name))
        })
        .collect()
}

/// The link's counters after the whole trace ran.
fn final_stats(trace: &Trace) -> Stats {
    let mut stats = None;
    trace.run(|_, _, link| stats = Some(link.stats())).unwrap();
    stats.expect("the trace has entries")
}

#[test]
fn malformed_lines_are_counted_and_unknown_types_ignored() {
    let stats = final_stats(&load("malformed_lines_are_skipped_and_counted"));
    // not JSON, an array, a number, a string, an outbound_result without a
    // requestId, a cut descriptor, an outbound_result with a numeric requestId
    assert_eq!(stats.malformed_lines, 7, "{stats:?}");
    // a `connector_metrics` frame and an object without `type`
    assert_eq!(stats.ignored_frames, 2, "{stats:?}");
}

#[test]
fn a_tail_without_its_head_on_the_next_connection_is_malformed() {
    let stats = final_stats(&load(
        "frames_split_and_merged_across_messages_are_reassembled",
    ));
    assert_eq!(stats.malformed_lines, 1, "{stats:?}");
}

#[test]
fn every_stale_input_is_counted() {
    let stats = final_stats(&load("stale_generation_inputs_change_nothing"));
    assert_eq!(stats.stale_inputs, 9, "{stats:?}");
}

#[test]
fn unknown_and_repeated_results_are_counted_as_unmatched() {
    let stats = final_stats(&load("outbound_result_settles_the_request"));
    assert_eq!(stats.unmatched_results, 2, "{stats:?}");
    let stats = final_stats(&load("late_result_after_timeout_is_ignored"));
    assert_eq!(stats.unmatched_results, 1, "{stats:?}");
}

#[test]
fn redeliveries_are_counted_as_duplicates() {
    let stats = final_stats(&load(
        "redelivered_buffer_id_is_delivered_once_and_acked_again",
    ));
    assert_eq!(stats.duplicate_deliveries, 3, "{stats:?}");
}

#[test]
fn interrupts_before_the_handshake_are_dropped() {
    let stats = final_stats(&load(
        "interrupt_is_fire_and_forget_and_dropped_while_not_handshaken",
    ));
    assert_eq!(stats.dropped_interrupts, 1, "{stats:?}");
}

#[test]
fn passthrough_bodies_are_decoded_and_bad_header_pairs_dropped() {
    let commands = load("passthrough_forward_is_delivered_with_its_body_decoded")
        .commands()
        .unwrap();
    let forwards: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Passthrough(frame) => Some(frame),
            _ => None,
        })
        .collect();
    assert_eq!(forwards.len(), 2);

    let live = &forwards[0];
    assert_eq!(live.buffer_id, None);
    assert_eq!(
        live.forward.body_text(),
        Some(r#"{"type":"event_callback","event":{"type":"app_mention","text":"<@B2> hi"}}"#)
    );
    assert_eq!(
        live.forward.headers,
        [
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "x-slack-request-timestamp".to_owned(),
                "1700000000".to_owned()
            ),
        ]
    );
    assert_eq!(live.forward.platform, "slack");
    assert_eq!(live.forward.bot_id, "B2");

    let buffered = &forwards[1];
    assert_eq!(buffered.buffer_id.as_deref(), Some("buf-pt-1"));
    assert!(
        buffered.forward.body.is_empty(),
        "a bad base64 body is empty"
    );
}

#[test]
fn every_request_in_every_fixture_is_settled_at_most_once() {
    for (name, trace) in all_fixtures() {
        let mut sent: HashMap<String, usize> = HashMap::new();
        for entry in &trace.entries {
            if let Step::Input(Input::Send { id, .. }) = &entry.step {
                *sent.entry(id.0.clone()).or_default() += 1;
            }
        }
        let mut settled: HashMap<String, usize> = HashMap::new();
        let mut pending_at_end = 0;
        trace
            .run(|_, commands, link| {
                for command in commands {
                    if let Command::Settle { id, .. } = command {
                        *settled.entry(id.0).or_default() += 1;
                    }
                }
                pending_at_end = link.pending_requests();
            })
            .unwrap();
        for (id, count) in &settled {
            assert!(
                *count <= sent.get(id).copied().unwrap_or(0),
                "{name}: {id} settled {count} times"
            );
        }
        let sends: usize = sent.values().sum();
        let settles: usize = settled.values().sum();
        assert_eq!(
            settles + pending_at_end,
            sends,
            "{name}: every request is settled or still pending"
        );
    }
}

#[test]
fn no_fixture_dials_after_the_link_is_revoked_disabled_or_closed() {
    for (name, trace) in all_fixtures() {
        let mut terminal = None;
        for command in trace.commands().unwrap() {
            match command {
                Command::StateChanged(
                    state @ (LinkState::Revoked | LinkState::Disabled | LinkState::Closed),
                ) => terminal = Some(state),
                Command::Dial { gen, .. } => {
                    assert_eq!(terminal, None, "{name}: dial {gen} after {terminal:?}");
                }
                _ => {}
            }
        }
    }
}

#[test]
fn dial_generations_count_up_by_one_in_every_fixture() {
    for (name, trace) in all_fixtures() {
        let gens: Vec<u64> = trace
            .commands()
            .unwrap()
            .into_iter()
            .filter_map(|c| match c {
                Command::Dial { gen, .. } => Some(gen.0),
                _ => None,
            })
            .collect();
        let expected: Vec<u64> = (1..=gens.len() as u64).collect();
        assert_eq!(gens, expected, "{name}");
    }
}

#[test]
fn a_revoked_fixture_reports_exactly_one_fatal() {
    for (name, trace) in all_fixtures() {
        let commands = trace.commands().unwrap();
        let fatals = commands
            .iter()
            .filter(|c| matches!(c, Command::Fatal(_)))
            .count();
        let revoked = commands
            .iter()
            .any(|c| matches!(c, Command::StateChanged(LinkState::Revoked)));
        assert_eq!(fatals, usize::from(revoked), "{name}");
    }
}
