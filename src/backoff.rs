//! The reconnect backoff ladder (relay contract §5 rule 9).
//!
//! The delay before attempt `n` (`n = 1, 2, …`) is drawn uniformly from
//! `[d/2, d]` with `d = min(base · 2^(n−1), cap)`. The attempt counter
//! survives across connections; the link resets it only when a connection
//! stayed handshaken for the stable window.
//!
//! Jitter comes from a seeded generator owned by the ladder (never OS
//! randomness), so the same seed yields the same delays and a recorded run
//! replays exactly. Delays are drawn at **millisecond** granularity, the
//! resolution of recorded traces: every delay is a whole number of
//! milliseconds, except when `[d/2, d]` contains no whole millisecond
//! (`d` below about 2 ms), where the delay is `d` itself.
//!
//! ```
//! use std::time::Duration;
//! use relay_link::backoff::Backoff;
//!
//! let mut ladder = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
//! let first = ladder.next_delay();
//! assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
//! let second = ladder.next_delay();
//! assert!(second >= Duration::from_secs(1) && second <= Duration::from_secs(2));
//! assert_eq!(ladder.ceiling(10), Duration::from_secs(30)); // capped
//!
//! // The same seed gives the same delays: a replay is exact.
//! let mut again = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
//! assert_eq!((again.next_delay(), again.next_delay()), (first, second));
//! ```

use std::time::Duration;

/// A seeded, exponentially growing, jittered reconnect delay.
///
/// `Clone` duplicates the generator state: a clone draws the same delays as
/// the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempts: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A ladder starting at `base`, capped at `cap`, with jitter seeded by `seed`.
    ///
    /// A `cap` below `base` simply caps every delay at `cap`.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            base,
            cap,
            attempts: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Counts one more attempt and returns the delay to wait before it.
    ///
    /// The first call after [`new`](Self::new) or [`reset`](Self::reset) is
    /// attempt 1. The counter saturates at `u32::MAX` (by then the delay has
    /// long been at the cap).
    pub fn next_delay(&mut self) -> Duration {
        self.attempts = self.attempts.saturating_add(1);
        let d = self.ceiling(self.attempts);
        let nanos = d.as_nanos();
        // Whole milliseconds inside [d/2, d].
        let lo = nanos.div_ceil(2).div_ceil(NANOS_PER_MILLI);
        let hi = nanos / NANOS_PER_MILLI;
        if lo > hi {
            return d;
        }
        millis_to_duration(self.rng.u128(lo..=hi))
    }

    /// Sets the attempt counter back to 0: the next delay is attempt 1's.
    ///
    /// The generator is not reseeded; the jitter sequence continues.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// How many delays were drawn since creation or the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The upper bound `d = min(base · 2^(attempt−1), cap)` of an attempt's delay.
    ///
    /// Saturates at the cap for any attempt, however large. Attempt 0 (no
    /// attempt yet) is treated as attempt 1.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1);
        1u32.checked_shl(exponent)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// The delay of attempt 1 (before jitter).
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The largest delay the ladder ever returns.
    pub fn cap(&self) -> Duration {
        self.cap
    }
}

const NANOS_PER_MILLI: u128 = 1_000_000;

/// `millis` as a duration; exact for any value derived from a `Duration`.
fn millis_to_duration(millis: u128) -> Duration {
    let secs = u64::try_from(millis / 1000).unwrap_or(u64::MAX);
    // `millis % 1000 < 1000`, so the nanoseconds stay below one second.
    Duration::new(secs, (millis % 1000) as u32 * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(1);
    const CAP: Duration = Duration::from_secs(30);

    fn within(delay: Duration, ceiling: Duration) -> bool {
        delay * 2 >= ceiling && delay <= ceiling
    }

    #[test]
    fn the_ceiling_doubles_from_the_base_up_to_the_cap() {
        let b = Backoff::new(BASE, CAP, 0);
        let secs: Vec<u64> = (1..=8).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.ceiling(0), BASE);
    }

    #[test]
    fn a_fixed_seed_gives_these_exact_delays() {
        let mut b = Backoff::new(BASE, CAP, 42);
        let delays: Vec<u64> = (0..8).map(|_| b.next_delay().as_millis() as u64).collect();
        // Checked by hand: each lies in [d/2, d] for d = 1, 2, 4, 8, 16, 30, 30, 30 s.
        assert_eq!(delays, [896, 1805, 3084, 7582, 13765, 18170, 27414, 28633]);
        for (n, ms) in (1..).zip(delays) {
            assert!(
                within(Duration::from_millis(ms), b.ceiling(n)),
                "attempt {n}: {ms} ms"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence_and_another_seed_differs() {
        let draw = |seed| {
            let mut b = Backoff::new(BASE, CAP, seed);
            (0..20).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn every_delay_lies_within_half_the_ceiling_and_the_ceiling() {
        for seed in 0..50 {
            let mut b = Backoff::new(BASE, CAP, seed);
            for _ in 0..100 {
                let delay = b.next_delay();
                let d = b.ceiling(b.attempts());
                assert!(
                    within(delay, d),
                    "seed {seed} attempt {}: {delay:?} vs {d:?}",
                    b.attempts()
                );
                assert!(delay <= CAP);
                assert_eq!(delay.subsec_nanos() % 1_000_000, 0, "whole milliseconds");
            }
        }
    }

    #[test]
    fn odd_and_sub_millisecond_ceilings_stay_within_range() {
        for base in [
            Duration::from_nanos(1),
            Duration::from_micros(500),
            Duration::from_micros(1_500),
            Duration::from_micros(2_500),
            Duration::from_millis(3),
            Duration::new(1, 1),
        ] {
            let mut b = Backoff::new(base, base * 16, 1);
            for _ in 0..10 {
                let delay = b.next_delay();
                let d = b.ceiling(b.attempts());
                assert!(within(delay, d), "base {base:?}: {delay:?} vs {d:?}");
            }
        }
    }

    #[test]
    fn the_counter_keeps_climbing_until_reset() {
        let mut b = Backoff::new(BASE, CAP, 3);
        for n in 1..=10 {
            b.next_delay();
            assert_eq!(b.attempts(), n);
        }
        // Only reset lowers it; further draws sit at the cap.
        let delay = b.next_delay();
        assert_eq!(b.attempts(), 11);
        assert!(delay >= CAP / 2);
    }

    #[test]
    fn reset_starts_again_at_attempt_one() {
        let mut b = Backoff::new(BASE, CAP, 3);
        for _ in 0..6 {
            b.next_delay();
        }
        b.reset();
        assert_eq!(b.attempts(), 0);
        let delay = b.next_delay();
        assert_eq!(b.attempts(), 1);
        assert!(within(delay, BASE), "{delay:?}");
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow_and_stay_at_the_cap() {
        let b = Backoff::new(BASE, CAP, 0);
        for n in [31, 32, 33, 64, 1_000, u32::MAX] {
            assert_eq!(b.ceiling(n), CAP, "attempt {n}");
        }
        let huge = Backoff::new(Duration::MAX, Duration::MAX, 0);
        assert_eq!(huge.ceiling(u32::MAX), Duration::MAX);

        let mut b = Backoff::new(BASE, CAP, 9);
        b.attempts = u32::MAX - 1;
        for _ in 0..3 {
            let delay = b.next_delay();
            assert_eq!(b.attempts(), u32::MAX);
            assert!(within(delay, CAP), "{delay:?}");
        }
    }

    #[test]
    fn an_unbounded_cap_draws_without_overflow() {
        let mut b = Backoff::new(Duration::MAX, Duration::MAX, 5);
        let delay = b.next_delay();
        assert!(
            delay >= Duration::MAX / 2 - Duration::from_millis(1),
            "{delay:?}"
        );
    }
}
