//! The lifecycle state machine (statig).
//!
//! States and the inputs each one handles. The superstate `link` holds what
//! every non-terminal state does alike (application requests while not
//! connected, redial holds, disconnect); the superstate `online` holds
//! what every state with a live socket does alike (frames, keepalive,
//! drops). The data lives in [`Core`], the machine's context.

use std::time::Duration;

use statig::prelude::*;

use crate::command::{LinkState, Settlement};
use crate::core::{Core, Effect, IdlePurpose, Next};
use crate::input::{DialFailure, Input};
use crate::timers::Timer;

/// What the machine reacts to: an input, or a timer that fired.
#[derive(Debug)]
pub(crate) enum Stimulus<'a> {
    Input(&'a Input),
    Expired(Timer),
}

/// The statig shared storage; all data lives in the [`Core`] context.
#[derive(Debug, Default, Clone)]
pub(crate) struct Lifecycle;

fn to_state(next: Next) -> State {
    match next {
        Next::Retrying => State::retrying(),
        Next::Dormant => State::dormant(),
        Next::Held => State::held(),
        Next::Connecting => State::connecting(),
        Next::Revoked => State::revoked(),
    }
}

/// Ends the live connection because of the peer or the network.
fn dropped(core: &mut Core, code: Option<u16>, reason: &str) -> Outcome<State> {
    let close = code.map(|code| (code, reason));
    Transition(to_state(core.lost(None, close)))
}

/// Applies what a received message (or one too large to read) did.
fn received(core: &mut Core, input: &Input) -> Option<State> {
    let effect = match input {
        Input::Received { text, .. } => core.receive(text),
        _ => core.too_large(),
    };
    match effect {
        Effect::Continue => None,
        Effect::End(code, reason) => Some(to_state(core.lost(Some((code, reason)), None))),
        Effect::Dormant => Some(to_state(core.go_dormant())),
    }
}

#[state_machine(
    initial = "State::unstarted()",
    state(derive(Debug, Clone, Copy, PartialEq, Eq)),
    superstate(derive(Debug)),
    context_identifier = "core",
    event_identifier = "stimulus"
)]
impl Lifecycle {
    /// Created, waiting for [`Input::Start`].
    #[state(superstate = "link")]
    fn unstarted(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Input(Input::Start) => {
                core.dial();
                Transition(State::connecting())
            }
            _ => Super,
        }
    }

    /// A dial is in flight, or the socket is open and no descriptor has
    /// arrived yet.
    #[state(superstate = "online")]
    fn connecting(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Input(Input::DialSucceeded { .. }) => {
                core.on_open();
                Handled
            }
            Stimulus::Input(Input::DialFailed { failure, .. }) => match failure {
                DialFailure::Closed { code, reason } => dropped(core, Some(*code), reason),
                DialFailure::Http { .. } | DialFailure::Io { .. } => dropped(core, None, ""),
            },
            Stimulus::Input(input @ (Input::Received { .. } | Input::TooLarge { .. })) => {
                match received(core, input) {
                    Some(next) => Transition(next),
                    None if core.is_handshaken() => Transition(State::handshaken()),
                    None => Handled,
                }
            }
            Stimulus::Expired(Timer::Connect) => {
                Transition(to_state(core.lost(Some((1000, "connect timeout")), None)))
            }
            Stimulus::Expired(Timer::Handshake) => {
                Transition(to_state(core.lost(Some((1001, "handshake timeout")), None)))
            }
            _ => Super,
        }
    }

    /// The connection handshook: requests flow.
    #[state(superstate = "online")]
    fn handshaken(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Input(Input::Send {
                id,
                action,
                platform,
            }) => {
                core.send_request(id, action, platform.as_deref());
                Handled
            }
            Stimulus::Input(Input::Interrupt {
                session_key,
                reason,
            }) => {
                core.interrupt(session_key, reason.as_deref());
                Handled
            }
            Stimulus::Input(Input::GoIdle) => {
                core.go_idle(IdlePurpose::Idle);
                Handled
            }
            Stimulus::Input(Input::GoDormant) => {
                core.go_idle(IdlePurpose::Dormant);
                Handled
            }
            Stimulus::Expired(Timer::GoingIdle) => {
                core.idle_timed_out();
                Handled
            }
            Stimulus::Input(Input::Disconnect { budget_ms }) if !core.requests.is_empty() => {
                core.start_drain(Duration::from_millis(*budget_ms));
                Transition(State::draining())
            }
            _ => Super,
        }
    }

    /// Disconnecting: waiting (within the drain grace) for in-flight
    /// requests before closing with 1000.
    #[state(superstate = "online")]
    fn draining(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Input(input @ (Input::Received { .. } | Input::TooLarge { .. })) => {
                let effect = match input {
                    Input::Received { text, .. } => core.receive(text),
                    _ => core.too_large(),
                };
                if let Effect::End(code, reason) = effect {
                    core.close_for_good_with(code, reason);
                    return Transition(State::closed());
                }
                if core.requests.is_empty() {
                    core.close_for_good();
                    Transition(State::closed())
                } else {
                    Handled
                }
            }
            Stimulus::Expired(Timer::Drain | Timer::Idle) => {
                core.close_for_good();
                Transition(State::closed())
            }
            Stimulus::Expired(Timer::Outbound) => {
                core.expire_requests();
                if core.requests.is_empty() {
                    core.close_for_good();
                    Transition(State::closed())
                } else {
                    Handled
                }
            }
            Stimulus::Input(Input::SocketClosed { .. }) => {
                core.live = None;
                core.close_for_good();
                Transition(State::closed())
            }
            Stimulus::Input(Input::Send { id, .. }) => {
                core.refuse(id, Settlement::Closed { ambiguous: false });
                Handled
            }
            Stimulus::Input(Input::Disconnect { budget_ms }) => {
                core.tighten_drain(Duration::from_millis(*budget_ms));
                Handled
            }
            Stimulus::Input(Input::GoIdle | Input::GoDormant) => {
                core.idle_while_draining();
                Handled
            }
            _ => Super,
        }
    }

    /// What every state with a dial or socket alive does alike.
    #[superstate(superstate = "link")]
    fn online(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Input(input @ (Input::Received { .. } | Input::TooLarge { .. })) => {
                match received(core, input) {
                    Some(next) => Transition(next),
                    None => Handled,
                }
            }
            Stimulus::Input(Input::Heard { .. }) => {
                core.heard();
                Handled
            }
            Stimulus::Input(Input::SocketClosed { code, reason, .. }) => {
                dropped(core, *code, reason)
            }
            Stimulus::Expired(Timer::Ping) => {
                core.ping();
                Handled
            }
            Stimulus::Expired(Timer::Idle) => {
                Transition(to_state(core.lost(Some((1001, "idle timeout")), None)))
            }
            Stimulus::Expired(Timer::Outbound) => {
                core.expire_requests();
                Handled
            }
            _ => Super,
        }
    }

    /// Waiting out a backoff delay.
    #[state(superstate = "link")]
    fn retrying(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Expired(Timer::Backoff) => Transition(to_state(core.redial_now())),
            _ => Super,
        }
    }

    /// Dormant on request: the socket is closed, re-dials on the dormant
    /// cadence.
    #[state(superstate = "link")]
    fn dormant(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Expired(Timer::Redial) => Transition(to_state(core.redial_now())),
            _ => Super,
        }
    }

    /// A re-dial is due but the application holds re-dials.
    #[state(superstate = "link")]
    fn held(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Input(Input::ReleaseRedial) | Stimulus::Expired(Timer::Hold) => {
                core.release_redial();
                core.dial();
                Transition(State::connecting())
            }
            _ => Super,
        }
    }

    /// What every non-terminal state does alike.
    #[superstate]
    fn link(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Input(Input::Send { id, .. }) => {
                core.refuse(id, Settlement::NotConnected);
                Handled
            }
            Stimulus::Input(Input::Interrupt { .. }) => {
                core.stats.dropped_interrupts += 1;
                Handled
            }
            Stimulus::Input(Input::GoIdle | Input::GoDormant) => {
                core.go_idle(IdlePurpose::Idle);
                Handled
            }
            Stimulus::Input(Input::HoldRedial) => {
                core.hold_redial();
                Handled
            }
            Stimulus::Input(Input::ReleaseRedial) | Stimulus::Expired(Timer::Hold) => {
                core.release_redial();
                Handled
            }
            Stimulus::Input(Input::Accepted { buffer_id }) => {
                core.accept(buffer_id);
                Handled
            }
            Stimulus::Input(Input::Disconnect { .. }) => {
                core.close_for_good();
                Transition(State::closed())
            }
            _ => Handled,
        }
    }

    /// The credential was judged revoked; the fatal report is out.
    #[state]
    fn revoked(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        match stimulus {
            Stimulus::Input(Input::FatalAcknowledged) => Transition(State::disabled()),
            Stimulus::Input(input) => {
                refuse_closed(core, input);
                Handled
            }
            Stimulus::Expired(_) => Handled,
        }
    }

    /// Terminal: revoked and reported. Never dials again.
    #[state]
    fn disabled(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        if let Stimulus::Input(input) = stimulus {
            refuse_closed(core, input);
        }
        Handled
    }

    /// Terminal: deliberately disconnected.
    #[state]
    fn closed(core: &mut Core, stimulus: &Stimulus<'_>) -> Outcome<State> {
        if let Stimulus::Input(input) = stimulus {
            refuse_closed(core, input);
        }
        Handled
    }
}

/// In a terminal state every request fails at once as closed.
fn refuse_closed(core: &mut Core, input: &Input) {
    match input {
        Input::Send { id, .. } => core.refuse(id, Settlement::Closed { ambiguous: false }),
        Input::GoIdle | Input::GoDormant => core.refuse_idle(),
        _ => {}
    }
}

impl State {
    /// The machine state's own name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            State::Draining {} => "draining",
            other => other.link_state().name(),
        }
    }

    /// The public name of this state.
    pub(crate) fn link_state(&self) -> LinkState {
        match self {
            State::Unstarted {} => LinkState::Unstarted,
            State::Connecting {} => LinkState::Connecting,
            State::Handshaken {} | State::Draining {} => LinkState::Handshaken,
            State::Retrying {} => LinkState::Retrying,
            State::Dormant {} => LinkState::Dormant,
            State::Held {} => LinkState::Held,
            State::Revoked {} => LinkState::Revoked,
            State::Disabled {} => LinkState::Disabled,
            State::Closed {} => LinkState::Closed,
        }
    }
}
