//! Property tests of the lifecycle core: random interleavings of inputs and
//! timeouts against a [`Link`], each invariant checked as its own property.
//!
//! A case is a list of [`ops::Op`]s. The [driver](driver::run) answers the generation of
//! the most recent `Dial` the link emitted, records every step (the input or
//! timeout, the commands it produced, and a snapshot of the link before and
//! after it) and ends every case with a disconnect, then fires timers until
//! none is left. Each property replays the recording through one check.
//!
//! The number of cases comes from `PROPTEST_CASES` (CI sets 2000).

#[path = "../support/mod.rs"]
mod support;

mod checks;
mod driver;
mod extreme;
mod ops;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use relay_link::backoff::Backoff;
use relay_link::{Command, LinkState};

use checks::*;
use driver::{run, verify};
use ops::ops_strategy;

// ----- the properties ----------------------------------------------------------

proptest! {
    #[test]
    fn never_more_than_one_dial_in_flight(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_one_dial_in_flight)?;
    }

    #[test]
    fn no_dial_after_revoked_disabled_or_closed(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_no_dial_after_terminal)?;
    }

    #[test]
    fn every_request_settles_exactly_once_and_ambiguous_iff_written_without_result(
        seed: u64,
        ops in ops_strategy(),
    ) {
        verify(&run(seed, &ops), check_requests_settle_once)?;
    }

    #[test]
    fn at_most_one_fatal_report(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_at_most_one_fatal)?;
    }

    #[test]
    fn stale_generation_inputs_change_nothing(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_stale_inputs_change_nothing)?;
    }

    #[test]
    fn every_backoff_delay_is_within_its_ladder_bounds(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_backoff_within_ladder)?;
    }

    #[test]
    fn a_buffer_id_is_delivered_at_most_once(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_buffer_delivered_once)?;
    }

    #[test]
    fn a_buffered_delivery_is_acked_only_after_acceptance(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_ack_after_acceptance)?;
    }

    #[test]
    fn platform_state_is_reported_only_on_a_change(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_reported_only_on_change)?;
    }

    #[test]
    fn every_state_change_is_reported_and_the_platform_state_follows_it(
        seed: u64,
        ops in ops_strategy(),
    ) {
        verify(&run(seed, &ops), check_every_change_is_reported)?;
    }

    #[test]
    fn revocation_follows_the_strike_rules(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_strike_rules)?;
    }

    #[test]
    fn a_disconnect_settles_everything(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_everything_settles)?;
    }

    #[test]
    fn a_disconnect_closes_within_its_budget(seed: u64, ops in ops_strategy()) {
        verify(&run(seed, &ops), check_disconnect_within_budget)?;
    }

    /// Rule 9, on the ladder itself: every delay lies in [d/2, d] with
    /// d = min(base · 2^(n−1), cap) for attempt n, whatever the seed, the
    /// base, the cap and where a reset happens.
    #[test]
    fn every_ladder_delay_is_within_half_the_ceiling_and_the_ceiling(
        seed: u64,
        base_us in 1u64..5_000_000,
        factor in 1u32..100,
        draws in 1usize..80,
        reset_at in proptest::option::of(0usize..80),
        probe: u32,
    ) {
        let base = Duration::from_micros(base_us);
        let cap = base * factor;
        let mut ladder = Backoff::new(base, cap, seed);
        let mut attempt = 0u32;
        for i in 0..draws {
            if reset_at == Some(i) {
                ladder.reset();
                attempt = 0;
            }
            attempt += 1;
            let delay = ladder.next_delay();
            prop_assert_eq!(ladder.attempts(), attempt);
            let d = ladder_ceiling(base, cap, attempt);
            prop_assert_eq!(ladder.ceiling(attempt), d);
            prop_assert!(d <= cap);
            prop_assert!(
                delay * 2 >= d && delay <= d,
                "attempt {}: {:?} outside [{:?}, {:?}]", attempt, delay, d / 2, d
            );
        }
        prop_assert_eq!(ladder.ceiling(probe), ladder_ceiling(base, cap, probe));
    }
}

/// The driver itself: typical cases really reach the interesting states
/// and settlements, so the properties above are not vacuous.
#[test]
fn the_driver_reaches_every_interesting_state() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (any::<u64>(), ops_strategy());
    // In how many cases each state was reached.
    let mut reached: HashMap<LinkState, usize> = HashMap::new();
    let mut settled = HashSet::new();
    let (mut backoffs, mut stale) = (0, 0);
    for _ in 0..300 {
        let (seed, ops) = strategy.new_tree(&mut runner).expect("a case").current();
        let recording = run(seed, &ops);
        let mut here = HashSet::new();
        for step in &recording.steps {
            here.insert(step.after.state);
            stale += usize::from(step.stale);
            for command in &step.commands {
                match command {
                    Command::Settle { settlement, .. } => {
                        settled.insert(settlement.name());
                    }
                    Command::StateChanged(LinkState::Retrying) => backoffs += 1,
                    _ => {}
                }
            }
        }
        for state in here {
            *reached.entry(state).or_default() += 1;
        }
    }
    for state in [
        LinkState::Connecting,
        LinkState::Handshaken,
        LinkState::Retrying,
        LinkState::Dormant,
        LinkState::Held,
        LinkState::Revoked,
        LinkState::Disabled,
        LinkState::Closed,
    ] {
        let cases = reached.get(&state).copied().unwrap_or(0);
        assert!(
            cases >= 3,
            "{state} reached in {cases} of 300 cases: {reached:?}"
        );
    }
    for name in [
        "result",
        "timed_out",
        "connection_lost",
        "not_connected",
        "closed",
        "closed_ambiguous",
    ] {
        assert!(settled.contains(name), "never settled as {name}");
    }
    assert!(backoffs > 100, "{backoffs} backoffs");
    assert!(stale > 100, "{stale} stale inputs");
}
