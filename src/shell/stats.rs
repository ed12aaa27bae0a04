//! The link's counters and gauges: one snapshot, [`LinkStats`], from
//! [`RelayLink::stats`].

use std::collections::BTreeMap;
use std::time::Duration;

#[cfg(doc)]
use super::{Options, RelayLink};
use crate::command::LinkState;
use crate::counters::Counters;
use crate::Stats;

/// A snapshot of one link's counters (since it was created) and gauges
/// (now), from [`RelayLink::stats`].
///
/// | figure | field |
/// |---|---|
/// | dials | [`counters.dials`](Counters::dials) |
/// | dial failures by kind | [`counters.dial_failures`](Counters::dial_failures) |
/// | handshakes | [`counters.handshakes`](Counters::handshakes) |
/// | closes by code | [`closes`](LinkStats::closes) |
/// | requests by outcome | [`counters.requests`](Counters::requests) |
/// | inbound frames | [`counters.frames_received`](Counters::frames_received) |
/// | malformed frames | [`skipped.malformed_lines`](Stats::malformed_lines) |
/// | stale inputs | [`skipped.stale_inputs`](Stats::stale_inputs) |
/// | redeliveries | [`skipped.duplicate_deliveries`](Stats::duplicate_deliveries) |
/// | queued events | [`queued_events`](LinkStats::queued_events) |
/// | in-flight requests | [`in_flight_requests`](LinkStats::in_flight_requests) |
/// | time in the current state | [`in_state_for`](LinkStats::in_state_for) |
///
/// With the `metrics` feature the same figures are exported as counters
/// and gauges (their names: [`metrics_names`](super::metrics_names)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// The current state.
    pub state: LinkState,
    /// How long the link has been in [`state`](LinkStats::state).
    pub in_state_for: Duration,
    /// What the core did ([`crate::Link::counters`]).
    pub counters: Counters,
    /// What the core skipped ([`crate::Link::stats`]).
    pub skipped: Stats,
    /// Connections closed, by close code: ours (a timeout, a protocol
    /// error, a disconnect) and the connector's; a connection that ended
    /// without a close frame counts as 1006.
    pub closes: BTreeMap<u16, u64>,
    /// Requests written and waiting for their result.
    pub in_flight_requests: usize,
    /// Tasks of this link alive now: its driver (1 while it runs; the dial,
    /// the connection and the close handshakes run inside it).
    pub live_tasks: usize,
    /// Connections finishing a close handshake (each within its grace).
    pub closing_connections: usize,
    /// Events waiting in the channel for the application; never more than
    /// [`event_capacity`](LinkStats::event_capacity).
    pub queued_events: usize,
    /// Events decoded from the last socket message that did not fit in
    /// the channel (held by the driver, which reads no more until they
    /// fit).
    pub staged_events: usize,
    /// The channel's bound ([`Options::event_capacity`]).
    pub event_capacity: usize,
}

impl Default for LinkStats {
    fn default() -> Self {
        Self {
            state: LinkState::Unstarted,
            in_state_for: Duration::ZERO,
            counters: Counters::default(),
            skipped: Stats::default(),
            closes: BTreeMap::new(),
            in_flight_requests: 0,
            live_tasks: 0,
            closing_connections: 0,
            queued_events: 0,
            staged_events: 0,
            event_capacity: 0,
        }
    }
}

/// The former name of [`LinkStats`] (its shell fields are the same).
pub type ShellStats = LinkStats;

/// The close code counted for a connection that ended without a close
/// frame (the WebSocket "abnormal closure" code).
pub const NO_CLOSE_FRAME: u16 = 1006;

/// What the driver counts and shares with the handles: the core's
/// counters as of its last turn, and the closes it saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tallies {
    pub(crate) counters: Counters,
    pub(crate) skipped: Stats,
    pub(crate) closes: BTreeMap<u16, u64>,
    pub(crate) in_flight: usize,
}

impl Tallies {
    /// Counts a close with `code` (`None`: no close frame).
    pub(crate) fn closed(&mut self, code: Option<u16>) {
        *self
            .closes
            .entry(code.unwrap_or(NO_CLOSE_FRAME))
            .or_default() += 1;
    }
}
