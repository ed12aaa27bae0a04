//! Turning the core's state reports into (state, platform) changes.
//!
//! The core reports a change as `StateChanged(state)`, followed by
//! `PlatformState(platform)` when the platform state changed too. One
//! batch of commands may hold several reports (a late wake-up fires two
//! timers: `held`, then `connecting`); every one of them is a change the
//! application sees, in order.

use crate::command::{Command, LinkState, PlatformState};

/// Pairs the core's state reports into (state, platform) changes.
#[derive(Debug, Default)]
pub(crate) struct StateTracker {
    published: Option<(LinkState, PlatformState)>,
    /// A `StateChanged` whose `PlatformState` may still follow.
    pending: Option<LinkState>,
}

impl StateTracker {
    /// Looks at the next command; returns a change to publish *before*
    /// handling it (or, for a `PlatformState`, the change it completes).
    pub(crate) fn observe(&mut self, command: &Command) -> Option<(LinkState, PlatformState)> {
        match command {
            Command::StateChanged(state) => {
                let earlier = self.flush();
                self.pending = Some(*state);
                earlier
            }
            Command::PlatformState(platform) => {
                let state = self.pending.take().or(self.published.map(|(s, _)| s))?;
                self.set((state, *platform))
            }
            _ => self.flush(),
        }
    }

    /// The change a lone `StateChanged` made (at the end of a batch).
    pub(crate) fn flush(&mut self) -> Option<(LinkState, PlatformState)> {
        let state = self.pending.take()?;
        let (_, platform) = self.published?;
        self.set((state, platform))
    }

    fn set(&mut self, pair: (LinkState, PlatformState)) -> Option<(LinkState, PlatformState)> {
        if self.published == Some(pair) {
            return None;
        }
        self.published = Some(pair);
        Some(pair)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::StateTracker;
    use crate::command::{Command, LinkState, PlatformState};
    use crate::config::Config;
    use crate::{Input, Link};

    /// Every change the tracker publishes for one batch of commands.
    fn changes(tracker: &mut StateTracker, link: &mut Link) -> Vec<(LinkState, PlatformState)> {
        let mut out = Vec::new();
        while let Some(command) = link.poll_command() {
            out.extend(tracker.observe(&command));
        }
        out.extend(tracker.flush());
        out
    }

    #[test]
    fn a_late_wake_up_publishes_held_then_connecting() {
        let config = Config::builder("ws://127.0.0.1:9/")
            .identity("discord", "b1")
            .backoff_base(Duration::from_millis(100))
            .backoff_max(Duration::from_millis(100))
            .max_hold(Duration::from_millis(300))
            .build()
            .expect("valid");
        let t0 = Instant::now();
        let mut link = Link::new(config, 1, t0);
        let mut tracker = StateTracker::default();
        link.handle_input(Input::Start, t0);
        assert_eq!(
            changes(&mut tracker, &mut link),
            [(LinkState::Connecting, PlatformState::Connecting)]
        );
        let gen = link.generation();
        let failure = crate::DialFailure::Io {
            error: crate::IoFailure::Refused,
            message: "refused".into(),
        };
        link.handle_input(Input::DialFailed { gen, failure }, t0);
        link.handle_input(Input::HoldRedial, t0);
        assert_eq!(
            changes(&mut tracker, &mut link),
            [(LinkState::Retrying, PlatformState::Retrying)]
        );
        // The driver wakes late: the backoff and the hold's own limit are
        // both due in one `handle_timeout`.
        link.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(
            changes(&mut tracker, &mut link),
            [
                (LinkState::Held, PlatformState::Retrying),
                (LinkState::Connecting, PlatformState::Retrying),
            ]
        );
    }

    #[test]
    fn a_state_and_its_platform_state_are_one_change() {
        let mut tracker = StateTracker::default();
        let commands = [
            Command::StateChanged(LinkState::Connecting),
            Command::PlatformState(PlatformState::Connecting),
            Command::StateChanged(LinkState::Handshaken),
            Command::PlatformState(PlatformState::Connected),
            Command::StateChanged(LinkState::Closed),
        ];
        let mut out: Vec<_> = commands.iter().filter_map(|c| tracker.observe(c)).collect();
        out.extend(tracker.flush());
        assert_eq!(
            out,
            [
                (LinkState::Connecting, PlatformState::Connecting),
                (LinkState::Handshaken, PlatformState::Connected),
                (LinkState::Closed, PlatformState::Connected),
            ]
        );
    }
}
