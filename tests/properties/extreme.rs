//! Extreme durations (issue 8, defect 2): every duration setting of the
//! builder at 0, 1 ns, `Duration::MAX` or a random value, through random
//! cases. The link must never panic (a deadline too far to compute means
//! "never") and every invariant of the ordinary cases must still hold.

use std::time::Duration;

use proptest::prelude::*;
use relay_link::config::{Config, ConfigBuilder};

use crate::checks::ALL_CHECKS;
use crate::driver::{run_with, verify, Ending, MAX_FRAME};
use crate::ops::{ops_strategy, Op};
use crate::support;

/// Every duration setting of [`ConfigBuilder`], in this order.
const FIELDS: [&str; 12] = [
    "backoff_base",
    "backoff_max",
    "stable_after",
    "connect_timeout",
    "handshake_timeout",
    "outbound_timeout",
    "ping_interval",
    "idle_timeout",
    "going_idle_timeout",
    "dormant_redial",
    "max_hold",
    "drain_grace",
];

const NANO: Duration = Duration::from_nanos(1);

fn set(builder: ConfigBuilder, field: &str, value: Duration) -> ConfigBuilder {
    match field {
        "backoff_base" => builder.backoff_base(value),
        "backoff_max" => builder.backoff_max(value),
        "stable_after" => builder.stable_after(value),
        "connect_timeout" => builder.connect_timeout(value),
        "handshake_timeout" => builder.handshake_timeout(value),
        "outbound_timeout" => builder.outbound_timeout(value),
        "ping_interval" => builder.ping_interval(value),
        "idle_timeout" => builder.idle_timeout(value),
        "going_idle_timeout" => builder.going_idle_timeout(value),
        "dormant_redial" => builder.dormant_redial(value),
        "max_hold" => builder.max_hold(value),
        "drain_grace" => builder.drain_grace(value),
        other => panic!("unknown field {other}"),
    }
}

fn slot(field: &str) -> usize {
    FIELDS
        .iter()
        .position(|f| *f == field)
        .unwrap_or_else(|| panic!("the builder refused {field}, not a duration"))
}

/// Builds the configuration. Each refusal of the builder must be one it
/// documents (a zero timing, `backoff_max < backoff_base`,
/// `idle_timeout <= ping_interval`); the refused value is then nudged to the
/// nearest accepted one and the build retried.
fn config_of(mut values: [Duration; 12]) -> Result<Config, String> {
    for _ in 0..=FIELDS.len() * 2 {
        let builder = FIELDS.iter().zip(values).fold(
            support::config_builder().max_frame_size(MAX_FRAME),
            |b, (f, v)| set(b, f, v),
        );
        let error = match builder.build() {
            Ok(config) => return Ok(config),
            Err(error) => error,
        };
        let i = slot(error.field());
        let (base, ping) = (values[slot("backoff_base")], values[slot("ping_interval")]);
        if values[i].is_zero() && error.field() != "drain_grace" {
            values[i] = NANO;
        } else if error.field() == "backoff_max" && values[i] < base {
            values[i] = base;
        } else if error.field() == "idle_timeout" && values[i] <= ping {
            if ping == Duration::MAX {
                values[slot("ping_interval")] = Duration::MAX - NANO;
            }
            values[i] = values[slot("ping_interval")] + NANO;
        } else {
            return Err(format!("refused {values:?}: {error}"));
        }
    }
    Err(format!("never accepted {values:?}"))
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(NANO),
        Just(Duration::MAX),
        (0u64..120_000).prop_map(Duration::from_millis),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// The ordinary ops, with one disconnect in three given an unbounded budget.
fn extreme_ops() -> impl Strategy<Value = Vec<Op>> {
    ops_strategy().prop_map(|ops| {
        ops.into_iter()
            .map(|op| match op {
                Op::Disconnect(budget) if budget % 3 == 0 => Op::Disconnect(u64::MAX),
                op => op,
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn extreme_durations_in_every_setting_never_panic_and_keep_every_invariant(
        seed: u64,
        values in proptest::array::uniform12(duration()),
        ops in extreme_ops(),
    ) {
        let config = config_of(values).map_err(TestCaseError::fail)?;
        let recording = run_with(config, seed, &ops, Ending::ThenJumpPastTheBudget);
        for (name, check) in ALL_CHECKS {
            verify(&recording, *check)
                .map_err(|why| TestCaseError::fail(format!("{name}: {why}")))?;
        }
    }
}

#[test]
fn the_builder_repair_keeps_the_extremes_it_accepts() {
    let mut values = [Duration::MAX; 12];
    values[slot("backoff_base")] = Duration::ZERO;
    values[slot("idle_timeout")] = NANO;
    let config = config_of(values).expect("repaired");
    assert_eq!(config.backoff_base(), NANO);
    assert_eq!(config.backoff_max(), Duration::MAX);
    assert_eq!(config.ping_interval(), Duration::MAX - NANO);
    assert_eq!(config.idle_timeout(), Duration::MAX);
    assert_eq!(config.drain_grace(), Duration::MAX);
}
