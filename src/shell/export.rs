//! The `metrics` feature: the link's figures as counters and gauges
//! (names in [`metrics_names`](super::metrics_names)).
//!
//! The handles are registered once, when the driver starts (under the
//! recorder in force where it runs); after each turn the driver hands
//! over its figures and only those that changed are written.

use metrics::{Counter, Gauge};

use super::metrics_names as name;
use crate::command::LinkState;
use crate::counters::Counters;
use crate::Stats;

/// Every state, for the `relay_link_state` gauge.
const STATES: [LinkState; 9] = super::STATES;

/// The link's registered metrics and the figures last written.
pub(crate) struct Exporter {
    gateway: String,
    written: Option<(Counters, Stats, usize, usize)>,
    dials: Counter,
    handshakes: Counter,
    frames: Counter,
    malformed: Counter,
    stale: Counter,
    redeliveries: Counter,
    dial_failures: Vec<Counter>,
    requests: Vec<Counter>,
    queued: Gauge,
    in_flight: Gauge,
    states: Vec<Gauge>,
    state_changed: Gauge,
}

impl Exporter {
    /// Registers the link's metrics for `gateway`.
    pub(crate) fn new(gateway: &str) -> Self {
        let gateway = gateway.to_owned();
        let counter = |n: &'static str| metrics::counter!(n, "gateway" => gateway.clone());
        let gauge = |n: &'static str| metrics::gauge!(n, "gateway" => gateway.clone());
        let labelled = |n: &'static str, label: &'static str, values: &[(&'static str, u64)]| {
            values
                .iter()
                .map(|(value, _)| {
                    metrics::counter!(n, "gateway" => gateway.clone(), label => *value)
                })
                .collect()
        };
        let zero = Counters::default();
        Self {
            dials: counter(name::DIALS),
            handshakes: counter(name::HANDSHAKES),
            frames: counter(name::FRAMES_RECEIVED),
            malformed: counter(name::MALFORMED_FRAMES),
            stale: counter(name::STALE_INPUTS),
            redeliveries: counter(name::REDELIVERIES),
            dial_failures: labelled(name::DIAL_FAILURES, "kind", &zero.dial_failures.by_kind()),
            requests: labelled(name::REQUESTS, "outcome", &zero.requests.by_outcome()),
            queued: gauge(name::QUEUED_EVENTS),
            in_flight: gauge(name::IN_FLIGHT_REQUESTS),
            states: STATES
                .iter()
                .map(|s| metrics::gauge!(name::STATE, "gateway" => gateway.clone(), "state" => s.name()))
                .collect(),
            state_changed: gauge(name::STATE_CHANGED),
            written: None,
            gateway,
        }
    }

    /// Writes the figures that changed since the last call.
    pub(crate) fn export(
        &mut self,
        counters: &Counters,
        skipped: &Stats,
        in_flight: usize,
        queued: usize,
    ) {
        let now = (*counters, *skipped, in_flight, queued);
        if self.written == Some(now) {
            return;
        }
        self.dials.absolute(counters.dials);
        self.handshakes.absolute(counters.handshakes);
        self.frames.absolute(counters.frames_received);
        self.malformed.absolute(skipped.malformed_lines);
        self.stale.absolute(skipped.stale_inputs);
        self.redeliveries.absolute(skipped.duplicate_deliveries);
        let failures = counters.dial_failures.by_kind();
        for (counter, (_, n)) in self.dial_failures.iter().zip(failures) {
            counter.absolute(n);
        }
        let outcomes = counters.requests.by_outcome();
        for (counter, (_, n)) in self.requests.iter().zip(outcomes) {
            counter.absolute(n);
        }
        self.in_flight.set(in_flight as f64);
        self.queued.set(queued as f64);
        self.written = Some(now);
    }

    /// A connection closed with `code`.
    pub(crate) fn closed(&self, code: u16) {
        metrics::counter!(name::CLOSES, "gateway" => self.gateway.clone(), "code" => code.to_string())
            .increment(1);
    }

    /// The link entered `state` now.
    pub(crate) fn state(&self, state: LinkState) {
        for (gauge, s) in self.states.iter().zip(STATES) {
            gauge.set(if s == state { 1.0 } else { 0.0 });
        }
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.state_changed.set(since_epoch);
    }
}
