//! [`Link`]: the public face of the sans-IO core.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use statig::blocking::{IntoStateMachineExt, StateMachine};

use crate::cause::Cause;
use crate::command::{Command, LinkState, PlatformState};
use crate::config::Config;
use crate::core::{Core, Stats};
use crate::counters::Counters;
use crate::input::Input;
use crate::machine::{Lifecycle, Stimulus};
use crate::timers::Timer;
use crate::why::{self, Before};
use crate::Generation;

/// One relay link's lifecycle, as a pure state machine.
///
/// Feed it [`Input`]s with [`handle_input`](Link::handle_input) and the
/// passage of time with [`handle_timeout`](Link::handle_timeout); drain
/// what it decided with [`poll_command`](Link::poll_command); ask when it
/// next needs to be woken with [`poll_timeout`](Link::poll_timeout).
/// It never performs IO, never reads a clock and never draws OS
/// randomness: `now` and the backoff `seed` come in as arguments, so the
/// same inputs at the same times always give the same commands.
#[derive(Clone)]
pub struct Link {
    machine: StateMachine<Lifecycle>,
    core: Core,
    start: Instant,
    reported: Option<(LinkState, PlatformState)>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("state", &self.state())
            .field("generation", &self.generation())
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Creates an unstarted link. `seed` drives the backoff jitter; `now`
    /// is the link's time origin (trace offsets are measured from it).
    pub fn new(config: Config, seed: u64, now: Instant) -> Self {
        let core = Core::new(config, seed, now);
        let machine = Lifecycle.state_machine();
        Self {
            machine,
            core,
            start: now,
            reported: None,
        }
    }

    /// Feeds one input that happened at `now`.
    ///
    /// Inputs naming a generation other than the live dial's are stale:
    /// they are counted in [`Stats::stale_inputs`] and change nothing.
    pub fn handle_input(&mut self, input: Input, now: Instant) {
        self.advance(now);
        if let Some(gen) = input.generation() {
            let current = self.core.live.filter(|live| live.gen == gen);
            let fresh = match (&input, current) {
                (_, None) => false,
                (Input::DialSucceeded { .. } | Input::DialFailed { .. }, Some(live)) => !live.open,
                (
                    Input::Received { .. } | Input::Heard { .. } | Input::TooLarge { .. },
                    Some(live),
                ) => live.open,
                (_, Some(_)) => true,
            };
            if !fresh {
                self.core.stats.stale_inputs += 1;
                return;
            }
        }
        self.dispatch(&Stimulus::Input(&input));
    }

    /// Fires every timer due at `now`, earliest first.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some((at, timer)) = self.poll_timeout() {
            if at > self.core.now {
                break;
            }
            if timer != Timer::Outbound {
                self.core.timers.cancel(timer);
            }
            self.dispatch(&Stimulus::Expired(timer));
        }
    }

    /// The next command to execute, in order; `None` when there is none.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.core.commands.pop_front()
    }

    /// When the core next needs [`handle_timeout`](Link::handle_timeout),
    /// and for which timer. A pure query.
    ///
    /// A timer whose delay lies beyond [`HORIZON`](crate::timers::HORIZON)
    /// is never armed ("never"), so the instant returned is always within
    /// the horizon of the time it was computed at.
    pub fn poll_timeout(&self) -> Option<(Instant, Timer)> {
        let table = self.core.timers.earliest();
        let outbound = self
            .core
            .requests
            .next_deadline()
            .map(|at| (at, Timer::Outbound));
        match (table, outbound) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// The current lifecycle state.
    pub fn state(&self) -> LinkState {
        self.machine.state().link_state()
    }

    /// The platform state last reported (`None` before [`Input::Start`]).
    pub fn platform_state(&self) -> Option<PlatformState> {
        self.reported.map(|(_, platform)| platform)
    }

    /// The generation of the most recent dial (0 before the first).
    pub fn generation(&self) -> Generation {
        self.core.last_generation()
    }

    /// Whether any connection of this link ever handshook.
    pub fn was_handshaken(&self) -> bool {
        self.core.was_handshaken
    }

    /// Counters of skipped input.
    pub fn stats(&self) -> Stats {
        self.core.stats
    }

    /// Counters of what the link did: dials, handshakes, frames, dial
    /// failures by kind, requests by outcome.
    pub fn counters(&self) -> Counters {
        self.core.why.counters
    }

    /// Why the last connection (or dial) ended, or why the link stopped
    /// dialing: `None` while handshaken and before anything went wrong.
    /// While the link retries, it is the failure it retries after.
    pub fn cause(&self) -> Option<&Cause> {
        self.core.why.cause.as_ref()
    }

    /// While the link waits to re-dial (retrying, dormant), how long until
    /// the next dial, from the latest `now` it was given. `None` in every
    /// other state (a held link waits for its release).
    pub fn retry_in(&self) -> Option<Duration> {
        let timer = match self.state() {
            LinkState::Retrying => Timer::Backoff,
            LinkState::Dormant => Timer::Redial,
            _ => return None,
        };
        let at = self.core.timers.get(timer)?;
        Some(at.saturating_duration_since(self.core.now))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The link's time origin, as given to [`Link::new`].
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The machine's own state name, finer than [`LinkState`] (it tells
    /// `draining` from `handshaken`). Used by the generated diagram.
    pub(crate) fn machine_state(&self) -> &'static str {
        self.machine.state().name()
    }

    /// A coarse fingerprint of everything that steers the next transition.
    pub(crate) fn fingerprint(&self) -> String {
        format!(
            "{} {:?} {}",
            self.machine_state(),
            self.core.live.map(|live| (live.open, live.handshaken)),
            self.core.fingerprint()
        )
    }

    /// The number of requests written and waiting for a result.
    pub fn pending_requests(&self) -> usize {
        self.core.requests.len()
    }

    /// Time never runs backwards inside the core.
    fn advance(&mut self, now: Instant) {
        if now > self.core.now {
            self.core.now = now;
        }
    }

    fn dispatch(&mut self, stimulus: &Stimulus<'_>) {
        let before = Before {
            live: self.core.live,
            state: self.state(),
            commands: self.core.commands.len(),
        };
        self.machine.handle_with_context(stimulus, &mut self.core);
        let state = self.state();
        why::observe(&mut self.core, stimulus, before, state);
        self.report_state();
    }

    /// Reports each change of the state and of the platform state once.
    fn report_state(&mut self) {
        let state = self.state();
        let Some(platform) = self.platform_for(state) else {
            return;
        };
        let (old_state, old_platform) = match self.reported {
            Some((s, p)) => (Some(s), Some(p)),
            None => (None, None),
        };
        if old_state != Some(state) {
            self.core.commands.push_back(Command::StateChanged(state));
        }
        if old_platform != Some(platform) {
            self.core
                .commands
                .push_back(Command::PlatformState(platform));
        }
        self.reported = Some((state, platform));
    }

    /// Rule 12: the platform state a dashboard shows for `state`.
    fn platform_for(&self, state: LinkState) -> Option<PlatformState> {
        Some(match state {
            LinkState::Unstarted => return None,
            LinkState::Connecting if !self.core.ever_lost => PlatformState::Connecting,
            LinkState::Connecting | LinkState::Retrying | LinkState::Dormant | LinkState::Held => {
                PlatformState::Retrying
            }
            LinkState::Handshaken => PlatformState::Connected,
            LinkState::Revoked | LinkState::Disabled => PlatformState::Disabled,
            LinkState::Closed => PlatformState::Disconnected,
        })
    }
}

/// Convenience: drains every queued command.
impl Link {
    /// Drains every queued command, in order.
    pub fn drain_commands(&mut self) -> VecDeque<Command> {
        std::mem::take(&mut self.core.commands)
    }
}
