//! Keeping the [`Cause`] and the [`Counters`] up to date: after each
//! stimulus the machine handled, look at what it changed.
//!
//! Pure bookkeeping next to the machine: it reads the stimulus, the live
//! connection before and after, the new state and the commands the
//! stimulus produced, and decides nothing about the lifecycle.

use crate::cause::{self, Cause, Phase};
use crate::command::{Command, LinkState};
use crate::config::millis;
use crate::core::{Core, Live};
use crate::counters::Counters;
use crate::machine::Stimulus;
use crate::timers::Timer;

/// The cause of the link's last ending, and a cause the core noted while
/// deciding to end a connection (a protocol error, an oversized frame).
#[derive(Debug, Clone, Default)]
pub(crate) struct Why {
    /// Why the last connection or dial ended; `None` while handshaken and
    /// before anything went wrong.
    pub(crate) cause: Option<Cause>,
    /// Noted by the core when it ends a connection for a reason the
    /// stimulus alone does not tell.
    pub(crate) noted: Option<Cause>,
    /// Activity counters.
    pub(crate) counters: Counters,
}

/// What the link looked like before a stimulus.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Before {
    pub(crate) live: Option<Live>,
    pub(crate) state: LinkState,
    /// The number of queued commands.
    pub(crate) commands: usize,
}

/// Updates the cause and the counters after `stimulus` was handled.
pub(crate) fn observe(core: &mut Core, stimulus: &Stimulus<'_>, before: Before, state: LinkState) {
    for command in core.commands.range(before.commands..) {
        if let Command::Settle { settlement, .. } = command {
            core.why.counters.requests.count(settlement);
        }
    }
    let noted = core.why.noted.take();
    let ended = before
        .live
        .is_some_and(|live| core.live.map(|now| now.gen) != Some(live.gen));
    let entered = |s: LinkState| state == s && before.state != s;
    let cause = if state == LinkState::Handshaken {
        None
    } else if entered(LinkState::Revoked) {
        Some(revoked(stimulus))
    } else if entered(LinkState::Closed) {
        Some(Cause::Disconnected)
    } else if ended && state == LinkState::Dormant {
        Some(Cause::Dormant)
    } else if ended {
        noted.or_else(|| of_stimulus(core, stimulus))
    } else {
        return;
    };
    if ended {
        core.why.counters.ended += 1;
    }
    if let (Some(live), Some(cause)) = (before.live, &cause) {
        if ended && !live.open && cause.is_failure() {
            core.why.counters.dial_failures.count(cause);
        }
    }
    if cause.is_some() || state == LinkState::Handshaken {
        core.why.cause = cause;
    }
}

/// The cause a stimulus that ended the live connection gives.
fn of_stimulus(core: &Core, stimulus: &Stimulus<'_>) -> Option<Cause> {
    let config = &core.config;
    let timed_out = |phase, after| Cause::TimedOut {
        phase,
        after_ms: millis(after),
    };
    match stimulus {
        Stimulus::Input(input) => cause::of_input(input, config.url()),
        Stimulus::Expired(Timer::Connect) => {
            Some(timed_out(Phase::Connect, config.connect_timeout))
        }
        Stimulus::Expired(Timer::Handshake) => {
            Some(timed_out(Phase::Handshake, config.handshake_timeout))
        }
        Stimulus::Expired(Timer::Idle) => Some(timed_out(Phase::Idle, config.idle_timeout)),
        Stimulus::Expired(_) => None,
    }
}

/// The revocation, with the close of the second strike.
fn revoked(stimulus: &Stimulus<'_>) -> Cause {
    let close = match stimulus {
        Stimulus::Input(input) => cause::of_input(input, ""),
        Stimulus::Expired(_) => None,
    };
    match close {
        Some(Cause::Closed { code, reason }) => Cause::Revoked { code, reason },
        _ => Cause::Revoked {
            code: crate::judgement::UNAUTHORIZED,
            reason: String::new(),
        },
    }
}
