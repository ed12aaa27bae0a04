//! Which failures to log: the first of a run of identical failures, then
//! a summary ("… repeated N times") at a capped, growing cadence, so that a
//! link retrying for hours logs a handful of lines, not one per retry.
//!
//! Pure: fed failures with the time they happened, it says what to log.

use std::time::{Duration, Instant};

use crate::cause::Cause;

/// The first summary of a run of identical failures comes this long after
/// the run's first line.
pub(crate) const FIRST_SUMMARY: Duration = Duration::from_secs(10);

/// Summaries of one run come at most this far apart (the cadence doubles
/// up to it).
pub(crate) const MAX_SUMMARY: Duration = Duration::from_secs(300);

/// One line to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// A failure unlike the one before: log it.
    Failed(Cause),
    /// `times` more failures identical to `cause` since its last line.
    Repeated { cause: Cause, times: u64 },
}

/// The state of the current run of identical failures.
#[derive(Debug)]
pub(crate) struct FailureLog {
    /// The failure of the current run.
    last: Option<Cause>,
    /// Failures of the run not logged yet.
    unlogged: u64,
    /// When the run last logged a line.
    logged_at: Option<Instant>,
    /// How long after `logged_at` the next summary may come.
    cadence: Duration,
}

impl Default for FailureLog {
    fn default() -> Self {
        Self {
            last: None,
            unlogged: 0,
            logged_at: None,
            cadence: FIRST_SUMMARY,
        }
    }
}

impl FailureLog {
    /// A failure happened at `now`: the lines to log (none, one, or the
    /// summary of the previous run and the new failure).
    pub(crate) fn failed(&mut self, cause: &Cause, now: Instant) -> Vec<Line> {
        if self.last.as_ref() == Some(cause) {
            self.unlogged += 1;
            let due = self
                .logged_at
                .is_none_or(|at| now.saturating_duration_since(at) >= self.cadence);
            if !due {
                return Vec::new();
            }
            self.logged_at = Some(now);
            self.cadence = (self.cadence * 2).min(MAX_SUMMARY);
            let times = std::mem::take(&mut self.unlogged);
            return vec![Line::Repeated {
                cause: cause.clone(),
                times,
            }];
        }
        let mut lines: Vec<Line> = self.flush().into_iter().collect();
        lines.push(Line::Failed(cause.clone()));
        self.last = Some(cause.clone());
        self.logged_at = Some(now);
        lines
    }

    /// The run ended (the link handshook, or it ends): the summary of what
    /// was not logged yet, if anything.
    pub(crate) fn flush(&mut self) -> Option<Line> {
        let cause = self.last.take()?;
        let times = std::mem::take(&mut self.unlogged);
        self.logged_at = None;
        self.cadence = FIRST_SUMMARY;
        (times > 0).then_some(Line::Repeated { cause, times })
    }
}

/// Logs `line` at `warn` (in the link's span, which names the gateway).
pub(crate) fn log(line: &Line, retry_in: Option<Duration>) {
    match (line, retry_in) {
        (Line::Failed(cause), Some(delay)) => {
            let delay = crate::cause::human(delay);
            tracing::warn!(cause = cause.kind(), "{cause}; retrying in {delay}");
        }
        (Line::Failed(cause), None) => tracing::warn!(cause = cause.kind(), "{cause}"),
        (Line::Repeated { cause, times }, _) => {
            tracing::warn!(
                cause = cause.kind(),
                times,
                "{cause} (repeated {times} more times)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(code: u16) -> Cause {
        Cause::Closed {
            code,
            reason: String::new(),
        }
    }

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn the_first_failure_is_logged_and_identical_ones_after_it_are_not() {
        let t0 = Instant::now();
        let mut log = FailureLog::default();
        assert_eq!(log.failed(&closed(1011), t0), [Line::Failed(closed(1011))]);
        for s in 1..10 {
            assert_eq!(log.failed(&closed(1011), at(t0, s)), [], "at {s} s");
        }
    }

    #[test]
    fn repeats_are_summarised_at_a_doubling_cadence_up_to_its_cap() {
        let t0 = Instant::now();
        let mut log = FailureLog::default();
        let cause = closed(1011);
        log.failed(&cause, t0);
        let mut summaries = Vec::new();
        // One failure a second for an hour.
        for s in 1..=3600 {
            for line in log.failed(&cause, at(t0, s)) {
                let Line::Repeated { times, .. } = line else {
                    panic!("only summaries: {line:?}");
                };
                summaries.push((s, times));
            }
        }
        assert_eq!(
            summaries[..4],
            [(10, 10), (30, 20), (70, 40), (150, 80)],
            "10 s, then twice as long each time"
        );
        let gaps: Vec<u64> = summaries.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert_eq!(gaps.iter().max(), Some(&300), "capped at 5 min");
        let summarised: u64 = summaries.iter().map(|(_, times)| times).sum();
        assert_eq!(
            summarised
                + log.flush().map_or(0, |l| match l {
                    Line::Repeated { times, .. } => times,
                    Line::Failed(_) => 0,
                }),
            3600,
            "every repeat is counted once"
        );
        assert!(summaries.len() < 20, "{} lines in an hour", summaries.len());
    }

    #[test]
    fn a_different_failure_summarises_the_run_before_it_and_is_logged() {
        let t0 = Instant::now();
        let mut log = FailureLog::default();
        log.failed(&closed(1011), t0);
        log.failed(&closed(1011), at(t0, 1));
        log.failed(&closed(1011), at(t0, 2));
        assert_eq!(
            log.failed(&closed(1006), at(t0, 3)),
            [
                Line::Repeated {
                    cause: closed(1011),
                    times: 2
                },
                Line::Failed(closed(1006)),
            ]
        );
        // A run without repeats needs no summary.
        assert_eq!(
            log.failed(&closed(1011), at(t0, 4)),
            [Line::Failed(closed(1011))]
        );
    }

    #[test]
    fn recovering_flushes_the_run_and_the_next_failure_is_logged_again() {
        let t0 = Instant::now();
        let mut log = FailureLog::default();
        log.failed(&closed(1011), t0);
        log.failed(&closed(1011), at(t0, 1));
        assert_eq!(
            log.flush(),
            Some(Line::Repeated {
                cause: closed(1011),
                times: 1
            })
        );
        assert_eq!(log.flush(), None);
        assert_eq!(
            log.failed(&closed(1011), at(t0, 2)),
            [Line::Failed(closed(1011))]
        );
    }
}
