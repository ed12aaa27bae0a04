//! What the link did, counted: dials, handshakes, frames, dial failures by
//! kind and requests by outcome ([`Link::counters`](crate::Link::counters)).
//!
//! [`Stats`](crate::Stats) counts what the core *skipped*; these count
//! what it *did*. Both are pure: they change only with the inputs.
//!
//! ```
//! use std::time::Instant;
//! use relay_link::{config::Config, DialFailure, Input, Link};
//!
//! let t0 = Instant::now();
//! let mut link = Link::new(Config::builder("http://127.0.0.1:9").build()?, 1, t0);
//! link.handle_input(Input::Start, t0);
//! let gen = link.generation();
//! link.handle_input(Input::DialFailed { gen, failure: DialFailure::Http { status: 503 } }, t0);
//!
//! let counters = link.counters();
//! assert_eq!((counters.dials, counters.dial_failures.http), (1, 1));
//! assert_eq!(counters.dial_failures.by_kind()[5], ("http", 1));
//! # Ok::<(), relay_link::config::ConfigError>(())
//! ```

use serde::Serialize;

use crate::cause::{Cause, Phase};
use crate::command::Settlement;
use crate::input::IoFailure;

/// Activity counters of one link since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counters {
    /// Dials issued (every [`Command::Dial`](crate::Command::Dial)).
    pub dials: u64,
    /// Connections that completed their handshake (first descriptor).
    pub handshakes: u64,
    /// Well-formed frames of a known type received.
    pub frames_received: u64,
    /// Dials and connections that ended (each sets
    /// [`Link::cause`](crate::Link::cause)), for any reason.
    pub ended: u64,
    /// Dials that failed before their socket opened, by kind.
    pub dial_failures: DialFailures,
    /// Requests settled, by outcome.
    pub requests: RequestOutcomes,
}

/// Dial failures by kind ([`Counters::dial_failures`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DialFailures {
    /// TCP connection refused.
    pub refused: u64,
    /// The host name did not resolve.
    pub dns: u64,
    /// The TLS handshake failed.
    pub tls: u64,
    /// The connection was reset during the dial.
    pub reset: u64,
    /// The connect timeout ran out (the link's timer or the OS's).
    pub timeout: u64,
    /// The upgrade was refused with an HTTP status.
    pub http: u64,
    /// The connector accepted the upgrade and closed at once (4401 …).
    pub closed: u64,
    /// Anything else.
    pub other: u64,
}

impl DialFailures {
    /// Every kind with its count, in a fixed order; the names are the
    /// `kind` labels of the `relay_link_dial_failures_total` metric.
    pub fn by_kind(&self) -> [(&'static str, u64); 8] {
        [
            ("refused", self.refused),
            ("dns", self.dns),
            ("tls", self.tls),
            ("reset", self.reset),
            ("timeout", self.timeout),
            ("http", self.http),
            ("closed", self.closed),
            ("other", self.other),
        ]
    }

    /// The total of every kind.
    pub fn total(&self) -> u64 {
        self.by_kind().iter().map(|(_, n)| n).sum()
    }

    /// Counts the failure `cause` ended a dial with.
    pub(crate) fn count(&mut self, cause: &Cause) {
        let slot = match cause {
            Cause::DialFailed { error, .. } => match error {
                IoFailure::Refused => &mut self.refused,
                IoFailure::Dns => &mut self.dns,
                IoFailure::Tls => &mut self.tls,
                IoFailure::Reset => &mut self.reset,
                IoFailure::Timeout => &mut self.timeout,
                IoFailure::Other => &mut self.other,
            },
            Cause::TimedOut {
                phase: Phase::Connect,
                ..
            } => &mut self.timeout,
            Cause::Rejected { .. } => &mut self.http,
            Cause::Closed { .. } | Cause::Revoked { .. } => &mut self.closed,
            _ => &mut self.other,
        };
        *slot += 1;
    }
}

/// Settled requests by outcome ([`Counters::requests`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RequestOutcomes {
    /// The connector's result arrived (whatever it says).
    pub result: u64,
    /// Written, no result within the outbound timeout (ambiguous).
    pub timed_out: u64,
    /// Written, then the connection dropped (ambiguous).
    pub connection_lost: u64,
    /// Refused unwritten: the link was between connections.
    pub not_connected: u64,
    /// The link was disconnected or disabled.
    pub closed: u64,
    /// Refused unwritten: the id was already pending.
    pub duplicate_id: u64,
    /// Refused unwritten: larger than the frame limit.
    pub too_large: u64,
}

impl RequestOutcomes {
    /// Every outcome with its count, in a fixed order; the names are the
    /// `outcome` labels of the `relay_link_requests_total` metric.
    pub fn by_outcome(&self) -> [(&'static str, u64); 7] {
        [
            ("result", self.result),
            ("timed_out", self.timed_out),
            ("connection_lost", self.connection_lost),
            ("not_connected", self.not_connected),
            ("closed", self.closed),
            ("duplicate_id", self.duplicate_id),
            ("too_large", self.too_large),
        ]
    }

    /// Counts one settlement.
    pub(crate) fn count(&mut self, settlement: &Settlement) {
        let slot = match settlement {
            Settlement::Result(_) => &mut self.result,
            Settlement::TimedOut => &mut self.timed_out,
            Settlement::ConnectionLost => &mut self.connection_lost,
            Settlement::NotConnected => &mut self.not_connected,
            Settlement::Closed { .. } => &mut self.closed,
            Settlement::DuplicateId => &mut self.duplicate_id,
            Settlement::TooLarge => &mut self.too_large,
        };
        *slot += 1;
    }
}
