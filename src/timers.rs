//! The core's timers: a named enum and a small table of deadlines.
//!
//! The core never sleeps. It keeps one optional deadline per [`Timer`];
//! [`Link::poll_timeout`](crate::Link::poll_timeout) reports the earliest
//! and [`Link::handle_timeout`](crate::Link::handle_timeout) fires those
//! that are due.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use relay_link::{config::Config, Input, Link, Timer};
//!
//! let config = Config::builder("http://127.0.0.1:8765")
//!     .connect_timeout(Duration::from_secs(10))
//!     .build()?;
//! let t0 = Instant::now();
//! let mut link = Link::new(config, 1, t0);
//! link.handle_input(Input::Start, t0);
//! // While the dial is in flight, the next deadline is its connect timeout.
//! assert_eq!(link.poll_timeout(), Some((t0 + Duration::from_secs(10), Timer::Connect)));
//! assert_eq!(Timer::Connect.name(), "connect");
//! # Ok::<(), relay_link::config::ConfigError>(())
//! ```

use std::fmt;
use std::time::{Duration, Instant};

/// The longest delay the core arms a timer for: about a century. A longer
/// delay (up to `Duration::MAX`, which the builder accepts) means "never".
/// Every instant the core reports is thus within a century of the time it
/// was computed at, so callers can do arithmetic on it safely.
pub const HORIZON: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The instant `delay` after `now`, or `None` ("never") when `delay` lies
/// beyond the [`HORIZON`] (or beyond what an `Instant` can hold).
pub(crate) fn deadline(now: Instant, delay: Duration) -> Option<Instant> {
    if delay > HORIZON {
        None
    } else {
        now.checked_add(delay)
    }
}

/// A named timer of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Timer {
    /// The dial in flight takes too long (connect timeout).
    Connect,
    /// The open connection has not handshaken in time.
    Handshake,
    /// The backoff delay before the next re-dial is over.
    Backoff,
    /// The dormant cadence before the next re-dial is over.
    Redial,
    /// The application's redial hold reached its cap.
    Hold,
    /// Time to send a keepalive ping.
    Ping,
    /// Nothing heard from the peer for the idle timeout.
    Idle,
    /// No `going_idle_ack` in time.
    GoingIdle,
    /// The disconnect's drain grace is over.
    Drain,
    /// The oldest pending outbound request timed out.
    Outbound,
}

impl Timer {
    /// Every timer kept in the table (all but [`Timer::Outbound`], which is
    /// derived from the pending requests).
    pub(crate) const TABLE: [Timer; 9] = [
        Timer::Connect,
        Timer::Handshake,
        Timer::Backoff,
        Timer::Redial,
        Timer::Hold,
        Timer::Ping,
        Timer::Idle,
        Timer::GoingIdle,
        Timer::Drain,
    ];

    /// The timer's name in traces.
    pub fn name(self) -> &'static str {
        match self {
            Timer::Connect => "connect",
            Timer::Handshake => "handshake",
            Timer::Backoff => "backoff",
            Timer::Redial => "redial",
            Timer::Hold => "hold",
            Timer::Ping => "ping",
            Timer::Idle => "idle",
            Timer::GoingIdle => "going_idle",
            Timer::Drain => "drain",
            Timer::Outbound => "outbound",
        }
    }

    fn slot(self) -> usize {
        match self {
            Timer::Connect => 0,
            Timer::Handshake => 1,
            Timer::Backoff => 2,
            Timer::Redial => 3,
            Timer::Hold => 4,
            Timer::Ping => 5,
            Timer::Idle => 6,
            Timer::GoingIdle => 7,
            Timer::Drain => 8,
            Timer::Outbound => usize::MAX,
        }
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One optional deadline per table timer.
#[derive(Debug, Default, Clone)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; 9],
}

impl TimerTable {
    /// Arms (or re-arms) `timer` for `deadline`; `None` ("never")
    /// leaves it disarmed.
    pub(crate) fn set(&mut self, timer: Timer, deadline: Option<Instant>) {
        if let Some(slot) = self.deadlines.get_mut(timer.slot()) {
            *slot = deadline;
        }
    }

    /// Disarms `timer`.
    pub(crate) fn cancel(&mut self, timer: Timer) {
        if let Some(slot) = self.deadlines.get_mut(timer.slot()) {
            *slot = None;
        }
    }

    /// Disarms every timer.
    pub(crate) fn cancel_all(&mut self) {
        self.deadlines = [None; 9];
    }

    /// The deadline of `timer`, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines.get(timer.slot()).copied().flatten()
    }

    /// The earliest armed timer; ties go to the one listed first.
    pub(crate) fn earliest(&self) -> Option<(Instant, Timer)> {
        Timer::TABLE
            .iter()
            .filter_map(|&t| self.get(t).map(|at| (at, t)))
            .min_by_key(|&(at, t)| (at, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_timer_wins_and_cancel_removes_it() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::Idle, Some(t0 + Duration::from_secs(60)));
        table.set(Timer::Ping, Some(t0 + Duration::from_secs(30)));
        assert_eq!(
            table.earliest(),
            Some((t0 + Duration::from_secs(30), Timer::Ping))
        );
        table.cancel(Timer::Ping);
        assert_eq!(
            table.earliest(),
            Some((t0 + Duration::from_secs(60), Timer::Idle))
        );
        table.set(Timer::Idle, None);
        assert_eq!(table.earliest(), None);
        table.set(Timer::Drain, Some(t0));
        table.cancel_all();
        assert_eq!(table.earliest(), None);
    }

    #[test]
    fn a_delay_beyond_the_horizon_is_never() {
        let t0 = Instant::now();
        assert_eq!(deadline(t0, Duration::ZERO), Some(t0));
        assert_eq!(deadline(t0, HORIZON), Some(t0 + HORIZON));
        assert_eq!(deadline(t0, HORIZON + Duration::from_nanos(1)), None);
        assert_eq!(deadline(t0, Duration::MAX), None);
    }
}
