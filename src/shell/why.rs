//! What the application learns about the link's state and why:
//! [`StateChange`] (the items of [`StateChanges`]) and [`NotReady`] (the
//! error of [`RelayLink::ready`]).

use std::fmt;
use std::time::{Duration, Instant};

#[cfg(doc)]
use super::{RelayLink, StateChanges};
use crate::cause::{human, Cause};
use crate::command::{LinkState, PlatformState};

/// One change of the link's state, with its cause.
///
/// The same data as [`Event::State`](super::Event::State); the stream of
/// [`RelayLink::state_changes`] starts with the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateChange {
    /// The lifecycle state.
    pub state: LinkState,
    /// The platform state, as a dashboard shows it.
    pub platform: PlatformState,
    /// Why the last connection or dial ended ([`crate::Link::cause`]):
    /// `None` while handshaken and before anything went wrong.
    pub cause: Option<Cause>,
    /// While retrying (or dormant), the delay until the next dial, as of
    /// the change.
    pub retry_in: Option<Duration>,
}

impl fmt::Display for StateChange {
    /// `retrying in 1.2 s: connection refused (127.0.0.1:8799)`; the
    /// platform state is named only where it differs from the state
    /// (`handshaken (platform connected)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.state)?;
        if self.platform.to_string() != self.state.to_string() {
            write!(f, " (platform {})", self.platform)?;
        }
        if let Some(delay) = self.retry_in {
            write!(f, " in {}", human(delay))?;
        }
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

/// Why [`RelayLink::ready`] gave up: the link ended before it handshook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotReady {
    /// The credential was revoked: the link is disabled for good.
    #[error("the relay link is disabled{}", because(.cause))]
    Disabled {
        /// Why ([`Cause::Revoked`] with the close of the second strike).
        cause: Option<Cause>,
    },
    /// The link was closed (a disconnect, or every handle and the event
    /// stream were dropped).
    #[error("the relay link is closed{}", because(.cause))]
    Closed {
        /// Why ([`Cause::Disconnected`] for a disconnect).
        cause: Option<Cause>,
    },
}

impl NotReady {
    /// The cause the link ended with.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            NotReady::Disabled { cause } | NotReady::Closed { cause } => cause.as_ref(),
        }
    }

    /// The error for a link that ended in `state` (`None` for a state the
    /// link can still leave).
    pub(crate) fn of(state: LinkState, cause: Option<Cause>) -> Option<Self> {
        match state {
            LinkState::Revoked | LinkState::Disabled => Some(NotReady::Disabled { cause }),
            LinkState::Closed => Some(NotReady::Closed { cause }),
            _ => None,
        }
    }
}

fn because(cause: &Option<Cause>) -> String {
    cause
        .as_ref()
        .map_or_else(String::new, |cause| format!(": {cause}"))
}

/// The last published change, for the handles (behind a lock in
/// [`Shared`](super::Shared)).
#[derive(Debug, Default)]
pub(crate) struct Status {
    /// The cause of the last published change.
    pub(crate) cause: Option<Cause>,
    /// When the next dial is due, while retrying or dormant.
    pub(crate) retry_at: Option<Instant>,
    /// When the current state was entered.
    pub(crate) since: Option<Instant>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::IoFailure;

    #[test]
    fn a_change_reads_with_its_delay_and_its_cause() {
        let change = StateChange {
            state: LinkState::Retrying,
            platform: PlatformState::Retrying,
            cause: Some(Cause::DialFailed {
                error: IoFailure::Refused,
                address: "127.0.0.1:8799".into(),
                message: String::new(),
            }),
            retry_in: Some(Duration::from_millis(1200)),
        };
        assert_eq!(
            change.to_string(),
            "retrying in 1.2 s: connection refused (127.0.0.1:8799)"
        );
        let handshaken = StateChange {
            state: LinkState::Handshaken,
            platform: PlatformState::Connected,
            cause: None,
            retry_in: None,
        };
        assert_eq!(handshaken.to_string(), "handshaken (platform connected)");
    }

    #[test]
    fn not_ready_says_which_end_and_why() {
        let disabled = NotReady::of(
            LinkState::Disabled,
            Some(Cause::Revoked {
                code: 4401,
                reason: "revoked".into(),
            }),
        )
        .expect("disabled is an end");
        assert_eq!(
            disabled.to_string(),
            "the relay link is disabled: credential revoked (4401 revoked)"
        );
        let closed = NotReady::of(LinkState::Closed, None).expect("closed is an end");
        assert_eq!(closed.to_string(), "the relay link is closed");
        assert_eq!(NotReady::of(LinkState::Retrying, None), None);
    }
}
